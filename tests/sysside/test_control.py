"""hole start, stop and status on a real (unjailed) service."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HOLE = [sys.executable, "-m", "sysside"]


def hole(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HOLE, *args], capture_output=True, text=True, timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_status_stop(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert hole("status", "--state", str(state)).returncode == 3
    started = hole("start", "--state", str(state), "--unjailed", "--port", str(free_port()))
    try:
        assert started.returncode == 0, started.stderr
        assert "started http://127.0.0.1:" in started.stdout
        assert "NOT jailed" in started.stdout
        status = hole("status", "--state", str(state))
        assert status.returncode == 0, status.stdout + status.stderr
        assert "daemon  running" in status.stdout and "web     running" in status.stdout
        assert "daemon FIFO present" in status.stdout
        again = hole("start", "--state", str(state), "--unjailed", "--port", str(free_port()))
        assert again.returncode == 1 and "already running" in again.stderr
        pids = [int((state / "run" / f"{side}.pid").read_text()) for side in ("daemon", "web")]
    finally:
        stopped = hole("stop", "--state", str(state))
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped supervisor" in stopped.stdout
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)
    assert not list((state / "run").glob("*.pid"))
    assert hole("status", "--state", str(state)).returncode == 3
    assert hole("stop", "--state", str(state)).stdout.strip() == "not running"


def test_stop_without_a_supervisor_stops_the_sides(tmp_path: Path) -> None:
    state = tmp_path / "state"
    started = hole("start", "--state", str(state), "--unjailed", "--port", str(free_port()))
    assert started.returncode == 0, started.stderr
    supervisor = int((state / "run" / "supervisor.pid").read_text())
    pids = [int((state / "run" / f"{side}.pid").read_text()) for side in ("daemon", "web")]
    os.kill(supervisor, signal.SIGKILL)
    stopped = hole("stop", "--state", str(state))
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped web" in stopped.stdout and "stopped daemon" in stopped.stdout
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)


def test_start_reports_why_it_failed(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = hole("start", "--state", str(tmp_path / "state"), "--unjailed", "--port", str(port))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
