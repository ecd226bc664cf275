/* The daemon's step spawner: vfork, set up the child, exec.
 *
 * Why not os.posix_spawn: glibc's child resets every one of the 64 signal
 * dispositions (about 120 rt_sigaction calls) while the daemon waits on
 * the vfork, and Python's binding has no way to set rlimits, so the daemon
 * then set each limit on the running step with prlimit: a window in which
 * the program ran unlimited. Here the child does only what the step needs,
 * in this order, before exec:
 *
 *   1. its own process group (the timeout kills the group and the step):
 *      setpgid, or setsid when the daemon has a controlling terminal, so
 *      that no step can open it (see spawn.py, rule 3). A session costs more than a group: each new session
 *      makes a scheduler group of its own (autogroup), set up per CPU and
 *      freed after an RCU grace period;
 *   2. joins the job's control groups (writes "0" to each cgroup.procs
 *      given, which moves the writer), so the daemon never moves itself;
 *   3. dup2 of its three fds onto 0, 1 and 2, and every other fd closed;
 *   4. chdir, when the step names a directory;
 *   5. its rlimits, soft and hard; a limit above the daemon's own hard
 *      limit is left at the daemon's, which is lower and so still a limit;
 *   6. default dispositions for the signals given (those the daemon
 *      catches, and those it ignores that a program expects to end it);
 *   7. an empty signal mask, then execve: no PATH search, no shell.
 *
 * The parent blocks every signal around vfork, so no handler of the
 * daemon's can run in the child, which shares its memory. The child only
 * makes system calls; it reports a failure through that shared memory
 * (the errno and which stage) and exits 127, and the parent reaps it and
 * raises OSError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum stage { STAGE_NONE, STAGE_GROUP, STAGE_CGROUP, STAGE_DUP2, STAGE_CHDIR, STAGE_RLIMIT, STAGE_SIGNALS, STAGE_EXEC };

static const char *const stage_names[] = {
    "", "starting its process group", "joining its control group", "setting up its fds", "chdir", "setting its limits",
    "resetting its signals", "exec",
};

struct plan {
    const char *path;
    char *const *argv;
    char *const *envp;
    int fds[3];
    int new_session;
    const char *cwd;
    Py_ssize_t n_limits;
    const int *limit_resources;
    const rlim_t *limit_values;
    Py_ssize_t n_signals;
    const int *signals;
    Py_ssize_t n_cgroups;
    const int *cgroup_fds;
    /* Written by the child through the memory it shares with the parent. */
    volatile int err;
    volatile int stage;
};

_Noreturn static void fail(struct plan *plan, int stage) {
    plan->err = errno ? errno : EINVAL;
    plan->stage = stage;
    _exit(127);
}

/* Runs in the vfork child: system calls only, no allocation, no Python. */
_Noreturn static void run_child(struct plan *plan) {
    if ((plan->new_session ? setsid() : setpgid(0, 0)) < 0)
        fail(plan, STAGE_GROUP);
    for (Py_ssize_t i = 0; i < plan->n_cgroups; i++) {
        if (write(plan->cgroup_fds[i], "0", 1) != 1)
            fail(plan, STAGE_CGROUP);
    }
    for (int target = 0; target < 3; target++) {
        if (dup2(plan->fds[target], target) < 0)
            fail(plan, STAGE_DUP2);
    }
    /* Every fd of the daemon's is close-on-exec already; this makes "fds
     * 0, 1 and 2 only" hold even for one that was not (ENOSYS: before
     * Linux 5.9, where close-on-exec alone has to do). */
    if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0 && errno != ENOSYS)
        fail(plan, STAGE_DUP2);
    if (plan->cwd != NULL && chdir(plan->cwd) < 0)
        fail(plan, STAGE_CHDIR);
    for (Py_ssize_t i = 0; i < plan->n_limits; i++) {
        struct rlimit wanted = {plan->limit_values[i], plan->limit_values[i]};
        if (setrlimit(plan->limit_resources[i], &wanted) == 0)
            continue;
        struct rlimit held;
        if ((errno != EPERM && errno != EINVAL) || getrlimit(plan->limit_resources[i], &held) < 0 ||
            held.rlim_max >= wanted.rlim_max)
            fail(plan, STAGE_RLIMIT);
    }
    struct sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    for (Py_ssize_t i = 0; i < plan->n_signals; i++) {
        if (sigaction(plan->signals[i], &default_action, NULL) < 0)
            fail(plan, STAGE_SIGNALS);
    }
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        fail(plan, STAGE_SIGNALS);
    execve(plan->path, plan->argv, plan->envp);
    fail(plan, STAGE_EXEC);
}

/* Not inlined, so that the vfork child returns into nothing of the caller's. */
static Py_NO_INLINE pid_t vfork_and_run(struct plan *plan) {
    pid_t pid = vfork();
    if (pid == 0)
        run_child(plan);
    return pid;
}

/* A NULL-terminated array of the byte strings in `seq`, pointing into them. */
static char **byte_strings(PyObject *seq, const char *what) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    char **out = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s items must be bytes", what);
            PyMem_Free(out);
            return NULL;
        }
        char *text = PyBytes_AS_STRING(item);
        if ((Py_ssize_t)strlen(text) != PyBytes_GET_SIZE(item)) {
            PyErr_Format(PyExc_ValueError, "%s item holds a NUL byte", what);
            PyMem_Free(out);
            return NULL;
        }
        out[i] = text;
    }
    return out;
}

/* The ints in `seq`, into a new array of n; -1 and an exception on error. */
static int ints(PyObject *seq, int **out) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    *out = PyMem_Calloc((size_t)n + 1, sizeof(int));
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long value = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (value == -1 && PyErr_Occurred())
            return -1;
        if (value < 0 || value > INT_MAX) {
            PyErr_SetString(PyExc_ValueError, "signal numbers and fds must be non-negative ints");
            return -1;
        }
        (*out)[i] = (int)value;
    }
    return 0;
}

PyDoc_STRVAR(spawn_doc,
             "spawn(path, argv, envp, fds, limits, cwd, default_signals, cgroup_fds, new_session) -> pid\n\n"
             "Start `path` in a process group of its own (a session of its own if new_session)\n"
             "with fds[0..2] as its stdin, stdout and stderr.\n"
             "path, argv items, envp items ('NAME=value') and cwd are bytes; limits is a\n"
             "sequence of (resource, value) pairs; default_signals the signals to reset;\n"
             "cgroup_fds open cgroup.procs files the child joins. Raises OSError if the\n"
             "child could not be set up or its program could not be executed.");

static PyObject *spawn(PyObject *module, PyObject *args) {
    (void)module;
    const char *path;
    PyObject *argv_obj, *envp_obj, *limits_obj, *cwd_obj, *signals_obj, *cgroups_obj;
    struct plan plan;
    memset(&plan, 0, sizeof plan);
    if (!PyArg_ParseTuple(args, "yOO(iii)OOOOp:spawn", &path, &argv_obj, &envp_obj, &plan.fds[0], &plan.fds[1],
                          &plan.fds[2], &limits_obj, &cwd_obj, &signals_obj, &cgroups_obj, &plan.new_session))
        return NULL;
    for (int i = 0; i < 3; i++) {
        if (plan.fds[i] < 3) {
            /* dup2 onto 0..2 in order could overwrite a source fd first. */
            PyErr_SetString(PyExc_ValueError, "the step's fds must be 3 or above");
            return NULL;
        }
    }
    plan.path = path;
    if (cwd_obj != Py_None) {
        if (!PyBytes_Check(cwd_obj)) {
            PyErr_SetString(PyExc_TypeError, "cwd must be bytes or None");
            return NULL;
        }
        plan.cwd = PyBytes_AS_STRING(cwd_obj);
        if ((Py_ssize_t)strlen(plan.cwd) != PyBytes_GET_SIZE(cwd_obj)) {
            PyErr_SetString(PyExc_ValueError, "cwd holds a NUL byte");
            return NULL;
        }
    }

    PyObject *argv_seq = NULL, *envp_seq = NULL, *limits_seq = NULL, *signals_seq = NULL, *cgroups_seq = NULL;
    char **argv = NULL, **envp = NULL;
    int *limit_resources = NULL, *signals = NULL, *cgroup_fds = NULL;
    rlim_t *limit_values = NULL;
    PyObject *result = NULL;

    /* Tuples, not the caller's lists: converting an item may run Python
     * code, and the GIL is let go during the spawn; the items (and the
     * strings the child reads) must stay put whatever else runs. */
    argv_seq = PySequence_Tuple(argv_obj);
    envp_seq = argv_seq ? PySequence_Tuple(envp_obj) : NULL;
    limits_seq = envp_seq ? PySequence_Tuple(limits_obj) : NULL;
    signals_seq = limits_seq ? PySequence_Tuple(signals_obj) : NULL;
    cgroups_seq = signals_seq ? PySequence_Tuple(cgroups_obj) : NULL;
    if (cgroups_seq == NULL)
        goto done;
    if (PySequence_Fast_GET_SIZE(argv_seq) < 1) {
        PyErr_SetString(PyExc_ValueError, "argv must not be empty");
        goto done;
    }
    if ((argv = byte_strings(argv_seq, "argv")) == NULL || (envp = byte_strings(envp_seq, "envp")) == NULL)
        goto done;
    if (ints(signals_seq, &signals) < 0 || ints(cgroups_seq, &cgroup_fds) < 0)
        goto done;
    plan.n_limits = PySequence_Fast_GET_SIZE(limits_seq);
    limit_resources = PyMem_Calloc((size_t)plan.n_limits + 1, sizeof(int));
    limit_values = PyMem_Calloc((size_t)plan.n_limits + 1, sizeof(rlim_t));
    if (limit_resources == NULL || limit_values == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < plan.n_limits; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(limits_seq, i);
        long long value;
        if (!PyTuple_Check(pair)) {
            PyErr_SetString(PyExc_TypeError, "limits must be (resource, value) tuples");
            goto done;
        }
        if (!PyArg_ParseTuple(pair, "iL:limit", &limit_resources[i], &value))
            goto done;
        if (value < -1) {
            PyErr_SetString(PyExc_ValueError, "a limit must be -1 (unlimited) or more");
            goto done;
        }
        limit_values[i] = value == -1 ? RLIM_INFINITY : (rlim_t)value;
    }
    plan.argv = argv;
    plan.envp = envp;
    plan.limit_resources = limit_resources;
    plan.limit_values = limit_values;
    plan.n_signals = PySequence_Fast_GET_SIZE(signals_seq);
    plan.signals = signals;
    plan.n_cgroups = PySequence_Fast_GET_SIZE(cgroups_seq);
    plan.cgroup_fds = cgroup_fds;

    pid_t pid;
    int saved_errno = 0;
    sigset_t all, old;
    sigfillset(&all);
    Py_BEGIN_ALLOW_THREADS
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = vfork_and_run(&plan);
    saved_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid > 0 && plan.err != 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    Py_END_ALLOW_THREADS
    if (pid < 0) {
        errno = saved_errno;
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    if (plan.err != 0) {
        /* OSError(errno, "strerror (stage)", path): the subclass follows errno. */
        PyObject *message = PyUnicode_FromFormat("%s (%s)", strerror(plan.err),
                                                 stage_names[plan.stage < STAGE_EXEC + 1 ? plan.stage : 0]);
        if (message != NULL) {
            PyObject *exc_args = Py_BuildValue("(iNN)", plan.err, message, PyUnicode_DecodeFSDefault(path));
            if (exc_args != NULL) {
                PyErr_SetObject(PyExc_OSError, exc_args);
                Py_DECREF(exc_args);
            }
        }
        goto done;
    }
    result = PyLong_FromLong((long)pid);

done:
    PyMem_Free(argv);
    PyMem_Free(envp);
    PyMem_Free(limit_resources);
    PyMem_Free(limit_values);
    PyMem_Free(signals);
    PyMem_Free(cgroup_fds);
    Py_XDECREF(argv_seq);
    Py_XDECREF(envp_seq);
    Py_XDECREF(limits_seq);
    Py_XDECREF(signals_seq);
    Py_XDECREF(cgroups_seq);
    return result;
}

static PyMethodDef methods[] = {
    {"spawn", spawn, METH_VARARGS, spawn_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "sysside._spawn",
    .m_doc = "The daemon's step spawner (see spawn.py).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__spawn(void) { return PyModule_Create(&module_def); }
