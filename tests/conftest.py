"""Fixtures shared by every test: the demo, and real daemon processes.

Daemons are started as real processes on a temporary spool, each in its
own session; a test that leaves one running still gets it killed.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol

import pytest

from sysside.demo import DemoPaths, init_demo

READY_TIMEOUT = 15.0


def cannot_run(needs: str) -> NoReturn:
    """Skip a test this machine cannot run, except under CI=true, where it fails.

    CI runs as root on a machine ./bootstrap has set up: a test that cannot
    run there is a broken CI, not a test to skip. `needs` says what is
    missing and how to get it.
    """
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, and this test cannot run: it needs {needs}")
    pytest.skip(f"needs {needs}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `root` needs root (see cannot_run)."""
    if item.get_closest_marker("root") is not None and os.geteuid() != 0:
        cannot_run("root (root tests run in CI)")


@dataclass
class RunningDaemon:
    """A `hole daemon` process started for a test."""

    spool: Path
    jobs_file: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    audit_path: Path | None = None
    extra: list[str] = field(default_factory=list)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The daemon's JSON log lines (and audit records), optionally one event name."""
        lines = self.log_text().splitlines()
        if self.audit_path is not None and self.audit_path.exists():
            lines += self.audit_path.read_text(encoding="utf-8").splitlines()
        found = []
        for line in lines:
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if name is None or record.get("event") == name:
                found.append(record)
        return found

    def audits(self) -> list[dict[str, Any]]:
        return self.events("job")

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until predicate(events) is true; return the events."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if predicate(events):
                return events
            if time.monotonic() > deadline:
                pytest.fail(f"daemon log never matched; log was:\n{self.log_text()}")
            time.sleep(0.02)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait, then SIGKILL the whole session; return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode


class DaemonFactory(Protocol):
    def __call__(self, jobs_file: Path, *extra: str, spool: Path | None = None) -> RunningDaemon: ...


def start_daemon(
    jobs_file: Path, workdir: Path, *extra: str, spool: Path | None = None, audit: bool = False
) -> RunningDaemon:
    """Start `hole daemon` and wait until it says it is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    spool = spool or workdir / "spool"
    log_path = workdir / "daemon.log"
    argv = [sys.executable, "-m", "sysside", "daemon", "--spool", str(spool), "--jobs", str(jobs_file), *extra]
    audit_path = None
    if audit:
        audit_path = workdir / "audit.log"
        argv += ["--audit-log", str(audit_path)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    daemon = RunningDaemon(spool, jobs_file, process, log_path, audit_path, list(extra))
    deadline = time.monotonic() + READY_TIMEOUT
    while '"daemon.ready"' not in daemon.log_text():
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            pytest.fail(f"daemon did not start (exit {process.returncode}); log:\n{daemon.log_text()}")
        time.sleep(0.01)
    return daemon


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    """The shipped demo, made once per test session."""
    return init_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[DaemonFactory]:
    """start(jobs_file, *extra_args, spool=None) -> RunningDaemon; all stopped at the end."""
    started: list[RunningDaemon] = []

    def start(jobs_file: Path, *extra: str, spool: Path | None = None) -> RunningDaemon:
        daemon = start_daemon(jobs_file, tmp_path / f"daemon{len(started)}", *extra, spool=spool)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
        if daemon.process.poll() is None:
            os.killpg(daemon.process.pid, signal.SIGKILL)


@pytest.fixture
def demo_daemon(demo: DemoPaths, daemon_factory: DaemonFactory) -> RunningDaemon:
    """A daemon serving the demo's job map on a fresh spool."""
    return daemon_factory(demo.jobs_file)
