"""The daemon's CPU wake-latency request (sysside/wakelatency.py), read back from the kernel.

Reading /dev/cpu_dma_latency gives the request in force for the whole
machine (the smallest of all held); these tests expect nothing else on the
machine to hold one.
"""

import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sysside.wakelatency import DEVICE, HOLD, NO_CONSTRAINT, parse_setting, requested
from tests.conftest import DaemonFactory, cannot_run
from webside.client import HoleClient

BAD = ("--wake-latency", "soon")
MAP = """
[jobs.quick]
title = "quick"
steps = [ { run = ["/bin/true"] } ]

[jobs.peek]
title = "peek"
fields.fd = { type = "digits", max = 4, required = true }
steps = [ { run = ["/bin/cat", "{fd}"], cwd = "/proc/self/fdinfo" } ]

[jobs.long]
title = "long"
timeout = "10s"
steps = [ { run = ["/bin/sleep", "1.2"] } ]
"""


def test_settings_are_off_or_microseconds() -> None:
    assert parse_setting("off") is None
    assert parse_setting(" OFF ") is None
    assert parse_setting("0") == 0
    assert parse_setting("20") == 20
    for bad in ("-1", "fast", "", str(NO_CONSTRAINT)):
        with pytest.raises(ValueError):
            parse_setting(bad)


@pytest.fixture
def in_force() -> Iterator[Callable[[], int]]:
    """Reads the request in force; skips (fails under CI) without root or the device."""
    if os.geteuid() != 0:
        cannot_run("root, to read /dev/cpu_dma_latency")
    try:
        fd = os.open(DEVICE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        cannot_run(f"{DEVICE} ({exc.strerror})")

    def read() -> int:
        value: int = struct.unpack("=i", os.pread(fd, 4, 0))[0]
        return value

    if read() != NO_CONSTRAINT:
        os.close(fd)
        cannot_run("a machine where nothing else holds a CPU latency request")
    yield read
    os.close(fd)


def _jobs(folder: Path) -> Path:
    jobs = folder / "jobs.toml"
    jobs.write_text(MAP, encoding="utf-8")
    return jobs


def _wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return bool(check())


def test_the_daemon_asks_from_a_jobs_start_and_lets_go_after(
    in_force: Callable[[], int], daemon_factory: DaemonFactory, tmp_path: Path
) -> None:
    daemon = daemon_factory(_jobs(tmp_path), "--wake-latency", "7")
    ready = daemon.events("daemon.ready")[-1]
    assert ready["wake_latency"] == f"7 µs from each job's start until {HOLD:g} s after the latest"
    assert in_force() == NO_CONSTRAINT  # no job yet
    client = HoleClient(daemon.spool, timeout=10)
    _, status = client.run("quick", {})
    assert status.ok, status
    assert in_force() == 7
    assert _wait_until(lambda: in_force() == NO_CONSTRAINT, HOLD + 1.0)
    # A long job: asked for at its start, let go while it still runs.
    with client.submit("long", {}) as job:
        assert job.wait_meta() is not None
        assert in_force() == 7
        time.sleep(HOLD + 0.3)
        assert in_force() == NO_CONSTRAINT
        job.read_all()
        assert job.status is not None and job.status.ok, job.status


def test_off_asks_nothing(in_force: Callable[[], int], daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    daemon = daemon_factory(_jobs(tmp_path), "--wake-latency", "off")
    assert daemon.events("daemon.ready")[-1]["wake_latency"] == "off"
    with HoleClient(daemon.spool, timeout=10).submit("long", {}) as job:
        assert job.wait_meta() is not None
        assert in_force() == NO_CONSTRAINT
        job.read_all()


def test_a_stopped_daemon_holds_nothing(
    in_force: Callable[[], int], daemon_factory: DaemonFactory, tmp_path: Path
) -> None:
    daemon = daemon_factory(_jobs(tmp_path), "--wake-latency", "3")
    _, status = HoleClient(daemon.spool, timeout=10).run("quick", {})
    assert status.ok
    assert in_force() == 3
    assert daemon.stop() == 0
    assert in_force() == NO_CONSTRAINT


def test_the_bench_holds_its_request_for_the_block_only(in_force: Callable[[], int]) -> None:
    with requested(5) as said:
        assert said.startswith("5 µs asked of the kernel")
        assert in_force() == 5
    assert in_force() == NO_CONSTRAINT
    with requested(None) as said:
        assert "not requested" in said
        assert in_force() == NO_CONSTRAINT


def test_a_bad_setting_is_refused_in_one_line(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "sysside", "daemon", "--spool", str(tmp_path / "spool"), "--jobs", str(jobs), *BAD],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "--wake-latency" in done.stderr and "'soon'" in done.stderr


def test_a_handed_over_request_reaches_no_step(in_force: Callable[[], int], tmp_path: Path) -> None:
    # As `hole up` does: root opens the device and the daemon inherits it.
    latency_fd = os.open(DEVICE, os.O_WRONLY | os.O_CLOEXEC)
    log_path = tmp_path / "daemon.log"
    argv = [sys.executable, "-m", "sysside", "daemon", "--spool", str(tmp_path / "spool")]
    argv += ["--jobs", str(_jobs(tmp_path)), "--wake-latency", "9", "--wake-latency-fd", str(latency_fd)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=log, pass_fds=(latency_fd,), start_new_session=True)
    os.close(latency_fd)
    try:
        assert _wait_until(lambda: b'"daemon.ready"' in log_path.read_bytes(), 15), log_path.read_text()
        client = HoleClient(tmp_path / "spool", timeout=10)
        _, status = client.run("quick", {})
        assert status.ok, status
        assert in_force() == 9
        # The step looks for the daemon's fd number among its own: absent.
        output, status = client.run("peek", {"fd": str(latency_fd)})
        assert not status.ok and status.details.get("exit") == 1, (status, output)
    finally:
        process.terminate()
        process.wait(15)
    assert in_force() == NO_CONSTRAINT


def test_a_handed_over_fd_that_is_not_the_device_is_refused(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        argv = [sys.executable, "-m", "sysside", "daemon", "--spool", str(tmp_path / "spool")]
        argv += ["--jobs", str(_jobs(tmp_path)), "--wake-latency-fd", str(write_end)]
        done = subprocess.run(argv, pass_fds=(write_end,), capture_output=True, text=True, timeout=30, check=False)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert done.returncode != 0
    assert f"--wake-latency-fd {write_end} is not {DEVICE}" in done.stderr, done.stderr
