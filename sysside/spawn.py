"""Starting one step: a program, its three fds, its environment and limits.

Rules:
1. Never a shell, never a PATH search: the program is a path from the map.
2. The step gets only fds 0, 1 and 2 (every other fd of the daemon is
   close-on-exec, and the C spawner closes the rest too), a process group
   of its own (the timeout kills it and the step itself: a step may move
   to another group of the daemon's session, and its children may leave
   too, which only the job's control group then catches), default
   dispositions for the signals the daemon catches or ignores, an empty
   signal mask, and the daemon's umask (077).
3. A step never has a controlling terminal to open. A daemon started as a
   service has none, and its steps stay in its session with a group of
   their own; a daemon run in a terminal (or one that cannot tell) gives
   each step a session of its own instead, which has none. Only a new
   session costs more: the kernel makes a scheduler group for each
   (autogroup), set up per CPU, freed after an RCU grace period, and
   scheduled as a peer of the web side's whole session.
4. A vfork-class spawn, never fork: forking the daemon would cost time that
   grows with the daemon's size.
5. The step's limits and control groups are in force before its program
   runs its first instruction.

Two spawners keep these rules. The daemon's own (sysside/_spawn.c, built
at install when a C compiler is there) sets the limits and joins the
groups in the vfork child itself. Without it, os.posix_spawn starts the
step (subprocess.Popen when the step has a cwd, which posix_spawn cannot
set here), the daemon moves itself into the job's groups around the spawn
(a child is born in its parent's groups), and sets the limits with prlimit
on the new pid: the program then runs unlimited for the moment between its
exec and those calls. The daemon's start line says which spawner it has.

One difference: a step the C spawner starts joins its group by moving,
which pids.max does not check, so a step is started even into a group
already full (of what an earlier step left, not yet killed); every fork
the step itself makes is checked. The posix_spawn path forks in the group
and is refused.
"""

import os
import resource
import signal
from collections.abc import Mapping, Sequence
from typing import Protocol

from sysside.cgroups import Group
from sysside.jobmap import Limits


class _NativeSpawner(Protocol):
    def spawn(
        self,
        path: bytes,
        argv: Sequence[bytes],
        envp: Sequence[bytes],
        fds: tuple[int, int, int],
        limits: Sequence[tuple[int, int]],
        cwd: bytes | None,
        default_signals: Sequence[int],
        cgroup_fds: Sequence[int],
        new_session: bool,
    ) -> int: ...


def _load_native() -> _NativeSpawner | None:
    try:
        from sysside import _spawn  # type: ignore[attr-defined]  # noqa: PLC0415 (optional, built at install)
    except ImportError:
        return None
    native: _NativeSpawner = _spawn
    return native


_native = _load_native()

# Python ignores these; an ignored signal stays ignored across exec, and a
# program that expects SIGPIPE to end it (`yes | head`) would then spin.
_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# The signals to set back to their default in the vfork child: every one
# this process catches or ignores, as the kernel has them (a handler set
# outside Python, faulthandler's say, counts too), plus _RESET_SIGNALS. A
# handler of the daemon's must never run in the child, which shares its
# memory, and a step must not start with a signal ignored. Read once, and
# again after note_signal_handlers().
_default_signals: list[int] | None = None
# Whether steps get sessions of their own (rule 3); read once.
_in_terminal: bool | None = None
_LARGEST_LIMIT = 2**63 - 1


def spawner_name() -> str:
    """Which spawner starts the steps, for the daemon's start line and the bench."""
    return "vfork (sysside._spawn)" if _native is not None else "posix_spawn + prlimit"


def note_signal_handlers() -> None:
    """Call after installing or removing signal handlers: the next spawn resets the new set."""
    global _default_signals  # noqa: PLW0603 (a cache of process-wide state)
    _default_signals = None


def _signals_to_reset() -> list[int]:
    global _default_signals  # noqa: PLW0603
    if _default_signals is None:
        _default_signals = sorted(_not_default() | set(_RESET_SIGNALS))
    return _default_signals


def steps_get_sessions() -> bool:
    """True when each step is given a session of its own (rule 3): this
    process has a controlling terminal, or that cannot be told."""
    global _in_terminal  # noqa: PLW0603 (a cache of process-wide state)
    if _in_terminal is None:
        _in_terminal = _controlling_terminal() != 0
    return _in_terminal


def _controlling_terminal() -> int | None:
    """This process's controlling terminal (tty_nr of /proc/self/stat, 0 for
    none); None when /proc cannot say, which counts as having one.

    Read rather than probed by opening /dev/tty: nothing to block on (a
    serial line without carrier), and no error to mistake for "none".
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        # After the name: state, ppid, pgrp, session, tty_nr.
        return int(fields[4])
    except (OSError, IndexError, ValueError):
        return None


def _not_default() -> set[int]:
    """The signals this process catches or ignores, from /proc/self/status (SigCgt, SigIgn)."""
    mask = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("SigCgt:", "SigIgn:")):
                mask |= int(line.split()[1], 16)
    valid = signal.valid_signals()
    return {number for number in range(1, mask.bit_length() + 1) if mask >> (number - 1) & 1 and number in valid}


def rlimits(limits: Limits) -> list[tuple[int, int]]:
    """(resource, value) pairs for the limits that are set."""
    pairs = []
    if limits.cpu is not None:
        pairs.append((resource.RLIMIT_CPU, max(1, int(limits.cpu + 0.999))))
    if limits.memory is not None:
        pairs.append((resource.RLIMIT_AS, limits.memory))
    if limits.open_files is not None:
        pairs.append((resource.RLIMIT_NOFILE, limits.open_files))
    if limits.processes is not None:
        pairs.append((resource.RLIMIT_NPROC, limits.processes))
    if limits.file_size is not None:
        pairs.append((resource.RLIMIT_FSIZE, limits.file_size))
    # No RLIMIT_CORE here: the daemon sets its own to 0, and steps inherit it.
    # A limit past what the kernel can count is no limit (RLIM_INFINITY).
    return [(which, resource.RLIM_INFINITY if value > _LARGEST_LIMIT else value) for which, value in pairs]


def spawn_step(
    program: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    fds: tuple[int, int, int],
    limits: Sequence[tuple[int, int]],
    cwd: str | None = None,
    groups: tuple[Group, Group] | None = None,
) -> int:
    """Start the step and return its pid; raise OSError if it cannot start.

    `groups` is the job's control group and the daemon's own, to go back to.
    """
    if _native is not None and min(fds) > 2:
        return _native.spawn(
            os.fsencode(program),
            [os.fsencode(arg) for arg in argv],
            [os.fsencode(f"{name}={value}") for name, value in env.items()],
            fds,
            limits,
            None if cwd is None else os.fsencode(cwd),
            _signals_to_reset(),
            groups[0].procs_fds() if groups is not None else (),
            steps_get_sessions(),
        )
    if groups is None:
        pid = _posix_spawn(program, argv, env, fds, cwd)
    else:
        job_group, home_group = groups
        job_group.add(os.getpid())
        try:
            pid = _posix_spawn(program, argv, env, fds, cwd)
        finally:
            home_group.add(os.getpid())
    for which, value in limits:
        try:
            resource.prlimit(pid, which, (value, value))
        except (ValueError, PermissionError):
            hard = resource.getrlimit(which)[1]
            if hard != resource.RLIM_INFINITY and value > hard:
                # More than the daemon's own hard limit, which the step
                # inherited: that one is lower, and so still a limit.
                continue
            # Already exec'd something setuid: the reap will say how it ended.
            break
        except ProcessLookupError:
            break
    return pid


def _posix_spawn(
    program: str, argv: Sequence[str], env: Mapping[str, str], fds: tuple[int, int, int], cwd: str | None
) -> int:
    stdin_fd, stdout_fd, stderr_fd = fds
    if cwd is None:
        file_actions = [
            (os.POSIX_SPAWN_DUP2, stdin_fd, 0),
            (os.POSIX_SPAWN_DUP2, stdout_fd, 1),
            (os.POSIX_SPAWN_DUP2, stderr_fd, 2),
        ]
        signals = _signals_to_reset()
        # setpgroup takes a pgid or nothing (not None), and not with setsid.
        if steps_get_sessions():
            return os.posix_spawn(
                program, list(argv), dict(env), file_actions=file_actions, setsid=True, setsigdef=signals, setsigmask=()
            )
        return os.posix_spawn(
            program, list(argv), dict(env), file_actions=file_actions, setpgroup=0, setsigdef=signals, setsigmask=()
        )
    # posix_spawn has no chdir action in Python's binding; Popen without
    # preexec_fn still takes the vfork path. Imported here: the module is
    # large, and the daemon's size is part of every spawn's cost.
    import subprocess  # noqa: PLC0415

    child = subprocess.Popen(
        list(argv),
        executable=program,
        stdin=stdin_fd,
        stdout=stdout_fd,
        stderr=stderr_fd,
        env=dict(env),
        cwd=cwd,
        close_fds=True,
        start_new_session=steps_get_sessions(),
        process_group=None if steps_get_sessions() else 0,
        restore_signals=True,
    )
    # The daemon reaps its steps itself; Popen must not try to later.
    child.returncode = 0
    return child.pid
