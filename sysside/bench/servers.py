"""The servers the benchmark loads, on loopback: the product, the naive baseline, the peer.

Rules:
1. The product is started by the same Service as `hole up`, so it runs
   as served: the daemon, gunicorn with the web side, the approved stubs.
2. The naive baseline runs under the web side's own gunicorn settings,
   on a socket bound the same way (an inherited fd).
3. Each server gets a port of its own, bound here, and is stopped (its
   whole session) when the benchmark ends, whatever happened.
"""

import contextlib
import dataclasses
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysside import jailed as jailed_mode
from sysside.bench import procs
from sysside.bench.workload import Workload
from sysside.daemon import prepare_spool
from sysside.service import Service, ServiceConfig, bind_listener
from sysside.state import StateDir

HOST = "127.0.0.1"
READY_TIMEOUT = 30.0
WEBHOOK = "/usr/bin/webhook"


class BenchSetupError(Exception):
    """A server of the benchmark did not start; the message holds its log."""


@dataclass(frozen=True)
class Product:
    """The running product: its port, the daemon's pid and limit, gunicorn's master pid."""

    port: int
    daemon_pid: int
    web_pid: int
    max_jobs: int
    jailed: bool

    def workers(self) -> list[int]:
        """gunicorn's worker pids (in the jail, gunicorn runs below the launcher)."""
        return procs.gunicorn_workers(self.web_pid)


@dataclass(frozen=True)
class Side:
    """A server started here: its port and process."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> list[int]:
        return procs.gunicorn_workers(self.process.pid)


@dataclass(frozen=True)
class Servers:
    product: Product
    naive: Side
    peer: Side | None


# ServiceConfig grows options as the product does (the daemon's job
# limit); the benchmark asks only for those this version has, and reports
# what it got (the limit as the daemon announces it).
_CONFIG_OPTIONS = {f.name for f in dataclasses.fields(ServiceConfig)}

Echo = Callable[[str], None]


@contextlib.contextmanager
def running(
    work: Workload,
    max_jobs: int | None = None,
    jailed: bool = False,
    peer: bool = True,
    echo: Echo = print,
    wake_latency: str = "0",
) -> Iterator[Servers]:
    """Start the three servers over `work`'s files; stop them all on the way out."""
    with contextlib.ExitStack() as stack:
        started = stack.enter_context(product(work, "state", max_jobs, jailed, echo, wake_latency))
        naive = stack.enter_context(_naive(work))
        webhook = stack.enter_context(_peer(work)) if peer else None
        yield Servers(started, naive, webhook)


@contextlib.contextmanager
def product(
    work: Workload,
    name: str,
    max_jobs: int | None = None,
    jailed: bool = False,
    echo: Echo = print,
    wake_latency: str = "0",
) -> Iterator[Product]:
    """The product, started by Service with its state in `work.root / name`; from the jail if `jailed`."""
    options: dict[str, Any] = {}
    if max_jobs is not None and "max_jobs" in _CONFIG_OPTIONS:
        options["max_jobs"] = max_jobs
    if "wake_latency" in _CONFIG_OPTIONS:
        options["wake_latency"] = wake_latency
    state = StateDir(work.root / name)
    state.prepare()
    with contextlib.ExitStack() as cleanup:
        setup = None
        if jailed:
            setup = jailed_mode.prepare(state, work.stubs_dir, echo)
            cleanup.callback(_unjail, setup)
            _share(work, setup.sys_user.gid)
        else:
            prepare_spool(state.spool)
        listener = bind_listener(HOST, 0)
        port = listener.getsockname()[1]
        config = ServiceConfig(
            state=state,
            jobs_file=work.jobs_file,
            host=HOST,
            port=port,
            stubs_dir=work.stubs_dir,
            jailed=setup,
            **options,
        )
        service = Service(config)
        service.start(listener)
        cleanup.callback(service.stop)
        sides = {side.name: side for side in service.sides}
        daemon, web = sides["daemon"], sides["web"]
        ready = daemon.event("daemon.ready") or {}
        limit = ready.get("max_jobs")
        if not isinstance(limit, int):
            raise BenchSetupError(f"the daemon's log {daemon.log_file} does not give its job limit")
        yield Product(port, daemon.process.pid, web.process.pid, limit, jailed)


def _share(work: Workload, gid: int) -> None:
    """Let the daemon's group (it runs as its own user in the jailed mode) read the job map and the data."""
    os.chown(work.root, 0, gid)
    os.chmod(work.root, 0o751)  # noqa: S103 (group: the daemon's own; others only pass through)
    os.chown(work.data_dir, 0, gid)
    os.chmod(work.data_dir, 0o750)  # noqa: S103 (group: the daemon's own)
    for path in [work.jobs_file, *work.data_dir.iterdir()]:
        os.chown(path, 0, gid)
        os.chmod(path, 0o640)


def _unjail(setup: jailed_mode.JailedSetup) -> None:
    """What the jailed mode made outside the state folder: the spool's mount, the control groups."""
    problems = jailed_mode.release(setup)
    if problems:
        raise BenchSetupError("; ".join(problems))


@contextlib.contextmanager
def _naive(work: Workload) -> Iterator[Side]:
    listener = bind_listener(HOST, 0)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:webside.gunicorn_conf", "--bind", f"fd://{fd}"]
    argv.append("sysside.bench.naive_app:app")
    env = {**os.environ, "HOLE_BENCH_DATA": str(work.data_dir)}
    try:
        side = _spawn(argv, env, work.root / "naive.log", port, (fd,))
    finally:
        listener.close()
    with _stopping(side):
        _wait_http(side, "GET", "/")
        yield side


@contextlib.contextmanager
def _peer(work: Workload) -> Iterator[Side]:
    port = _free_port()
    argv = [WEBHOOK, "-hooks", str(work.peer_hooks), "-ip", HOST, "-port", str(port)]
    side = _spawn(argv, dict(os.environ), work.root / "webhook.log", port, ())
    with _stopping(side):
        _wait_http(side, "GET", "/")
        yield side


def _spawn(argv: list[str], env: dict[str, str], log_path: Path, port: int, fds: tuple[int, ...]) -> Side:
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, pass_fds=fds, start_new_session=True
        )
    return Side(port, process, log_path)


@contextlib.contextmanager
def _stopping(side: Side) -> Iterator[None]:
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(side.process.pid, signal.SIGTERM)
        try:
            side.process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(side.process.pid, signal.SIGKILL)
            side.process.wait()


def _free_port() -> int:
    # For a server that binds its own socket: a port the kernel just chose
    # is free unless something takes it in the instant between.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_http(side: Side, method: str, path: str) -> None:
    """Wait until the server answers anything on its port."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if side.process.poll() is not None:
            break
        try:
            connection = http.client.HTTPConnection(HOST, side.port, timeout=5)
            connection.request(method, path)
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.05)
    log = side.log.read_text(encoding="utf-8", errors="replace")[-3000:]
    raise BenchSetupError(f"{side.process.args!r} did not answer on port {side.port}; its log says:\n{log}")
