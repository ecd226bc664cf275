"""Opening files the jail controls, without following, blocking or trusting.

Rules:
1. Every open is relative to a directory fd, with O_NOFOLLOW and
   O_NONBLOCK: a symlink planted by the web side fails the open, and a
   FIFO planted where a file should be never blocks the daemon.
2. The fd is checked, not the path: fstat gives the type, owner, links and
   size of what was actually opened.
3. A regular file is read only up to its limit: an oversize one is refused
   from its size, unread.
"""

import errno
import os
import stat

from hole.spool import INPUT_FILE, RESULT_FIFO
from sysside import DaemonError

_OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


class SpoolError(DaemonError):
    """A spool file that is missing, of the wrong kind, or not the web side's."""


class NoReader(SpoolError):
    """The result FIFO has no reader: the client is not (or no longer) waiting."""


def open_job_dir(jobs_fd: int, job_id: str, owner: int) -> int:
    """Open jobs/<job_id> as a directory fd, checking it is the web side's."""
    try:
        fd = os.open(job_id, os.O_RDONLY | os.O_DIRECTORY | _OPEN_FLAGS, dir_fd=jobs_fd)
    except OSError as exc:
        raise SpoolError(f"job directory {job_id}: {exc.strerror}") from None
    info = os.fstat(fd)
    if info.st_uid != owner:
        os.close(fd)
        raise SpoolError(f"job directory {job_id} is owned by uid {info.st_uid}, not {owner}")
    return fd


def read_input(dir_fd: int, owner: int, max_size: int) -> bytes:
    """The job's input file, whole; refused if not a plain file of the web side's."""
    try:
        fd = os.open(INPUT_FILE, os.O_RDONLY | _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SpoolError("input is a symbolic link") from None
        raise SpoolError(f"input: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        _check(info, "input", owner, stat.S_ISREG, "a regular file")
        if info.st_nlink != 1:
            raise SpoolError(f"input has {info.st_nlink} hard links")
        if info.st_size > max_size:
            raise SpoolError(f"input is {info.st_size} bytes, over the limit of {max_size}")
        chunks: list[bytes] = []
        remaining = max_size + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 64 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining <= 0:
            raise SpoolError(f"input grew past the limit of {max_size} bytes while read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def open_result(dir_fd: int, owner: int) -> int:
    """The write end of the job's result FIFO, non-blocking; NoReader if nobody reads."""
    try:
        info = os.stat(RESULT_FIFO, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        raise SpoolError(f"result: {exc.strerror}") from None
    # Checked before the open too: opening a planted device or regular file
    # for writing is already an effect, even if nothing is then written.
    _check(info, "result", owner, stat.S_ISFIFO, "a FIFO")
    try:
        fd = os.open(RESULT_FIFO, os.O_WRONLY | _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise NoReader("nobody is reading the result FIFO") from None
        raise SpoolError(f"result: {exc.strerror}") from None
    try:
        _check(os.fstat(fd), "result", owner, stat.S_ISFIFO, "a FIFO")
    except SpoolError:
        os.close(fd)
        raise
    return fd


def _check(info: os.stat_result, name: str, owner: int, is_kind: object, kind: str) -> None:
    assert callable(is_kind)
    if not is_kind(info.st_mode):
        raise SpoolError(f"{name} is not {kind}")
    if info.st_uid != owner:
        raise SpoolError(f"{name} is owned by uid {info.st_uid}, not {owner}")
