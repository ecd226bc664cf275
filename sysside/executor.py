"""One accepted job, run step by step from the daemon's event loop.

Rules:
1. Steps run in order; the first that exits non-zero or dies of a signal
   ends the job (shell `&&`), and the status names it.
2. Only the last step's stdout is the result. It is forwarded as it comes,
   framed, and reading stops while the client is slow (back-pressure), so
   the daemon holds at most HIGH_WATER bytes of a job's output.
3. Every kill is of the step's whole process group, and happens before the
   step is reaped, so the group id cannot have been reused.
4. A job is done when its status is written (or its client is gone) and its
   last process is reaped; only then is it audited and its slot freed.
"""

import contextlib
import functools
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hole.errors import ProtocolError
from hole.framing import encode_chunk_header, encode_meta, encode_status
from hole.limits import MAX_CHUNK
from hole.meta import FILENAME_RE, Meta
from hole.status import Status, StatusRecord
from sysside.audit import Log
from sysside.cgroups import Group
from sysside.eventloop import ERROR, READ, WRITE, EventLoop, Timer
from sysside.jobmap import ISOLATE_FLAGS, UNSHARE, JobSpec
from sysside.spawn import rlimits, spawn_step

READ_SIZE = 256 * 1024
HIGH_WATER = 1024 * 1024
# Reads of an exited step's pipe before the loop takes over again.
TO_END_READS = 8
# A step's pipes are only watched once it has run this long: most steps end
# sooner, and their few bytes are then read once at exit, saving the daemon
# a wake-up or two per step. A chatty step blocks on a full pipe for at
# most this long before it is drained.
PIPES_DELAY = 0.005
# The result FIFO is written only after this long (or at the job's end), so
# a short job's meta record, output and status reach the client in one
# write and one wake-up. Streaming starts no later than this.
CORK_DELAY = 0.02
# How long a finished job waits for a slow client to take its last bytes.
LINGER = 30.0


@dataclass(slots=True)
class StepRecord:
    """How one step went, for the audit record."""

    number: int
    program: str
    started: float
    exit: int | None = None
    signal: int | None = None
    ms: float = 0.0
    diagnostics: bytearray = field(default_factory=bytearray)
    diagnostic_bytes: int = 0

    def as_audit(self) -> dict[str, Any]:
        record: dict[str, Any] = {"step": self.number, "program": self.program, "ms": round(self.ms, 3)}
        if self.signal is not None:
            record["signal"] = self.signal
        else:
            record["exit"] = self.exit
        if self.diagnostic_bytes:
            record["stderr"] = self.diagnostics.decode("utf-8", "replace")
            if self.diagnostic_bytes > len(self.diagnostics):
                record["stderr_bytes"] = self.diagnostic_bytes
        return record


@dataclass(slots=True)
class _Prepared:
    """A step ready to spawn: its argv, env, and the pipes it will get."""

    index: int
    argv: list[str]
    env: dict[str, str]
    stdin_read: int
    stdin_write: int = -1
    stdin_rest: memoryview = field(default_factory=lambda: memoryview(b""))
    diag_read: int = -1
    diag_write: int = -1
    out_read: int = -1
    out_write: int = -1

    def close_child_ends(self, devnull: int) -> None:
        """Close the ends the step got (it has its own copies now)."""
        for fd in {self.stdin_read, self.diag_write, self.out_write} - {devnull, -1}:
            os.close(fd)

    def close(self, devnull: int) -> None:
        """Close every pipe of a step that will not run."""
        self.close_child_ends(devnull)
        for fd in (self.stdin_write, self.diag_read, self.out_read):
            if fd >= 0:
                os.close(fd)


@dataclass(slots=True)
class _Running:
    """The fds and pid of the step that is running now."""

    pid: int
    pidfd: int
    record: StepRecord
    stdin_fd: int | None = None
    stdin_data: memoryview | None = None
    output_fd: int | None = None
    diagnostic_fd: int | None = None
    diagnostic_timer: Timer | None = None
    output_watched: bool = False


class JobRun:
    """Runs one job's steps and streams its result through its FIFO."""

    def __init__(
        self,
        loop: EventLoop,
        log: Log,
        spec: JobSpec,
        job_id: str,
        values: dict[str, str],
        result_fd: int,
        capture_limit: int,
        devnull: int,
        on_done: Callable[["JobRun"], None],
        cgroup: tuple[Group, Group] | None = None,
    ) -> None:
        self.loop = loop
        self.log = log
        self.spec = spec
        self.job_id = job_id
        self.values = values
        self.capture_limit = capture_limit
        self.devnull = devnull
        self.on_done = on_done
        # The job's own control group and the daemon's, if the daemon has
        # them. The daemon steps into the job's group to spawn, so each step
        # starts inside it (a step moved in after it starts could fork out
        # first); a kill empties the group, escaped children too.
        self.cgroup = cgroup[0] if cgroup else None
        self._groups = cgroup
        self.started = time.monotonic()
        self.steps: list[StepRecord] = []
        self.outcome: StatusRecord | None = None
        self.bytes_out = 0
        self._result_fd: int | None = result_fd
        self._pending = bytearray()
        self._corked = True
        self._cork_timer: Timer | None = None
        self._awaiting_writable = False
        self._running: _Running | None = None
        # The pid of a step not yet reaped; the job is not done while set.
        self._live_pid: int | None = None
        self._index = -1
        self._exit_ok = False
        self._output_open = False
        self._output_paused = False
        self._timer: Timer | None = None
        self._linger: Timer | None = None
        self._done = False
        self._template_values = {**values, "job.id": job_id, "job.name": spec.name}
        self._limits = rlimits(spec.limits)
        self._prepared: _Prepared | None = None

    # -- the job's course ---------------------------------------------------

    def start(self) -> None:
        self.loop.add(self._result_fd_checked, ERROR, self._on_result_event)
        self._timer = self.loop.call_later(self.spec.timeout, self._on_timeout)
        self._cork_timer = self.loop.call_later(CORK_DELAY, self._uncork)
        self._start_step(0)
        if self.outcome is None:
            # Built while the first step runs; the result is still corked,
            # so it goes out ahead of any output.
            self._pending[0:0] = _meta_record(self._meta())

    def abort(self, reason: str) -> None:
        """End the job after a fault of the daemon's own: kill, report, release."""
        self._kill_group()
        self._finish(StatusRecord(Status.INTERNAL_ERROR, reason, self._step_detail()))
        if self._running is not None and self._live_pid is not None:
            # Reap now rather than wait for an event that may never be handled.
            running = self._running
            os.waitpid(running.pid, 0)
            self._release(running)
            self._running = None
            self._close_output()
            self._close_result()
            self._maybe_done()

    def interrupt(self, reason: str) -> None:
        """Stop the job now (daemon shutdown); the client is told why."""
        if self.outcome is None:
            self._kill_group()
            self._finish(StatusRecord(Status.INTERRUPTED, reason, self._step_detail()))

    @property
    def _result_fd_checked(self) -> int:
        assert self._result_fd is not None
        return self._result_fd

    def _meta(self) -> Meta:
        filename = ""
        if self.spec.filename is not None:
            rendered = self.spec.filename.render(self._template_values)
            # A value may hold characters a download name must not; fall
            # back to the job's name rather than sending a name we made up.
            filename = rendered if FILENAME_RE.fullmatch(rendered) else ""
        try:
            return Meta(type=self.spec.output, filename=filename, title=self.spec.title[:200])
        except ProtocolError:
            return Meta(type=self.spec.output, filename=filename)

    def _prepare(self, index: int) -> "_Prepared":
        """Everything a step needs but its process: argv, env and its pipes.

        Called for the next step while the current one runs, so that when
        a step ends only the spawn itself stands between it and the next.
        """
        step = self.spec.steps[index]
        last = index == len(self.spec.steps) - 1
        prepared = _Prepared(
            index=index,
            argv=[template.render(self._template_values) for template in step.argv],
            env={**self.spec.env, **step.env},
            stdin_read=self.devnull,
        )
        try:
            stdin_data = step.stdin.render(self._template_values).encode() if step.stdin is not None else b""
            if stdin_data:
                # Fill the pipe before the step starts: a short stdin is then
                # waiting for it, and the write end is closed at once.
                prepared.stdin_read, stdin_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                os.set_blocking(prepared.stdin_read, True)
                try:
                    written = os.write(stdin_write, stdin_data)
                except BlockingIOError:
                    written = 0
                prepared.stdin_rest = memoryview(stdin_data)[written:]
                if prepared.stdin_rest:
                    prepared.stdin_write = stdin_write
                else:
                    os.close(stdin_write)
            prepared.diag_read, prepared.diag_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            os.set_blocking(prepared.diag_write, True)
            if last:
                prepared.out_read, prepared.out_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                os.set_blocking(prepared.out_write, True)
            else:
                prepared.out_write = prepared.diag_write
        except OSError:
            prepared.close(self.devnull)
            raise
        return prepared

    def _start_step(self, index: int) -> None:
        self._index = index
        step = self.spec.steps[index]
        record = StepRecord(index + 1, step.label, time.monotonic())
        self.steps.append(record)
        prepared, self._prepared = self._prepared, None
        try:
            if prepared is None or prepared.index != index:
                if prepared is not None:
                    prepared.close(self.devnull)
                prepared = self._prepare(index)
            program, argv = step.program, prepared.argv
            if self.spec.isolate:
                program, argv = UNSHARE, [*isolation_prefix(self.spec.isolate), step.program, *argv[1:]]
            pid = spawn_step(
                program,
                argv,
                prepared.env,
                (prepared.stdin_read, prepared.out_write, prepared.diag_write),
                self._limits,
                step.cwd,
                self._groups,
            )
            pidfd = os.pidfd_open(pid)
        except OSError as exc:
            if prepared is not None:
                prepared.close(self.devnull)
            self._finish(
                StatusRecord(
                    Status.INTERNAL_ERROR,
                    f"step {index + 1} ({step.label}) could not start: {exc.strerror}",
                    {"step": index + 1, "program": step.label},
                )
            )
            return
        prepared.close_child_ends(self.devnull)
        running = _Running(pid, pidfd, record, diagnostic_fd=prepared.diag_read)
        self._running = running
        self._live_pid = pid
        self.loop.add(pidfd, READ, self._on_exit)
        if prepared.out_read >= 0:
            running.output_fd = prepared.out_read
            self._output_open = True
        running.diagnostic_timer = self.loop.call_later(PIPES_DELAY, self._watch_pipes)
        if prepared.stdin_write >= 0:
            running.stdin_fd = prepared.stdin_write
            running.stdin_data = prepared.stdin_rest
            self._feed_stdin()
        if index + 1 < len(self.spec.steps):
            try:
                self._prepared = self._prepare(index + 1)
            except OSError:
                # Tried again when the step is due; its error is reported then.
                self._prepared = None

    def _feed_stdin(self, _events: int = 0) -> None:
        running = self._running
        if running is None or running.stdin_fd is None or running.stdin_data is None:
            return
        try:
            while running.stdin_data:
                written = os.write(running.stdin_fd, running.stdin_data)
                running.stdin_data = running.stdin_data[written:]
        except BlockingIOError:
            if _events == 0:
                self.loop.add(running.stdin_fd, WRITE, self._feed_stdin)
            return
        except BrokenPipeError:
            # The step exited or closed stdin without reading it all: its
            # exit status says whether that was fine.
            pass
        self.loop.remove(running.stdin_fd)
        os.close(running.stdin_fd)
        running.stdin_fd = None
        running.stdin_data = None

    def _watch_pipes(self) -> None:
        running = self._running
        if running is None:
            return
        running.diagnostic_timer = None
        if running.diagnostic_fd is not None:
            self.loop.add(running.diagnostic_fd, READ, self._on_diagnostics)
        self._watch_output()

    def _watch_output(self) -> None:
        running = self._running
        if running is not None and running.output_fd is not None and not running.output_watched:
            running.output_watched = True
            self.loop.add(running.output_fd, 0 if self._output_paused else READ, self._on_output)

    def _pause_output(self, paused: bool) -> None:
        """Stop or resume reading the step's output (back-pressure)."""
        self._output_paused = paused
        running = self._running
        if running is not None and running.output_fd is not None and running.output_watched:
            self.loop.modify(running.output_fd, 0 if paused else READ)
        if not paused:
            self._on_output()

    def _on_diagnostics(self, _events: int) -> None:
        running = self._running
        if running is None or running.diagnostic_fd is None:
            return
        self._drain_diagnostics(running)

    def _drain_diagnostics(self, running: _Running, final: bool = False) -> None:
        fd = running.diagnostic_fd
        if fd is None:
            return
        record = running.record
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                if not final:
                    return
                data = b""
            if data:
                room = self.capture_limit - len(record.diagnostics)
                if room > 0:
                    record.diagnostics += data[:room]
                record.diagnostic_bytes += len(data)
                continue
            self.loop.remove(fd)
            os.close(fd)
            running.diagnostic_fd = None
            return

    def _on_output(self, _events: int = 0, to_end: bool = False) -> None:
        """Pass the step's output on; `to_end`: the step has exited, so read until EOF or an empty pipe.

        Reading to the end is bounded (TO_END_READS): a child that escaped
        the group kill could keep the pipe fed, and the loop serves other jobs.
        """
        running = self._running
        reads_left = TO_END_READS
        while running is not None and running.output_fd is not None and not self._output_paused:
            if to_end:
                if reads_left == 0:
                    return
                reads_left -= 1
            try:
                data = os.read(running.output_fd, READ_SIZE)
            except BlockingIOError:
                return
            if not data:
                self._close_output()
                if self._exit_ok:
                    self._finish(StatusRecord(Status.OK, "", {"bytes": self.bytes_out}))
                elif running.record.exit is not None or running.record.signal is not None:
                    self._finish(self._failure(running.record))
                return
            room = self.spec.max_output - self.bytes_out
            if len(data) > room:
                if room > 0:
                    self._send_chunk(data[:room])
                self._kill_group()
                self._finish(
                    StatusRecord(
                        Status.TOO_LARGE,
                        f"the report passed its limit of {self.spec.max_output} bytes and was stopped",
                        {"bytes": self.bytes_out, "limit": self.spec.max_output},
                    )
                )
                return
            self._send_chunk(data)
            if len(data) < READ_SIZE and not to_end:
                # The pipe is most likely empty: let the loop say when not.
                return

    def _close_output(self) -> None:
        running = self._running
        if running is not None and running.output_fd is not None:
            self.loop.remove(running.output_fd)
            os.close(running.output_fd)
            running.output_fd = None
        self._output_open = False

    def _on_exit(self, _events: int) -> None:
        running = self._running
        assert running is not None
        # Read how the step ended without reaping it: until it is reaped its
        # pid, and so its group id, cannot be reused, so the group is killed
        # first. The next step is started before the bookkeeping, which then
        # runs while that step does.
        try:
            info = os.waitid(os.P_PIDFD, running.pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            info = None
        record = running.record
        record.ms = (time.monotonic() - record.started) * 1000
        if info is not None and info.si_code == os.CLD_EXITED:
            record.exit = info.si_status
        elif info is not None:
            record.signal = info.si_status
        else:
            record.exit = 0
        self._kill_group(step_unreaped=info is not None)
        failed = record.signal is not None or record.exit != 0
        last = self._index == len(self.spec.steps) - 1
        if self.outcome is None and not failed and not last:
            self._running = None
            self._start_step(self._index + 1)
            self._release(running)
            self._maybe_done()
            return
        if self.outcome is None and not failed and self._output_open:
            # The last step did its work: the rest of its output and the
            # status go to the client first, the bookkeeping after. If its
            # group still holds the pipe open (dying, or escaped), EOF is
            # awaited in the loop.
            self._exit_ok = True
            self._on_output(to_end=True)
            self._release(running)
            if self.outcome is None and self._output_open:
                self._watch_output()
            self._maybe_done()
            return
        self._release(running)
        if self.outcome is not None:
            # Killed after the job ended (timeout, too large, interrupted).
            self._close_output()
            self._running = None
            self._maybe_done()
            return
        if not last:
            self._running = None
            self._finish(self._failure(record))
            return
        self._exit_ok = not failed
        if self._output_open:
            # Read what the step left in the pipe; if its group still holds
            # the pipe open (dying, or escaped), wait for EOF in the loop.
            self._on_output()
            if self.outcome is None and self._output_open:
                self._watch_output()
            return
        ok = StatusRecord(Status.OK, "", {"bytes": self.bytes_out})
        self._finish(self._failure(record) if failed else ok)

    def _release(self, running: _Running) -> None:
        """Reap an ended step and close its pipes, keeping its stderr."""
        with contextlib.suppress(ChildProcessError):
            os.waitpid(running.pid, os.WNOHANG)
        if self._live_pid == running.pid:
            self._live_pid = None
        self.loop.remove(running.pidfd)
        os.close(running.pidfd)
        if running.diagnostic_timer is not None:
            running.diagnostic_timer.cancel()
            running.diagnostic_timer = None
        self._drain_diagnostics(running, final=True)
        if running.stdin_fd is not None:
            self.loop.remove(running.stdin_fd)
            os.close(running.stdin_fd)
            running.stdin_fd = None

    def _failure(self, record: StepRecord) -> StatusRecord:
        detail: dict[str, Any] = {"step": record.number, "program": record.program}
        if record.signal is not None:
            detail["signal"] = record.signal
            words = f"was killed by signal {record.signal}"
        else:
            detail["exit"] = record.exit
            words = f"exited with status {record.exit}"
        reason = record.diagnostics.decode("utf-8", "replace").strip().splitlines()
        message = f"step {record.number} ({record.program}) {words}"
        if reason:
            message += f": {reason[-1][:300]}"
        return StatusRecord(Status.STEP_FAILED, message, detail)

    def _on_timeout(self) -> None:
        if self.outcome is not None:
            return
        self._kill_group()
        self._finish(
            StatusRecord(
                Status.TIMEOUT,
                f"the job ran past its limit of {self.spec.timeout:g} seconds and was stopped",
                {"seconds": self.spec.timeout, **self._step_detail()},
            )
        )

    def _step_detail(self) -> dict[str, Any]:
        if self._running is None:
            return {}
        return {"step": self._running.record.number, "program": self._running.record.program}

    def _kill_group(self, step_unreaped: bool = False) -> None:
        """Kill the step and all it started, in its control group and its process group.

        step_unreaped: the step has exited and is not reaped yet, so it is
        the one task its group may hold; when the group holds no more, the
        listing of its processes is skipped.
        """
        if self.cgroup is not None:
            tasks = self.cgroup.task_count() if step_unreaped else None
            if tasks is None or tasks > 1:
                with contextlib.suppress(OSError):
                    self.cgroup.kill()
        if self._running is None or self._live_pid is None:
            return
        # The step itself too, whatever its group: it may have moved to
        # another group of the daemon's session (its group then empty, or
        # holding only its children), and a group may hold a process the
        # daemon may not signal (a setuid program). Unreaped, its pid is
        # still its own.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._running.pid, signal.SIGKILL)
        if step_unreaped:
            return  # it has exited: its zombie takes no signal
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._running.pid, signal.SIGKILL)

    # -- the result FIFO ----------------------------------------------------

    def _send_chunk(self, data: bytes) -> None:
        self.bytes_out += len(data)
        for start in range(0, len(data), MAX_CHUNK):
            piece = data[start : start + MAX_CHUNK]
            self._send(encode_chunk_header(len(piece)) + piece)
        if len(self._pending) > HIGH_WATER:
            # A large result is no short job: the cork would only delay it.
            self._uncork()
            if len(self._pending) > HIGH_WATER and not self._output_paused:
                self._pause_output(True)

    def _send(self, data: bytes) -> None:
        if self._result_fd is None:
            return
        self._pending += data
        if not self._corked and not self._awaiting_writable:
            self._flush()

    def _uncork(self) -> None:
        if self._corked:
            self._corked = False
            if self._cork_timer is not None:
                self._cork_timer.cancel()
                self._cork_timer = None
            self._flush()

    def _flush(self) -> None:
        """Write what is pending; wait for the FIFO to drain if it is full."""
        fd = self._result_fd
        if fd is None:
            return
        try:
            while self._pending:
                written = os.write(fd, self._pending)
                del self._pending[:written]
        except BlockingIOError:
            if not self._awaiting_writable:
                self._awaiting_writable = True
                self.loop.modify(fd, ERROR | WRITE)
            return
        except BrokenPipeError:
            self._client_gone()
            return
        if self._awaiting_writable:
            self._awaiting_writable = False
            self.loop.modify(fd, ERROR)
        if self.outcome is not None:
            self._close_result()
            self._maybe_done()
            return
        if self._output_paused:
            self._pause_output(False)

    def _on_result_event(self, events: int) -> None:
        if events & ERROR:
            self._client_gone()
            return
        self._flush()

    def _client_gone(self) -> None:
        self._close_result()
        if self.outcome is None:
            self._kill_group()
            self.outcome = StatusRecord(Status.INTERRUPTED, "the client closed the result before the job ended")
            self._end_timers()
            self._drop_prepared()
            self._close_output()
        self._maybe_done()

    def _close_result(self) -> None:
        if self._result_fd is not None:
            self.loop.remove(self._result_fd)
            os.close(self._result_fd)
            self._result_fd = None
            self._pending.clear()

    # -- the end ------------------------------------------------------------

    def _finish(self, outcome: StatusRecord) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        self._end_timers()
        self._drop_prepared()
        if outcome.status is not Status.OK:
            self._close_output()
        self._send(encode_status(outcome))
        self._uncork()
        if self._result_fd is not None:
            self._linger = self.loop.call_later(LINGER, self._give_up_on_client)
        self._maybe_done()

    def _drop_prepared(self) -> None:
        if self._prepared is not None:
            self._prepared.close(self.devnull)
            self._prepared = None

    def _give_up_on_client(self) -> None:
        self._close_result()
        self._maybe_done()

    def _end_timers(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _maybe_done(self) -> None:
        if self._done or self.outcome is None or self._result_fd is not None or self._live_pid is not None:
            return
        self._done = True
        if self._linger is not None:
            self._linger.cancel()
        self.on_done(self)

    def audit_record(self) -> dict[str, Any]:
        assert self.outcome is not None
        return {
            "id": self.job_id,
            "job": self.spec.name,
            "outcome": self.outcome.status.value,
            "message": self.outcome.message,
            "ms": round((time.monotonic() - self.started) * 1000, 3),
            "bytes_out": self.bytes_out,
            "steps": [step.as_audit() for step in self.steps],
            "fields": field_summary(self.spec, self.values),
        }


@functools.lru_cache(maxsize=256)
def _meta_record(meta: Meta) -> bytes:
    """The encoded meta record: the same for every run of a job whose download name is fixed."""
    return encode_meta(meta)


def isolation_prefix(isolate: tuple[str, ...]) -> list[str]:
    """unshare's argv up to the program: a user namespace mapped to our uid, and the rest asked for."""
    argv = [UNSHARE, "--user", "--map-current-user"]
    argv += [ISOLATE_FLAGS[name] for name in isolate]
    if "pid" in isolate:
        # The step is then pid 1 of its own namespace, under unshare, which
        # takes it down when it is killed itself.
        argv += ["--fork", "--kill-child"]
    return [*argv, "--"]


def field_summary(spec: JobSpec, values: dict[str, Any]) -> dict[str, Any]:
    """Field names with their lengths, and values only where the map allows."""
    summary: dict[str, Any] = {}
    for name, value in values.items():
        field_spec = spec.fields.get(name)
        if field_spec is not None and field_spec.secret:
            summary[name] = {"secret": True}
            continue
        entry: dict[str, Any] = {"len": len(value)}
        if field_spec is not None and field_spec.log:
            entry["value"] = value
        summary[name] = entry
    return summary
