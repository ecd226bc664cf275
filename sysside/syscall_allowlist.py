"""The system calls the jailed web side may make: the seccomp allow list, as data.

Derived from tracing the jailed service under real traffic (every page,
report runs, downloads, refusals, a cancelled stream, bad requests,
gunicorn's SIGHUP, TTIN, TTOU, a killed worker and SIGTERM): run
`python -m tests.jail.syscall_trace` as root to trace it again and see
what differs. tests/jail/test_syscalls.py fails when the traced web side
makes a call this module does not name.

Rules:
1. ALLOWED holds what the trace shows, grouped by what needs it. A call
   joins it only after a trace shows it, with the group's comment saying why.
2. VARIANTS holds calls the trace does not show but another glibc, CPython
   or machine makes for the same thing (the *at twin of a call, the clock
   when the vDSO cannot answer). Each one is no more powerful than a call
   already in ALLOWED.
3. REFUSED_QUIETLY holds calls the web side makes and the filter refuses
   on purpose, with what the caller does instead; the trace test checks
   that they fail as the caller expects.
4. Some allowed calls are judged by their arguments too (ARGUMENT_CHECKED):
   the filter in sysside/seccomp.py gives each its conditions.
5. Nothing here may name a call of seccomp.DENIED: the filter builder refuses
   such a list.
"""

ALLOWED: dict[str, tuple[str, ...]] = {
    # The launcher's exec of the jail's Python (the filter is already on),
    # then the loader and libc starting it: TLS, the robust-futex and rseq
    # areas, the stack limit, /etc/ld.so.preload, the ELF notes of the
    # libraries, sys.executable's link, the hash seed.
    "process start": (
        "execve", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "access",
        "pread64", "readlink", "getrandom", "uname", "sysinfo",
    ),
    # malloc and the loader's mappings; mremap and madvise when big
    # buffers (a report's output) grow and are given back.
    "memory": ("brk", "mmap", "mprotect", "munmap", "mremap", "madvise"),
    # Imports, templates, translations and static files: open, read,
    # stat and list; isatty (TCGETS) on every open(); gunicorn's chdir and
    # umask at start.
    "reading files": (
        "openat", "close", "read", "write", "lseek", "newfstatat", "getdents64", "fcntl", "ioctl",
        "getcwd", "chdir", "umask",
    ),
    # The hole client in the spool: jobs/<id>/, its input file made
    # readable by the daemon's group, the result FIFO (mknodat, FIFOs
    # only), and their removal. gunicorn's heartbeat is a utime of a file
    # in /tmp, which the arbiter removes when the worker ends.
    "the spool and tmp": ("mkdir", "rmdir", "unlink", "chmod", "fchmod", "mknodat", "utimensat"),
    # HTTP on the inherited listening socket: accept, receive, send,
    # sendfile for static files, shutdown; the arbiter checks the socket
    # once (getsockname, getpeername, getsockopt, setsockopt).
    "the listening socket": (
        "accept4", "recvfrom", "sendto", "sendfile", "shutdown", "getsockname", "getpeername",
        "getsockopt", "setsockopt",
    ),
    # Waiting: gthread's selector, socket timeouts, the hole client's
    # wait on the result FIFO and the pipes that wake them up.
    "waiting": ("epoll_create1", "epoll_ctl", "epoll_wait", "poll", "pipe2", "futex", "clock_nanosleep"),
    # gunicorn's arbiter forks and signals its workers and reaps them
    # (clone, namespace flags refused); a gthread worker runs a thread pool
    # (clone with CLONE_THREAD; glibc tries clone3 first, refused below).
    "processes and threads": (
        "clone", "wait4", "kill", "exit", "exit_group", "getpid", "getppid", "gettid",
    ),
    "signals": ("rt_sigaction", "rt_sigprocmask", "rt_sigreturn"),
    # gunicorn compares the ids it runs as with its settings.
    "ids": ("getuid", "geteuid", "getgid", "getegid"),
}  # fmt: skip

VARIANTS: dict[str, tuple[str, ...]] = {
    # The same call by another name: an older glibc's stat family, a newer
    # one's statx and *at forms, faccessat2 for access with flags.
    "same call, other name": (
        "fstat", "stat", "lstat", "statx", "faccessat", "faccessat2", "mkdirat", "unlinkat", "fchmodat",
        "readlinkat", "nanosleep", "mknod",
    ),
    # The vDSO answers these without a system call, except on a machine
    # whose clock source it cannot read (some virtual machines).
    "the clock without the vDSO": ("clock_gettime", "clock_getres", "gettimeofday", "time", "getcpu"),
    # The kernel resumes a sleep, poll or futex wait that a stop and
    # continue interrupted (SIGSTOP, a freezer) through this call; refused,
    # glibc takes the futex's error as fatal and aborts the worker.
    "resuming an interrupted wait": ("restart_syscall",),
}  # fmt: skip

REFUSED_QUIETLY: dict[str, tuple[str, str]] = {
    # name: (the errno the filter answers, what the caller does then)
    "clone3": ("ENOSYS", "glibc starts the thread or process with clone, whose flags the filter can read"),
    "socket": ("ENOSYS", "glibc asks nscd for gunicorn's user name first; it then reads the jail's etc/passwd"),
}

# ioctl requests allowed, by name (the names strace prints) and number: a
# file's isatty, the terminal size, blocking mode and close-on-exec (FIOCLEX
# is FIONCLEX's twin, which CPython uses to clear the flag). Every other
# request (the terminal's TIOCSTI among them) is refused.
IOCTL_REQUESTS: dict[str, int] = {
    "TCGETS": 0x5401,
    "TIOCGWINSZ": 0x5413,
    "FIONBIO": 0x5421,
    "FIONCLEX": 0x5450,
    "FIOCLEX": 0x5451,
}

# Allowed only with some arguments; the conditions are in sysside/seccomp.py.
ARGUMENT_CHECKED: dict[str, str] = {
    "ioctl": "only the requests of IOCTL_REQUESTS",
    "clone": "no namespace flag",
    "mknodat": "FIFOs only",
    "mknod": "FIFOs only",
}


def allowed_names() -> set[str]:
    """Every call name the filter allows (ALLOWED and VARIANTS)."""
    return {name for group in (*ALLOWED.values(), *VARIANTS.values()) for name in group}
