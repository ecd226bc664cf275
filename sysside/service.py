"""Running both sides as one service: start, watch, and stop them in order.

Rules:
1. The listening socket is bound here, before anything starts, and handed
   to gunicorn as an inherited fd: a taken port is reported at once, and
   the web side never needs to bind anything itself.
2. Each side runs in its own session, so a Ctrl-C at the terminal reaches
   only this supervisor, which stops the web side first (no new jobs) and
   the daemon second (running jobs end within their timeouts).
3. If either side dies, the other is stopped and the reason is reported.
4. From start() to the end of serve_until_signal(), SIGINT and SIGTERM are
   only recorded (catching_signals); the loops that wait check the record,
   so a stop asked for while starting still stops what has started.
"""

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sysside import DaemonError
from sysside.interpreter import import_path, shared_python
from sysside.jailed import JailedSetup, daemon_cgroup_entry
from sysside.priority import make_realtime
from sysside.state import StateDir
from sysside.wakelatency import open_request

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 40.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """SIGINT or SIGTERM came while the service was starting; what had started is stopped."""


@dataclass
class Side:
    """One started process: what it is, its pid file and its log."""

    name: str
    process: subprocess.Popen[bytes]
    pid_file: Path
    log_file: Path
    log_offset: int = 0

    def event(self, name: str) -> dict[str, object] | None:
        """The last JSON log line of this side with this event name, since it started."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        for line in reversed(text[self.log_offset :].splitlines()):
            if f'"{name}"' in line:
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict) and record.get("event") == name:
                        return record
        return None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text[self.log_offset :].splitlines()[-lines:])


@dataclass
class ServiceConfig:
    """What `hole up` was asked for."""

    state: StateDir
    jobs_file: Path
    host: str = "127.0.0.1"
    port: int = 8000
    stubs_dir: Path | None = None
    dev: bool = False
    web_env: dict[str, str] = field(default_factory=dict)
    # Set when serving from the jail (as root): the web side is launched
    # confined in it, the daemon runs as its own user.
    jailed: JailedSetup | None = None
    # The daemon's job limit (--max-jobs); None keeps its default.
    max_jobs: int | None = None
    # The daemon's --wake-latency: µs, or "off".
    wake_latency: str = "0"

    @property
    def spool(self) -> Path:
        return self.jailed.spool if self.jailed is not None else self.state.spool


def bind_listener(host: str, port: int) -> socket.socket:
    """The web side's listening socket; DaemonError if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == 98:  # EADDRINUSE
            raise DaemonError(f"port {port} on {host} is taken; stop what uses it or choose --port") from None
        raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    listener.listen(1024)
    return listener


class Service:
    """Both sides, started by start() and stopped by stop()."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.sides: list[Side] = []
        self.signals: list[int] = []

    @property
    def url(self) -> str:
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.config.port}/"

    @contextlib.contextmanager
    def catching_signals(self) -> Iterator[None]:
        """Inside, SIGINT and SIGTERM only land in self.signals (rule 4)."""

        def note(signum: int, frame: object) -> None:
            self.signals.append(signum)

        previous = {s: signal.signal(s, note) for s in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _check_signals(self) -> None:
        if self.signals:
            raise Interrupted(f"stopped by signal {signal.Signals(self.signals[0]).name} while starting")

    def start(self, listener: socket.socket | None = None) -> None:
        """Start the daemon, then the web side; raise DaemonError if either fails.

        `listener` is a socket from bind_listener(), for a caller that checks
        the port before anything else; this method closes it. Without it the
        socket is bound here.
        """
        if listener is None:
            listener = bind_listener(self.config.host, self.config.port)
        try:
            self._start_daemon()
            self._start_web(listener)
        except BaseException:
            self.stop()
            raise
        finally:
            listener.close()
        self._wait_http()

    def _spawn(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        pass_fds: tuple[int, ...] = (),
        as_user: "tuple[int, int, list[int]] | None" = None,
        preexec: "Callable[[], None] | None" = None,
    ) -> Side:
        state = self.config.state
        log_file = state.log_file(name)
        with open(log_file, "ab") as log:
            offset = log.tell()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=dict(env),
                pass_fds=pass_fds,
                start_new_session=True,
                user=as_user[0] if as_user else None,
                group=as_user[1] if as_user else None,
                extra_groups=as_user[2] if as_user else None,
                preexec_fn=preexec,  # noqa: PLW1509 (the supervisor runs no threads)
            )
        side = Side(name, process, state.pid_file(name), log_file, offset)
        state.write_pid(name, process.pid)
        self.sides.append(side)
        return side

    def _start_daemon(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "sysside",
            "daemon",
            "--spool",
            str(self.config.spool),
            "--jobs",
            str(self.config.jobs_file),
        ]
        if self.config.max_jobs is not None:
            argv += ["--max-jobs", str(self.config.max_jobs)]
        argv += ["--wake-latency", self.config.wake_latency]
        jailed = self.config.jailed
        if jailed is None:
            side = self._spawn("daemon", argv, os.environ)
        else:
            # Root opens the latency request; the daemon, under its own
            # user, could not (sysside/wakelatency.py). Its ready line says
            # what came of it.
            latency_fd = -1
            if self.config.wake_latency != "off":
                with contextlib.suppress(OSError):
                    latency_fd = open_request()
            if latency_fd >= 0:
                argv += ["--wake-latency-fd", str(latency_fd)]
            if jailed.cgroup_base:
                argv += ["--cgroup", f"{jailed.cgroup_base}/jobs"]
            sys_user = jailed.sys_user
            # An interpreter holesys may run, given our import path.
            argv[0] = shared_python()
            env = {
                "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "HOME": "/nonexistent",
                "PYTHONPATH": os.pathsep.join(import_path()),
            }
            # In the web side's group and no other: it reads the job files
            # and writes the result FIFOs, and nothing else of the jail.
            try:
                side = self._spawn(
                    "daemon",
                    argv,
                    env,
                    pass_fds=(latency_fd,) if latency_fd >= 0 else (),
                    as_user=(sys_user.uid, sys_user.gid, [jailed.web.gid]),
                    preexec=daemon_cgroup_entry(jailed.cgroup_base),
                )
            finally:
                if latency_fd >= 0:
                    os.close(latency_fd)
            # Its own user may not ask for real-time priority, so root gives
            # it here, while the daemon is still importing; the daemon then
            # finds it set (sysside/priority.py). Refused, it runs at normal.
            make_realtime(side.process.pid)
        deadline = time.monotonic() + READY_TIMEOUT
        while '"daemon.ready"' not in side.log_tail(50):
            self._check_signals()
            if side.process.poll() is not None or time.monotonic() > deadline:
                raise DaemonError(f"the daemon did not start; its log says:\n{side.log_tail()}")
            time.sleep(0.02)

    def _start_web(self, listener: socket.socket) -> None:
        state = self.config.state
        fd = listener.fileno()
        jailed = self.config.jailed
        if jailed is not None:
            jail_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOLE_SECRET_KEY": state.secret_key()}
            if self.config.dev:
                jail_env["HOLE_DEV"] = "true"
            for name in ("HOLE_TIMEOUT", "HOLE_STREAM_GRACE", "HOLE_WEB_WORKERS", "HOLE_WEB_THREADS"):
                if name in self.config.web_env:
                    jail_env[name] = self.config.web_env[name]
            launch = [sys.executable, "-m", "sysside", "launch", "--jail", str(jailed.jail), "--listen-fd", str(fd)]
            if jailed.cgroup_base:
                launch += ["--cgroup", f"{jailed.cgroup_base}/web"]
            self._spawn("web", launch, jail_env, pass_fds=(fd,))
            return
        env = {
            **os.environ,
            "HOLE_SPOOL": str(self.config.spool),
            "HOLE_SECRET_KEY": state.secret_key(),
            "HOLE_UNJAILED": "true",
            **self.config.web_env,
        }
        if self.config.stubs_dir is not None:
            env["HOLE_STUBS_DIR"] = str(self.config.stubs_dir)
        if self.config.dev:
            env["HOLE_DEV"] = "true"
        argv = [sys.executable, "-m", "gunicorn", "-c", "python:webside.gunicorn_conf", "--bind", f"fd://{fd}"]
        self._spawn("web", argv, env, pass_fds=(fd,))

    def _wait_http(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        web = self.sides[-1]
        last_error = ""
        while time.monotonic() < deadline:
            if self.signals:
                self.stop()
                self._check_signals()
            if web.process.poll() is not None:
                break
            try:
                connection = http.client.HTTPConnection(self.config.host, self.config.port, timeout=5)
                connection.request("GET", "/")
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return
                last_error = f"GET / answered {status}"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.1)
        self.stop()
        raise DaemonError(f"the web side did not come up ({last_error}); its log says:\n{web.log_tail()}")

    def dead_side(self) -> Side | None:
        """A side that has exited on its own, if any."""
        for side in self.sides:
            if side.process.poll() is not None:
                return side
        return None

    def stop(self) -> None:
        """Stop the web side, then the daemon: SIGTERM, then SIGKILL at a deadline."""
        for side in reversed(self.sides):
            if side.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    side.process.send_signal(signal.SIGTERM)
                try:
                    side.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(side.process.pid, signal.SIGKILL)
                    side.process.wait()
            with contextlib.suppress(FileNotFoundError):
                side.pid_file.unlink()
        self.sides.clear()

    def serve_until_signal(self) -> None:
        """Block until SIGINT or SIGTERM, then stop both sides.

        Raises DaemonError, after stopping the other side, if a side dies.
        """
        with self.catching_signals():
            while not self.signals:
                dead = self.dead_side()
                if dead is not None:
                    tail = dead.log_tail()
                    self.stop()
                    raise DaemonError(
                        f"the {dead.name} side exited ({describe_exit(dead.process.returncode)}); its log says:\n{tail}"
                    )
                time.sleep(0.2)
            self.stop()


def describe_exit(returncode: int) -> str:
    """Popen's returncode in words: "status 3" or "killed by SIGKILL"."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"status {returncode}"
