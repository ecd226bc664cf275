"""The daemon's scheduling: real-time for itself when allowed, never for the programs a job runs."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hole import Status
from sysside.priority import make_realtime
from tests.conftest import DaemonFactory
from tests.sysside.helpers import write_map
from webside.client import HoleClient

pytestmark = pytest.mark.timeout(60)

# /proc/PID/stat after the ")" that ends the command name: field 3 is at
# index 0, so field N is at index N - 3 (proc(5)).
NICE, RT_PRIORITY, POLICY = 19 - 3, 40 - 3, 41 - 3

STAT_JOB = """\
[jobs.stat]
title = "A step's own scheduling"
steps = [
  { run = ["/bin/cat", "/proc/self/stat"] },
  { run = ["/bin/cat", "/proc/self/stat"] },
]
"""


def stat_fields(text: str) -> list[str]:
    return text.rsplit(")", 1)[1].split()


def ready_event(daemon_events: list[dict[str, object]]) -> dict[str, object]:
    return next(event for event in daemon_events if event.get("event") == "daemon.ready")


@pytest.mark.root
def test_daemon_runs_realtime_and_its_steps_at_normal_priority(tmp_path: Path, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(write_map(tmp_path / "jobs.toml", STAT_JOB))
    assert ready_event(daemon.events())["scheduling"] == "realtime"
    assert os.sched_getscheduler(daemon.process.pid) == os.SCHED_FIFO | os.SCHED_RESET_ON_FORK

    output, status = HoleClient(daemon.spool, timeout=10).run("stat", {})

    assert status.status is Status.OK, status
    fields = stat_fields(output.decode())
    assert (fields[POLICY], fields[RT_PRIORITY], fields[NICE]) == (str(os.SCHED_OTHER), "0", "0")


def test_no_realtime_leaves_the_daemon_at_normal_priority(tmp_path: Path, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(write_map(tmp_path / "jobs.toml", STAT_JOB), "--no-realtime")
    assert ready_event(daemon.events())["scheduling"] == "normal"
    assert os.sched_getscheduler(daemon.process.pid) == os.SCHED_OTHER
    output, status = HoleClient(daemon.spool, timeout=10).run("stat", {})
    assert status.status is Status.OK, status
    assert stat_fields(output.decode())[POLICY] == str(os.SCHED_OTHER)


def test_refused_realtime_is_said_and_the_daemon_serves(tmp_path: Path) -> None:
    jobs_file = write_map(tmp_path / "jobs.toml", STAT_JOB)
    argv = [sys.executable, "-m", "sysside", "daemon", "--spool", str(tmp_path / "spool"), "--jobs", str(jobs_file)]
    # Anyone may lower a limit: with RLIMIT_RTPRIO at 0 the daemon may not
    # raise its own priority, whatever this user's limit is.
    argv = ["/usr/bin/prlimit", "--rtprio=0", "--", *argv]
    if os.geteuid() == 0:
        # Root may always; without CAP_SYS_NICE it is refused like any other user.
        argv = ["/usr/bin/setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice", "--", *argv]
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
    try:
        text = wait_ready(log, process)
        assert '"scheduling": "normal (real-time refused: Operation not permitted)"' in text, text
        assert os.sched_getscheduler(process.pid) == os.SCHED_OTHER
        output, status = HoleClient(tmp_path / "spool", timeout=10).run("stat", {})
        assert status.status is Status.OK, status
        assert stat_fields(output.decode())[POLICY] == str(os.SCHED_OTHER)
    finally:
        process.terminate()
        process.wait(10)


def test_make_realtime_says_why_it_could_not() -> None:
    with subprocess.Popen(["/bin/sleep", "5"]) as sleeper:
        pid = sleeper.pid
        sleeper.kill()
    assert make_realtime(pid) == "No such process"


def wait_ready(log: Path, process: "subprocess.Popen[bytes]") -> str:
    deadline = time.monotonic() + 15
    while True:
        text = log.read_text(encoding="utf-8", errors="replace")
        if '"daemon.ready"' in text:
            return text
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the daemon did not start; log:\n{text}")
        time.sleep(0.02)
