"""The listener daemon: reads request lines, checks jobs, runs them.

Rules:
1. One thread, one epoll loop. Signal handlers only wake the loop (through
   set_wakeup_fd); the loop then acts on the signal numbers it reads.
2. Nothing the jail controls can block the loop: spool files are opened as
   spoolio says, request lines are read from a non-blocking FIFO, and the
   daemon keeps its own write end open so the FIFO never reports EOF.
3. Every request that names a job id the daemon can answer gets exactly
   one status; every job, accepted or refused, gets one audit record.
4. Over the job limit a job is answered busy at once; nothing is queued.
"""

import contextlib
import os
import resource
import signal
import stat
import time
import traceback
from collections.abc import Callable
from typing import Any

from hole import ProtocolError, decode_input, decode_request, encode_status
from hole.limits import MAX_REQUEST_LINE
from hole.request import JOB_ID_RE, Request
from hole.spool import DAEMON_FIFO, INPUT_FILE, JOBS_DIR, RESULT_FIFO
from hole.status import Status, StatusRecord
from sysside import DaemonError
from sysside.audit import Log
from sysside.cgroups import Group
from sysside.eventloop import READ, EventLoop
from sysside.executor import JobRun
from sysside.fieldtypes import Rejection
from sysside.jobmap import JobMap, JobMapError, JobSpec, load_jobmap
from sysside.linux import set_dumpable, set_no_new_privs
from sysside.priority import is_realtime, make_realtime
from sysside.settings import Settings
from sysside.spawn import note_signal_handlers, spawner_name
from sysside.spoolio import NoReader, SpoolError, open_job_dir, open_result, read_input
from sysside.validate import validate_fields
from sysside.wakelatency import DEVICE, HOLD, WakeLatency, open_request

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW


def _shed_inheritance() -> None:
    """Drop what the daemon inherited from whoever started it that its steps would inherit in turn.

    Every fd from 3 up becomes close-on-exec (an fd handed over with
    pass_fds is inheritable), a signal ignored by the starter is set back
    to its default (an ignored SIGCHLD would even reap the steps before the
    daemon could), and the signal mask is emptied. Python's own SIGPIPE
    and SIGXFSZ stay ignored in the daemon; the spawner resets them for
    the steps.
    """
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)
    for number in signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ}:
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(number) == signal.SIG_IGN:
                signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def prepare_spool(spool: os.PathLike[str] | str, group_access: bool = True) -> list[str]:
    """Create the spool's jobs/ directory and daemon FIFO if missing; return what was made.

    With group_access the web side's group (the daemon's user is in it)
    may write jobs/ and the FIFO; nobody else may.
    """
    made: list[str] = []
    base = os.fspath(spool)
    mode_dir, mode_fifo = (0o770, 0o660) if group_access else (0o700, 0o600)
    if not os.path.isdir(base):
        os.makedirs(base, 0o755)
        made.append(base)
    jobs = os.path.join(base, JOBS_DIR)
    if not os.path.lexists(jobs):
        os.mkdir(jobs, mode_dir)
        os.chmod(jobs, mode_dir)
        made.append(jobs)
    fifo = os.path.join(base, DAEMON_FIFO)
    if not os.path.lexists(fifo):
        os.mkfifo(fifo, mode_fifo)
        os.chmod(fifo, mode_fifo)
        made.append(fifo)
    return made


class Daemon:
    """The listener. Build it with settings and a checked map, then run()."""

    def __init__(self, settings: Settings, jobmap: JobMap, log: Log) -> None:
        self.settings = settings
        self.jobmap = jobmap
        self.log = log
        self.loop = EventLoop(on_error=self._on_handler_error)
        self.active: dict[str, JobRun] = {}
        self.draining = False
        self.stopped = False
        self._line_buffer = bytearray()
        self._discarding = False
        self._fds: dict[str, int] = {}
        self._owner = -1
        # Job control groups, one per job slot, reused: making and removing
        # a group per job would cost more than the hole itself.
        self._cgroup_root: Group | None = None
        self._home_cgroup: Group | None = None
        self._free_slots: list[int] = []
        self._slot_limits: dict[int, tuple[int | None, int | None]] = {}
        self._slot_groups: dict[int, Group] = {}
        self._job_slots: dict[str, int] = {}
        self._wake: WakeLatency | None = None
        self._wake_refused = ""
        self._wake_failure_logged = False

    # -- start and stop -------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped by SIGTERM or SIGINT; return the exit status."""
        self._open()
        scheduling = self._schedule()
        self.log.event(
            "daemon.ready",
            pid=os.getpid(),
            scheduling=scheduling,
            spawner=spawner_name(),
            wake_latency=self._wake_state(),
            spool=str(self.settings.spool),
            jobs=sorted(self.jobmap.jobs),
            max_jobs=self.settings.max_jobs,
            web_uid=self._owner,
        )
        try:
            while not self.stopped:
                self.loop.run_once()
        finally:
            self._close()
        self.log.event("daemon.stopped", pid=os.getpid())
        return 0

    def _open_wake_latency(self) -> None:
        wanted = self.settings.wake_latency
        if wanted is None:
            return
        fd = self.settings.wake_latency_fd
        if fd is None:
            try:
                fd = self._fds["wake_latency"] = open_request()
            except OSError as exc:
                self._wake_refused = exc.strerror or str(exc)
                return
        else:
            # (Made close-on-exec with every other inherited fd: no step may
            # get it, it could hold the machine's CPUs awake for good.)
            try:
                is_device = os.fstat(fd).st_rdev == os.stat(DEVICE).st_rdev
            except OSError as exc:
                raise DaemonError(f"--wake-latency-fd {fd}: {exc.strerror}") from None
            if not is_device:
                raise DaemonError(f"--wake-latency-fd {fd} is not {DEVICE}")
        self._wake = WakeLatency(fd, wanted)

    def _wake_state(self) -> str:
        """What the daemon asks of the kernel's CPU idle states, in words (for its ready line)."""
        if self.settings.wake_latency is None:
            return "off"
        if self._wake is None:
            return f"unavailable ({self._wake_refused})"
        return f"{self._wake.microseconds} µs from each job's start until {HOLD:g} s after the latest"

    def _hold_wake_latency(self, now: float) -> None:
        wake = self._wake
        if wake is not None and wake.job_started(now):
            self.loop.call_later(wake.hold, self._check_wake_latency)
        self._log_wake_failure()

    def _check_wake_latency(self) -> None:
        if self._wake is not None:
            left = self._wake.seconds_left(time.monotonic())
            if left > 0:
                self.loop.call_later(left, self._check_wake_latency)
        self._log_wake_failure()

    def _log_wake_failure(self) -> None:
        """Say once that the kernel refused the request (the daemon goes on without it)."""
        if self._wake is not None and self._wake.failed is not None and not self._wake_failure_logged:
            self._wake_failure_logged = True
            self.log.event("wake_latency.refused", reason=self._wake.failed)

    def _schedule(self) -> str:
        """Ask for real-time priority if wanted (see sysside/priority.py); say what the daemon runs at."""
        if self.settings.realtime and not is_realtime():
            refused = make_realtime()
            if refused is not None:
                return f"normal (real-time refused: {refused})"
        return "realtime" if is_realtime() else "normal"

    def _open(self) -> None:
        os.umask(0o077)
        # No core dumps, of the daemon or of any step (they inherit this):
        # a core file would hold the fields and the programs' secrets.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # Nothing the daemon or its steps run may gain privileges (setuid
        # or file capabilities): it needs none, whoever starts it.
        set_no_new_privs()
        # Steps run under the daemon's user: undumpable, the daemon cannot
        # be traced by them, nor its fds taken (pidfd_getfd, /proc/PID/fd).
        set_dumpable(False)
        _shed_inheritance()
        spool = os.fspath(self.settings.spool)
        try:
            spool_fd = os.open(spool, _DIR_FLAGS & ~os.O_NOFOLLOW)
        except OSError as exc:
            raise DaemonError(f"cannot open spool {spool}: {exc.strerror}") from None
        self._fds["spool"] = spool_fd
        try:
            jobs_fd = os.open(JOBS_DIR, _DIR_FLAGS, dir_fd=spool_fd)
        except OSError as exc:
            raise DaemonError(f"cannot open {spool}/{JOBS_DIR}/: {exc.strerror}") from None
        self._fds["jobs"] = jobs_fd
        self._owner = self.settings.web_uid if self.settings.web_uid is not None else os.fstat(jobs_fd).st_uid
        try:
            info = os.stat(DAEMON_FIFO, dir_fd=spool_fd, follow_symlinks=False)
        except OSError as exc:
            raise DaemonError(f"cannot find {spool}/{DAEMON_FIFO}: {exc.strerror}") from None
        if not stat.S_ISFIFO(info.st_mode):
            raise DaemonError(f"{spool}/{DAEMON_FIFO} is not a FIFO")
        # O_NOCTTY: the daemon leads the session its steps share; a tty put
        # in the FIFO's place must never become their terminal.
        fifo_flags = os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOCTTY
        self._fds["requests"] = os.open(DAEMON_FIFO, os.O_RDONLY | fifo_flags, dir_fd=spool_fd)
        # Our own writer: without one, the FIFO reads EOF whenever no web
        # worker has it open, and epoll would report that forever.
        self._fds["keepalive"] = os.open(DAEMON_FIFO, os.O_WRONLY | fifo_flags, dir_fd=spool_fd)
        self._fds["devnull"] = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._fds["wake_read"], self._fds["wake_write"] = wake_read, wake_write
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, _wake_only)
        note_signal_handlers()
        if self.settings.cgroup:
            self._open_cgroups(self.settings.cgroup)
        self._open_wake_latency()
        self.loop.add(self._fds["requests"], READ, self._on_requests)
        self.loop.add(wake_read, READ, self._on_signals)
        self._sweep()

    def _open_cgroups(self, relative: str) -> None:
        root = Group.at(relative)
        if root is None:
            raise DaemonError("--cgroup was given but this machine has no memory and pids control groups")
        for path in root.dirs.values():
            if not os.access(path, os.W_OK):
                raise DaemonError(f"control group {path} is missing or not writable by this user")
        home = Group.of_self()
        if home is None or home.version != root.version or not home.writable():
            raise DaemonError(
                "with --cgroup the daemon must run in a control group it may move itself back into"
                " (make one owned by this user and start the daemon in it)"
            )
        self._cgroup_root = root
        self._home_cgroup = home
        self._free_slots = list(range(self.settings.max_jobs))

    def _take_slot(self, job_id: str, spec: JobSpec) -> tuple[Group, Group] | None:
        if self._cgroup_root is None or self._home_cgroup is None:
            return None
        slot = self._free_slots.pop()
        group = self._slot_groups.get(slot)
        if group is None:
            group = self._slot_groups[slot] = self._cgroup_root.child(f"slot{slot}")
        limits = (spec.limits.memory, spec.limits.processes)
        if self._slot_limits.get(slot) != limits:
            group.create()
            group.set_limits(*limits)
            self._slot_limits[slot] = limits
        self._job_slots[job_id] = slot
        return group, self._home_cgroup

    def _give_back_slot(self, job_id: str) -> None:
        slot = self._job_slots.pop(job_id, None)
        if slot is not None:
            self._free_slots.append(slot)

    def _close(self) -> None:
        if self._wake is not None:
            self._wake.release()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        note_signal_handlers()
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        for group in self._slot_groups.values():
            group.close()
        if self._home_cgroup is not None:
            self._home_cgroup.close()
        self.loop.close()

    def _on_signals(self, _events: int) -> None:
        try:
            numbers = os.read(self._fds["wake_read"], 64)
        except BlockingIOError:
            return
        for signum in numbers:
            if signum == signal.SIGHUP:
                self.reload()
            elif signum in (signal.SIGTERM, signal.SIGINT):
                self.stop(signal.Signals(signum).name)

    def stop(self, reason: str) -> None:
        """First call: refuse new jobs, let running ones end. Second: kill them."""
        if self.draining:
            self.log.event("daemon.kill_jobs", reason=reason, jobs=len(self.active))
            for job in list(self.active.values()):
                job.interrupt("the job daemon was stopped")
            return
        self.draining = True
        self.log.event("daemon.stopping", reason=reason, jobs=len(self.active))
        # Answer what is already queued in the FIFO (busy), then close it so
        # new clients learn at once that nobody is listening.
        self._on_requests(READ)
        self.loop.remove(self._fds["requests"])
        for name in ("requests", "keepalive"):
            os.close(self._fds.pop(name))
        self._stop_if_idle()

    def _stop_if_idle(self) -> None:
        if self.draining and not self.active:
            self.stopped = True

    def reload(self) -> None:
        """Load the map again; keep the old one if the new one has problems."""
        try:
            new_map = load_jobmap(self.settings.jobs_file)
        except JobMapError as exc:
            self.log.event("jobmap.reload_refused", file=str(exc.path), problems=exc.problems)
            return
        self.jobmap = new_map
        self.log.event("jobmap.reloaded", file=str(new_map.path), jobs=sorted(new_map.jobs))

    # -- requests -------------------------------------------------------------

    def _on_requests(self, _events: int) -> None:
        fd = self._fds.get("requests")
        if fd is None:
            return
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            if not data:
                return
            self._take_lines(data)

    def _take_lines(self, data: bytes) -> None:
        start = 0
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                break
            piece = data[start : newline + 1]
            start = newline + 1
            if self._discarding:
                # The tail of an overlong line: not a request of its own.
                self._discarding = False
                continue
            if self._line_buffer:
                piece = bytes(self._line_buffer) + piece
                self._line_buffer.clear()
            self._handle_line(piece)
        rest = data[start:]
        if self._discarding:
            return
        if len(self._line_buffer) + len(rest) > MAX_REQUEST_LINE:
            self.log.event("request.refused", reason=f"line over {MAX_REQUEST_LINE} bytes; discarded")
            self._line_buffer.clear()
            self._discarding = True
        else:
            self._line_buffer += rest

    def _handle_line(self, raw_line: bytes) -> None:
        try:
            request = decode_request(raw_line)
        except ProtocolError as exc:
            self.log.event("request.refused", reason=str(exc))
            return
        try:
            dir_fd = open_job_dir(self._fds["jobs"], request.job_id, self._owner)
        except SpoolError as exc:
            self.log.event("request.refused", id=request.job_id, job=request.job, reason=str(exc))
            return
        try:
            self._handle_job(request, dir_fd)
        finally:
            os.close(dir_fd)

    def _handle_job(self, request: Request, dir_fd: int) -> None:
        if request.job_id in self.active:
            # A replayed line: the id's result FIFO carries that running
            # job's stream, and an answer written into it would end it.
            self.log.event(
                "request.refused", id=request.job_id, job=request.job, reason="a job with this id is already running"
            )
            return
        try:
            result_fd = open_result(dir_fd, self._owner)
        except NoReader as exc:
            self._audit_refused(request, StatusRecord(Status.INTERRUPTED, str(exc)))
            return
        except SpoolError as exc:
            self.log.event("request.refused", id=request.job_id, job=request.job, reason=str(exc))
            return
        spec = self.jobmap.jobs.get(request.job)
        refusal: StatusRecord | None = None
        values: dict[str, str] = {}
        if self.draining:
            refusal = StatusRecord(Status.BUSY, "the job daemon is shutting down; try again shortly")
        elif spec is None:
            refusal = StatusRecord(
                Status.UNKNOWN_JOB, f"there is no job {request.job!r} in the job map", {"job": request.job}
            )
        elif len(self.active) >= self.settings.max_jobs:
            refusal = StatusRecord(
                Status.BUSY,
                f"all {self.settings.max_jobs} job slots are in use; try again shortly",
                {"limit": self.settings.max_jobs},
            )
        else:
            try:
                limit = self.settings.max_input
                raw_fields = decode_input(read_input(dir_fd, self._owner, limit), limit)
            except (SpoolError, ProtocolError) as exc:
                refusal = StatusRecord(Status.BAD_REQUEST, f"the job's input was refused: {exc}")
            else:
                checked = validate_fields(spec, raw_fields)
                if isinstance(checked, Rejection):
                    refusal = StatusRecord(
                        Status.REJECTED,
                        checked.message,
                        {"field": checked.field, "code": checked.code, "params": checked.params},
                    )
                    values = {name: raw.decode("utf-8", "replace") for name, raw in raw_fields.items()}
                else:
                    values = checked
        if refusal is not None:
            self._reply(result_fd, refusal)
            self._audit_refused(request, refusal, values)
            return
        assert spec is not None
        try:
            cgroup = self._take_slot(request.job_id, spec)
        except OSError as exc:
            self._give_back_slot(request.job_id)
            refusal = StatusRecord(Status.INTERNAL_ERROR, f"cannot set up the job's control group: {exc.strerror}")
            self._reply(result_fd, refusal)
            self._audit_refused(request, refusal, values)
            return
        job = JobRun(
            self.loop,
            self.log,
            spec,
            request.job_id,
            values,
            result_fd,
            self.settings.capture_limit,
            self._fds["devnull"],
            self._job_done,
            cgroup,
        )
        self.active[request.job_id] = job
        self._hold_wake_latency(job.started)
        job.start()

    def _reply(self, result_fd: int, record: StatusRecord) -> None:
        try:
            os.write(result_fd, encode_status(record))
        except (BlockingIOError, BrokenPipeError) as exc:
            self.log.event("reply.lost", status=record.status.value, reason=str(exc))
        finally:
            os.close(result_fd)

    def _audit_refused(self, request: Request, record: StatusRecord, values: dict[str, str] | None = None) -> None:
        entry: dict[str, Any] = {
            "id": request.job_id,
            "job": request.job,
            "outcome": record.status.value,
            "message": record.message,
            "steps": [],
            "bytes_out": 0,
        }
        if record.status is Status.REJECTED:
            entry["field"] = record.details.get("field")
            entry["code"] = record.details.get("code")
        if values:
            # Refused values are never logged, whatever the map says: they
            # are exactly what an attacker sent. Names and lengths suffice,
            # and a secret field's length is not told either.
            spec = self.jobmap.jobs.get(request.job)
            secret = {name for name, field in spec.fields.items() if field.secret} if spec else set()
            entry["fields"] = {
                name: {"secret": True} if name in secret else {"len": len(value)} for name, value in values.items()
            }
        self.log.audit(entry)

    def _on_handler_error(self, callback: Callable[..., None], exc: BaseException) -> None:
        """A bug met in a handler: end the job it belongs to, keep serving."""
        owner = getattr(callback, "__self__", None)
        detail = "".join(traceback.format_exception_only(exc)).strip()
        self.log.event("daemon.internal_error", handler=getattr(callback, "__qualname__", "?"), error=detail)
        if isinstance(owner, JobRun) and owner.job_id in self.active:
            try:
                owner.abort(f"internal error in the job daemon: {detail}")
            except Exception as again:
                # The job is beyond saving: forget it so its slot is free.
                self.log.event("daemon.job_dropped", id=owner.job_id, error=repr(again))
                self.active.pop(owner.job_id, None)
                self._stop_if_idle()

    def _job_done(self, job: JobRun) -> None:
        self.active.pop(job.job_id, None)
        self._give_back_slot(job.job_id)
        self.log.audit(job.audit_record())
        self._stop_if_idle()

    # -- stale job directories -------------------------------------------------

    def _sweep(self) -> None:
        if self.stopped:
            return
        self.loop.call_later(self.settings.sweep_interval, self._sweep)
        jobs_fd = self._fds.get("jobs")
        if jobs_fd is None:
            return
        now = time.time()
        names: list[tuple[str, os.stat_result]] = []
        with os.scandir(jobs_fd) as entries:
            for entry in entries:
                try:
                    names.append((entry.name, entry.stat(follow_symlinks=False)))
                except FileNotFoundError:
                    # Its client removed it after the listing: nothing to sweep.
                    continue
        for name, info in names:
            if name in self.active or now - info.st_mtime < self.settings.stale_after:
                continue
            if not JOB_ID_RE.fullmatch(name) or not stat.S_ISDIR(info.st_mode):
                self.log.event("sweep.skipped", name=name, reason="not a job directory; left for the webmaster")
                continue
            self._remove_job_dir(jobs_fd, name)

    def _remove_job_dir(self, jobs_fd: int, name: str) -> None:
        try:
            dir_fd = os.open(name, _DIR_FLAGS, dir_fd=jobs_fd)
        except OSError as exc:
            self.log.event("sweep.skipped", name=name, reason=exc.strerror)
            return
        try:
            leftovers = [entry for entry in os.listdir(dir_fd) if entry not in (INPUT_FILE, RESULT_FIFO)]
            for entry in (INPUT_FILE, RESULT_FIFO):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        if leftovers:
            self.log.event("sweep.skipped", name=name, reason=f"unexpected files {leftovers[:5]}")
            return
        try:
            os.rmdir(name, dir_fd=jobs_fd)
        except OSError as exc:
            self.log.event("sweep.skipped", name=name, reason=exc.strerror)
            return
        self.log.event("sweep.removed", name=name)


def _wake_only(signum: int, frame: object) -> None:
    """The wakeup fd carries the signal number to the loop; nothing to do here."""
