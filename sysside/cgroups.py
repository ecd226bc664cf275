"""Control groups for memory and process-count limits, on cgroup v1 or v2.

Rules:
1. A group here is a pair of directories on v1 (one under the memory
   hierarchy, one under pids) or one directory on v2; `Group` hides which.
2. Root makes the service's tree and hands the jobs' subtree to the
   daemon's user (owner of the directories and of the files that move
   processes), so the daemon needs no privilege to place its steps.
3. Limits are written once per group; moving a process in is one write
   per hierarchy, to a cgroup.procs kept open: each step moves itself in
   before its exec (or, without the daemon's own spawner, the daemon moves
   itself in and out around the spawn), and opening the files each time
   cost more than the writes.
"""

import contextlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids")


def _v2_root() -> Path | None:
    for candidate in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        controllers = candidate / "cgroup.controllers"
        try:
            available = controllers.read_text(encoding="ascii").split()
        except OSError:
            continue
        if {"memory", "pids"} <= set(available):
            return candidate
    return None


def _v1_roots() -> dict[str, Path] | None:
    roots = {name: CGROUP_ROOT / name for name in V1_CONTROLLERS}
    if all((path / "cgroup.procs").exists() for path in roots.values()):
        return roots
    return None


def detect() -> str:
    """ "v2", "v1", or "" when neither offers both memory and pids."""
    if _v2_root() is not None:
        return "v2"
    if _v1_roots() is not None:
        return "v1"
    return ""


@dataclass(frozen=True)
class Group:
    """One control group: its directory in each hierarchy it lives in."""

    dirs: dict[str, Path]
    version: str
    # cgroup.procs of each hierarchy, opened for writing on first use.
    _procs: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    # pids.current, opened for reading on first use (-1 once it is known missing).
    _count: list[int] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def at(cls, relative: str) -> "Group | None":
        """The group at this path below the roots (not created); None without cgroups."""
        v2 = _v2_root()
        if v2 is not None:
            return cls({"unified": v2 / relative}, "v2")
        v1 = _v1_roots()
        if v1 is not None:
            return cls({name: root / relative for name, root in v1.items()}, "v1")
        return None

    def create(self) -> None:
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        if self.version == "v2":
            # A v2 parent hands its controllers to its children explicitly.
            parent = self.dirs["unified"].parent
            control = parent / "cgroup.subtree_control"
            # Already delegated, or not ours to change: the limits below
            # then fail loudly if the controllers are missing.
            with contextlib.suppress(OSError):
                control.write_text("+memory +pids", encoding="ascii")

    def child(self, name: str) -> "Group":
        return Group({key: path / name for key, path in self.dirs.items()}, self.version)

    def set_limits(self, memory: int | None, pids: int | None) -> None:
        if self.version == "v2":
            base = self.dirs["unified"]
            if memory is not None:
                (base / "memory.max").write_text(str(memory), encoding="ascii")
                _write_if_present(base / "memory.swap.max", "0")
            if pids is not None:
                (base / "pids.max").write_text(str(pids), encoding="ascii")
            return
        if memory is not None:
            (self.dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory), encoding="ascii")
            _write_if_present(self.dirs["memory"] / "memory.memsw.limit_in_bytes", str(memory))
        if pids is not None:
            (self.dirs["pids"] / "pids.max").write_text(str(pids), encoding="ascii")

    def add(self, pid: int) -> None:
        """Move a process in; raise OSError if the kernel refuses."""
        text = str(pid).encode()
        for fd in self.procs_fds():
            os.write(fd, text)

    def procs_fds(self) -> list[int]:
        """cgroup.procs of each hierarchy, open for writing (a process that
        writes "0" there moves itself in); raise OSError if one cannot be opened."""
        if len(self._procs) != len(self.dirs):
            for key, path in self.dirs.items():
                if key not in self._procs:
                    self._procs[key] = os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        return list(self._procs.values())

    def task_count(self) -> int | None:
        """How many tasks the group holds now (threads and unreaped zombies
        count), from pids.current; None when that cannot be read.

        One read of a file kept open: listing cgroup.procs instead makes the
        kernel build and sort a pid list, about ten times dearer.
        """
        if not self._count:
            pids = self.dirs.get("pids", self.dirs.get("unified"))
            try:
                self._count.append(os.open(pids / "pids.current", os.O_RDONLY | os.O_CLOEXEC) if pids else -1)
            except OSError:
                self._count.append(-1)
        fd = self._count[0]
        if fd < 0:
            return None
        try:
            return int(os.pread(fd, 32, 0))
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        """Close the files add() and task_count() keep open."""
        for fd in [*self._procs.values(), *self._count]:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._procs.clear()
        self._count.clear()

    def kill(self) -> int:
        """SIGKILL every process in the group (escaped children too); return how many."""
        if self.version == "v2" and (self.dirs["unified"] / "cgroup.kill").exists():
            (self.dirs["unified"] / "cgroup.kill").write_text("1", encoding="ascii")
            return -1
        killed = 0
        for pid in pids_in(self):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        return killed

    @classmethod
    def of_self(cls) -> "Group | None":
        """The groups this process is in now, in the hierarchies this module uses."""
        try:
            lines = Path("/proc/self/cgroup").read_text(encoding="ascii").splitlines()
        except OSError:
            return None
        paths: dict[str, str] = {}
        for line in lines:
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else ["unified"]:
                paths[name] = path.lstrip("/")
        v2 = _v2_root()
        if v2 is not None and "unified" in paths:
            return cls({"unified": v2 / paths["unified"]}, "v2")
        v1 = _v1_roots()
        if v1 is not None and all(name in paths for name in V1_CONTROLLERS):
            return cls({name: root / paths[name] for name, root in v1.items()}, "v1")
        return None

    def writable(self) -> bool:
        return all(os.access(path / "cgroup.procs", os.W_OK) for path in self.dirs.values())

    def hand_to(self, uid: int, gid: int) -> None:
        """Let uid make child groups here and move its processes in."""
        for path in self.dirs.values():
            os.chown(path, uid, gid)
            for name in ("cgroup.procs", "tasks", "cgroup.subtree_control"):
                target = path / name
                if target.exists():
                    os.chown(target, uid, gid)

    def limits(self) -> dict[str, str]:
        """The limits in force, for status reports and tests."""
        found: dict[str, str] = {}
        for key, path in self.dirs.items():
            for name in ("memory.max", "memory.limit_in_bytes", "pids.max"):
                target = path / name
                if target.exists():
                    found[f"{key}/{name}"] = target.read_text(encoding="ascii").strip()
        return found

    def remove(self) -> None:
        """Remove this group and its children (they must hold no process)."""
        for path in self.dirs.values():
            if not path.exists():
                continue
            for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                child.rmdir()
            path.rmdir()


def _write_if_present(path: Path, value: str) -> None:
    # Swap accounting is often compiled out; the memory limit still holds.
    with contextlib.suppress(OSError):
        path.write_text(value, encoding="ascii")


def pids_in(group: Group) -> Iterable[int]:
    for path in group.dirs.values():
        text = (path / "cgroup.procs").read_text(encoding="ascii")
        return [int(line) for line in text.split()]
    return []
