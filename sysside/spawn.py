"""Starting one step: a program, its three fds, its environment and limits.

Rules:
1. Never a shell, never a PATH search: the program is a path from the map.
2. The step gets only fds 0, 1 and 2 (every other fd of the daemon is
   close-on-exec), a fresh session (its own process group, so a timeout
   can kill the step and all its children), default signal dispositions,
   and the daemon's umask (077).
3. posix_spawn (a vfork-class spawn) is used rather than fork: forking
   the daemon would cost time that grows with the daemon's size. Limits are
   then set with prlimit on the new pid before the daemon goes back to its
   loop; see docs for the short window this leaves.
"""

import os
import resource
import signal
from collections.abc import Mapping, Sequence

from sysside.jobmap import Limits

# Python ignores these; an ignored signal stays ignored across exec, and a
# program that expects SIGPIPE to end it (`yes | head`) would then spin.
_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


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
    return pairs


def spawn_step(
    program: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    fds: tuple[int, int, int],
    limits: Sequence[tuple[int, int]],
    cwd: str | None = None,
) -> int:
    """Start the step and return its pid; raise OSError if it cannot start."""
    stdin_fd, stdout_fd, stderr_fd = fds
    if cwd is None:
        pid = os.posix_spawn(
            program,
            list(argv),
            dict(env),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, stdin_fd, 0),
                (os.POSIX_SPAWN_DUP2, stdout_fd, 1),
                (os.POSIX_SPAWN_DUP2, stderr_fd, 2),
            ],
            setsid=True,
            setsigdef=_RESET_SIGNALS,
            setsigmask=(),
        )
    else:
        # posix_spawn has no chdir action in Python's binding; Popen without
        # preexec_fn still takes the vfork path. Imported here: the module
        # is large, and the daemon's size is part of every spawn's cost.
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
            start_new_session=True,
            restore_signals=True,
        )
        pid = child.pid
        # The daemon reaps its steps itself; Popen must not try to later.
        child.returncode = 0
    for which, value in limits:
        try:
            resource.prlimit(pid, which, (value, value))
        except (ProcessLookupError, PermissionError):
            # Already gone, or already exec'd something setuid: either way
            # the reap will say how it ended.
            break
        except ValueError:
            # Asking for more than the daemon's own hard limit: keep the
            # daemon's, which is lower and so still a limit.
            continue
    return pid
