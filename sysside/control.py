"""Init-script control of a running service: what is running, and stopping it.

The service records itself in its state folder (see StateDir): a pid file
per process (supervisor, daemon, web) and run/service.json with the URL
and the mode. These functions only read those and signal pids they find
there, after checking that the pid still runs a program of ours.
"""

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hole.spool import DAEMON_FIFO
from sysside.state import StateDir

SIDES = ("supervisor", "daemon", "web")


@dataclass(frozen=True)
class SideStatus:
    """One process of the service as its pid file and /proc show it."""

    name: str
    pid: int | None
    running: bool
    stale_pid_file: bool


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def is_ours(pid: int) -> bool:
    """True if pid is alive and runs this project's Python program."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    if state == b"Z":
        return False
    text = b" ".join(argv)
    return b"sysside" in text or b"gunicorn" in text or b"hole" in text


def side_status(state: StateDir, name: str) -> SideStatus:
    pid = read_pid(state.pid_file(name))
    running = pid is not None and is_ours(pid)
    return SideStatus(name, pid, running, pid is not None and not running)


def _read_record(path: Path) -> dict[str, Any]:
    """A JSON object the service wrote, or {} if it is missing or damaged."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def service_info(state: StateDir) -> dict[str, Any]:
    return _read_record(state.run / "service.json")


def write_service_info(state: StateDir, info: dict[str, Any]) -> None:
    path = state.run / "service.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)


def clear_service_info(state: StateDir) -> None:
    for path in (state.run / "service.json", state.pid_file("supervisor")):
        path.unlink(missing_ok=True)


def last_audit(state: StateDir) -> dict[str, Any]:
    return _read_record(state.run / "audit.json")


def spool_fifo_present(spool: Path) -> bool:
    try:
        return os.path.exists(spool / DAEMON_FIFO) and (spool / DAEMON_FIFO).is_fifo()
    except OSError:
        return False


def stop_service(state: StateDir, timeout: float = 60.0) -> list[str]:
    """SIGTERM the supervisor (which stops both sides in order) and wait.

    Falls back to the sides' own pid files when no supervisor is running
    (it was killed): each is sent SIGTERM, then SIGKILL at the deadline.
    Returns one line per action taken.
    """
    done: list[str] = []
    supervisor = side_status(state, "supervisor")
    targets = [supervisor] if supervisor.running else [side_status(state, n) for n in ("web", "daemon")]
    for side in targets:
        if not side.running or side.pid is None:
            continue
        os.kill(side.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while is_ours(side.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if is_ours(side.pid):
            os.kill(side.pid, signal.SIGKILL)
            done.append(f"killed {side.name} (pid {side.pid}) after {timeout:g} s")
        else:
            done.append(f"stopped {side.name} (pid {side.pid})")
    for name in SIDES:
        path = state.pid_file(name)
        if path.exists() and not side_status(state, name).running:
            path.unlink()
    (state.run / "service.json").unlink(missing_ok=True)
    return done
