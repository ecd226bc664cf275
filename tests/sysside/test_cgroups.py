"""Per-job control groups (`hole daemon --cgroup`): where steps run, what bounds them, who is left.

As root, on whichever cgroup version the machine has. Each step joins
the job's group before its exec (or, without the daemon's C spawner, the
daemon moves itself in and back out around the spawn), so a step is
confined from its first instruction; these tests read where the steps and
the daemon really are.
"""

import json
import subprocess
import time
from pathlib import Path

import pytest

from sysside.cgroups import Group, detect, pids_in
from tests.conftest import DaemonFactory, RunningDaemon
from tests.sysside.conftest import cgroup_lines
from webside.client import HoleClient

pytestmark = pytest.mark.root

MEMORY = 64 * 1024 * 1024
PROCESSES = 8
# Forks until refused (or 30 times); each child waits to be killed. Prints the count.
FORKER = (
    "import os, time\n"
    "count = 0\n"
    "for _ in range(30):\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError:\n"
    "        break\n"
    "    if pid == 0:\n"
    "        time.sleep(30)\n"
    "        os._exit(0)\n"
    "    count += 1\n"
    "print(count)\n"
)
# Leaves a child in a session of its own (out of reach of the step's process
# group) that holds the job's output open; prints that child's pid.
ESCAPER = (
    "import os, time\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.setsid()\n"
    "    time.sleep(30)\n"
    "    os._exit(0)\n"
    "print(pid, flush=True)\n"
)

MAP = f"""
[defaults.limits]
memory = {MEMORY}
processes = {PROCESSES}

[jobs.where]
title = "where"
steps = [ {{ run = ["/bin/cat", "/proc/self/cgroup"] }}, {{ run = ["/bin/cat", "/proc/self/cgroup"] }} ]

[jobs.escaper]
title = "escaper"
steps = [ {{ run = ["/usr/bin/python3", "-I", "-c", {json.dumps(ESCAPER)}] }} ]

[jobs.forker]
title = "forker"
steps = [ {{ run = ["/usr/bin/python3", "-I", "-c", {json.dumps(FORKER)}] }} ]
"""


@pytest.fixture
def grouped_daemon(tmp_path: Path, daemon_factory: DaemonFactory, jobs_group: str) -> RunningDaemon:
    """A daemon serving MAP with --cgroup on the test's own group."""
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(MAP, encoding="utf-8")
    return daemon_factory(jobs, "--cgroup", jobs_group)


def test_a_step_runs_in_a_slot_of_the_jobs_group_with_the_jobs_limits(
    grouped_daemon: RunningDaemon, jobs_group: str
) -> None:
    daemon = grouped_daemon
    home = Path(f"/proc/{daemon.process.pid}/cgroup").read_text(encoding="ascii")
    names = ("unified",) if detect() == "v2" else ("memory", "pids")
    client = HoleClient(daemon.spool)
    for _ in range(3):
        # The second (last) step's output: it was placed after the first.
        output, status = client.run("where", {})
        assert status.ok, status
        placed = cgroup_lines(output.decode())
        for name in names:
            parent, slot = placed[name].rsplit("/", 1)
            assert (parent, slot[:4]) == (f"/{jobs_group}", "slot"), placed
        group = Group.at(placed[names[0]].lstrip("/"))
        assert group is not None
        limits = group.limits()
        assert str(MEMORY) in (limits.get("memory/memory.limit_in_bytes"), limits.get("unified/memory.max"))
        assert str(PROCESSES) in (limits.get("pids/pids.max"), limits.get("unified/pids.max"))
        # Between jobs the daemon is back where it started.
        assert Path(f"/proc/{daemon.process.pid}/cgroup").read_text(encoding="ascii") == home


def test_the_pids_limit_bounds_a_job_and_its_leftovers_are_killed(
    grouped_daemon: RunningDaemon, jobs_group: str
) -> None:
    output, status = HoleClient(grouped_daemon.spool).run("forker", {})
    assert status.ok, status
    forked = int(output.decode())
    # Root is exempt from RLIMIT_NPROC: the group's pids.max is what stops
    # it, counting the step itself.
    assert 0 < forked < PROCESSES
    root = Group.at(jobs_group)
    assert root is not None
    slots = [path for path in root.dirs[next(iter(root.dirs))].iterdir() if path.name.startswith("slot")]
    assert slots
    # SIGKILL is sent when the step ends; a killed process leaves its group
    # when it has finished exiting, a moment later.
    deadline = time.monotonic() + 5
    for path in slots:
        slot = root.child(path.name)
        while pids_in(slot) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(pids_in(slot)) == [], f"{path.name} still holds the forked children"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_child_that_left_the_steps_session_is_killed_when_the_step_ends(grouped_daemon: RunningDaemon) -> None:
    # Only the control group still holds it: the step's own process group
    # does not. It holds the output open, so the job ends only once it is
    # killed.
    started = time.monotonic()
    output, status = HoleClient(grouped_daemon.spool).run("escaper", {})
    assert status.ok, status
    assert time.monotonic() - started < 10
    escaped = int(output.decode())
    deadline = time.monotonic() + 5
    while _alive(escaped) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(escaped)


def test_task_count_counts_the_groups_tasks(jobs_group: str) -> None:
    root = Group.at(jobs_group)
    assert root is not None
    slot = root.child("counted")
    slot.create()
    sleeper = subprocess.Popen(["/bin/sleep", "30"])
    try:
        assert slot.task_count() == 0
        slot.add(sleeper.pid)
        assert slot.task_count() == 1
        sleeper.kill()
        sleeper.wait()
        assert slot.task_count() == 0
    finally:
        sleeper.kill()
        sleeper.wait()
        slot.close()
