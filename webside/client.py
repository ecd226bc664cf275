"""The hole client: submit one job through the spool and read its result.

Rules:
1. The result FIFO is opened for reading before the request line is sent,
   so the daemon's non-blocking open for writing finds a reader.
2. The request line goes out in one write() of at most PIPE_BUF bytes.
3. Closing a job before its status arrives closes the read end; the daemon
   sees that, kills the job and records it as interrupted.
4. Whatever happens, the job's directory is removed when the job is closed.

The web side and `hole submit` both use this module; it never imports the
sys side.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import select
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

from hole import (
    Data,
    Meta,
    ProtocolError,
    Request,
    ResultDecoder,
    Status,
    StatusRecord,
    encode_input,
    encode_request,
)
from hole.spool import DAEMON_FIFO, INPUT_FILE, JOBS_DIR, RESULT_FIFO

READ_SIZE = 256 * 1024
# The first read of a job is smaller: most results fit, and a buffer under
# malloc's mmap threshold costs no mmap, mremap and munmap per read.
FIRST_READ_SIZE = 64 * 1024


class SubmitError(Exception):
    """The hole could not carry the job; the message says why, in words."""


class DaemonUnavailable(SubmitError):
    """Nobody is listening on the daemon FIFO: the sys side is not running."""


class Job:
    """One submitted job: iterate over chunks(), then read status.

    Use it as a context manager, or call close(): an unfinished job is then
    cancelled on the sys side.
    """

    def __init__(self, job_dir: str, fd: int, timeout: float) -> None:
        self._job_dir = job_dir
        self._fd: int | None = fd
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self._decoder = ResultDecoder()
        self.meta: Meta | None = None
        self.status: StatusRecord | None = None
        self.bytes_received = 0
        self._read_size = FIRST_READ_SIZE
        # Body bytes read while waiting for the meta record (none, in a
        # well-behaved stream, but a reader must not drop them).
        self._pending: list[bytes] = []

    def __enter__(self) -> Job:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def wait_meta(self) -> Meta | None:
        """Wait until the job is accepted (its meta) or ended (its status).

        Returns the meta record, or None when the job ended before it was
        accepted (busy, unknown job, rejected...); `status` then says why.
        """
        while self.meta is None and self.status is None:
            event = self._next_event()
            if isinstance(event, Data):
                self._pending.append(event.data)
        return self.meta

    def chunks(self) -> Iterator[bytes]:
        """Yield the job's output as it arrives; set `status` at the end."""
        while self._pending:
            yield self._pending.pop(0)
        while self.status is None:
            event = self._next_event()
            if isinstance(event, Data):
                yield event.data

    def read_chunk(self, idle: float) -> bytes | None:
        """The next piece of output; b"" after `idle` quiet seconds; None at the end.

        For a caller that streams to a browser and must wake up now and then
        (to see whether its own client has gone) without busy-waiting.
        """
        if self._pending:
            return self._pending.pop(0)
        while self.status is None:
            event = self._next_event(idle)
            if event is None:
                return b""
            if isinstance(event, Data):
                return event.data
        return None

    def _next_event(self, idle: float | None = None) -> Meta | Data | StatusRecord | None:
        """The next event, or None after `idle` seconds without one.

        Sets meta and status as they come.
        """
        try:
            event = self._read_event(idle)
        except ProtocolError as exc:
            event = StatusRecord(Status.INTERNAL_ERROR, f"garbled result stream: {exc}")
        if event is None:
            return None
        if isinstance(event, Meta):
            self.meta = event
        elif isinstance(event, Data):
            self.bytes_received += len(event.data)
        else:
            self.status = event
            self.close()
        return event

    def _read_event(self, idle: float | None) -> Meta | Data | StatusRecord | None:
        fd = self._fd
        if fd is None:
            return StatusRecord(Status.INTERRUPTED, "the job was closed")
        while True:
            event = self._decoder.next_event()
            if event is not None:
                return event
            left = self._deadline - time.monotonic()
            if left <= 0:
                return StatusRecord(
                    Status.TIMEOUT,
                    f"no answer from the daemon within {self._timeout:g} seconds",
                    {"seconds": self._timeout},
                )
            wait = left if idle is None else min(left, idle)
            if not self._poller.poll(wait * 1000):
                if idle is not None and wait < left:
                    return None
                continue
            try:
                raw = os.read(fd, self._read_size)
            except BlockingIOError:
                continue
            if len(raw) == self._read_size:
                self._read_size = READ_SIZE
            if not raw:
                return StatusRecord(Status.INTERRUPTED, "the daemon closed the result stream before the job ended")
            self._decoder.feed(raw)

    def read_all(self) -> bytes:
        """The whole output at once: only for small results and tests."""
        return b"".join(self.chunks())

    def close(self) -> None:
        """Stop reading (which cancels an unfinished job) and clean up."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            _remove_job_dir(self._job_dir)


class HoleClient:
    """Submits jobs through one spool directory; safe to share between threads.

    The daemon FIFO is opened once and kept: a web worker then pays one
    write per job for the request, not an open, a check and a close.
    """

    def __init__(self, spool: str | os.PathLike[str], timeout: float = 300.0) -> None:
        self.spool = Path(spool)
        self.timeout = timeout
        self._jobs_dir = os.path.join(os.fspath(spool), JOBS_DIR)
        self._daemon_fifo = os.path.join(os.fspath(spool), DAEMON_FIFO)
        self._daemon_fd = -1
        self._lock = threading.Lock()
        # Group bits let the daemon (in the web side's group) read the input
        # and write the result. They are set explicitly only when this
        # process's umask would take them away.
        self._fix_modes = bool(_current_umask() & 0o060)

    def submit(self, job: str, fields: Mapping[str, str]) -> Job:
        """Start a job; raise SubmitError if it could not be handed over."""
        job_id = secrets.token_hex(16)
        request_line = encode_request(Request(job=job, job_id=job_id))
        input_bytes = encode_input(fields)
        job_dir = os.path.join(self._jobs_dir, job_id)
        try:
            os.mkdir(job_dir, 0o770)
        except FileNotFoundError:
            raise SubmitError(f"spool {self.spool} has no {JOBS_DIR}/ directory; is it set up?") from None
        except OSError as exc:
            raise SubmitError(f"cannot create job directory in {self.spool}: {exc.strerror}") from None
        fd = -1
        try:
            result_path = os.path.join(job_dir, RESULT_FIFO)
            _write_new_file(os.path.join(job_dir, INPUT_FILE), input_bytes, self._fix_modes)
            os.mkfifo(result_path, 0o620)
            if self._fix_modes:
                os.chmod(job_dir, 0o770)  # noqa: S103 (group only: the daemon's)
                os.chmod(result_path, 0o620)
            fd = os.open(result_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            self._send_request(request_line)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            _remove_job_dir(job_dir)
            raise
        return Job(job_dir, fd, self.timeout)

    def run(self, job: str, fields: Mapping[str, str]) -> tuple[bytes, StatusRecord]:
        """Submit, wait and return the whole output and the status."""
        with self.submit(job, fields) as running:
            output = running.read_all()
            assert running.status is not None
            return output, running.status

    def __del__(self) -> None:
        # A guard, not the way to close: a dropped client must not leak its fd.
        with contextlib.suppress(Exception):
            if self._daemon_fd >= 0:
                os.close(self._daemon_fd)

    def close(self) -> None:
        """Let go of the daemon FIFO (a later submit opens it again)."""
        with self._lock:
            if self._daemon_fd >= 0:
                os.close(self._daemon_fd)
                self._daemon_fd = -1

    def _send_request(self, request_line: bytes) -> None:
        # One retry: a kept fd whose daemon has gone (EPIPE) is reopened
        # once, in case a new daemon listens on the FIFO now.
        for attempt in (1, 2):
            fd = self._daemon_writer()
            try:
                written = os.write(fd, request_line)
            except BlockingIOError:
                raise SubmitError("the job daemon's queue is full; try again in a moment") from None
            except BrokenPipeError:
                self._drop_writer(fd)
                if attempt == 2:
                    raise DaemonUnavailable("the job daemon is not running (it stopped)") from None
                continue
            if written != len(request_line):
                # Cannot happen for writes of at most PIPE_BUF bytes; if it
                # did, the daemon would see half a line, so say so.
                raise SubmitError("the request line was cut short")
            return

    def _daemon_writer(self) -> int:
        with self._lock:
            if self._daemon_fd >= 0:
                return self._daemon_fd
            path = self._daemon_fifo
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError as exc:
                if exc.errno in (errno.ENXIO, errno.ENOENT):
                    raise DaemonUnavailable(f"the job daemon is not running (nothing listens on {path})") from None
                raise SubmitError(f"cannot open {path}: {exc.strerror}") from None
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.close(fd)
                raise SubmitError(f"{path} is not a FIFO")
            self._daemon_fd = fd
            return fd

    def _drop_writer(self, fd: int) -> None:
        with self._lock:
            if self._daemon_fd == fd:
                os.close(fd)
                self._daemon_fd = -1


def _current_umask() -> int:
    """This process's umask, read without changing it (Linux 4.7+)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    # Without /proc (an unusual jail), assume the strictest and fix modes.
    return 0o077


def _write_new_file(path: str, data: bytes, fix_mode: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    try:
        if fix_mode:
            os.fchmod(fd, 0o640)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _remove_job_dir(job_dir: str) -> None:
    for name in (INPUT_FILE, RESULT_FIFO):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(job_dir, name))
    # A stray file means something else wrote here; the daemon's sweep of
    # stale job directories reports and removes it.
    with contextlib.suppress(OSError):
        os.rmdir(job_dir)
