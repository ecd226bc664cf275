"""What the kernel says about the benchmark's processes: memory, children, zombies.

Everything is read from /proc at the moment of the call; a process that
has gone in the meantime reads as absent (0 or left out), never as an error.
"""

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Proc:
    """One line of the process table: a pid, its parent and its state letter."""

    pid: int
    ppid: int
    state: str


def status_kb(pid: int, key: str) -> int:
    """A kB figure from /proc/PID/status (VmRSS, VmHWM...); 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def table() -> list[Proc]:
    """Every process on the machine that could be read."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as stat:
                raw = stat.read()
        except OSError:
            continue
        # The command name (in parentheses) may hold spaces and ')'; the
        # fields after its last ')' are fixed: state, then ppid.
        rest = raw[raw.rfind(")") + 2 :].split()
        if len(rest) >= 2:
            found.append(Proc(int(name), int(rest[1]), rest[0]))
    return found


def cmdline(pid: int) -> list[str]:
    """A process's argv; empty if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as raw:
            return [arg.decode("utf-8", "replace") for arg in raw.read().split(b"\0") if arg]
    except (FileNotFoundError, ProcessLookupError):
        return []


def gunicorn_workers(root: int) -> list[int]:
    """gunicorn's workers under `root`: gunicorn processes whose parent is a gunicorn process too."""
    family = descendants({root})
    found = [p for p in table() if p.pid in family]
    gunicorn = {p.pid for p in found if any("gunicorn" in arg for arg in cmdline(p.pid))}
    return sorted(p.pid for p in found if p.pid in gunicorn and p.ppid in gunicorn)


def descendants(roots: set[int]) -> set[int]:
    """`roots` and every process below them."""
    everyone = table()
    found = set(roots)
    grew = True
    while grew:
        below = {p.pid for p in everyone if p.ppid in found} - found
        found |= below
        grew = bool(below)
    return found


def zombies(roots: set[int]) -> list[int]:
    """Processes under `roots` that have exited but were not reaped by their parent."""
    family = descendants(roots)
    return sorted(p.pid for p in table() if p.ppid in family and p.state == "Z")
