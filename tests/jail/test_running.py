"""`hole up` as root, for real: the web side served from the jail, the daemon as its own user.

One `python -m sysside up` runs for the whole module (building the jail
takes a few seconds); the last test stops it with SIGTERM. What each side
runs as is read from the host's /proc, not from what the service says.
"""

import contextlib
import os
import pwd
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sysside.cgroup_tuning import FEATURES, MOUNTINFO, OPTION, cgroup2_mounts
from sysside.cgroups import Group
from sysside.demo import EXAMPLE_JOB
from sysside.jail.layout import SPOOL
from sysside.jailed import cgroup_base
from sysside.state import StateDir
from sysside.wakelatency import DEVICE, HOLD
from tests.jail.support import unmount_under
from tests.sysside.helpers import wait_gone
from tests.sysside.test_up import (
    STOP_TIMEOUT,
    InputValues,
    RunningUp,
    child_env,
    demo_account,
    fast_tmp_dir,
    fetch,
    free_port,
    opener,
)

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]

LAYERS = ("namespaces", "root", "ids", "landlock", "cgroups", "seccomp")


def proc_status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a mapping of field to value."""
    text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def parent_of(pid: int) -> int:
    # The command name may hold spaces and parentheses: the fields after the last ")".
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    """Every live process under `root`, by walking the host's /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry)] = parent_of(int(entry))
    found: list[int] = []
    frontier = [root]
    while frontier:
        current = frontier.pop()
        children = [pid for pid, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return sorted(found)


def uid_of(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


@pytest.fixture(scope="module")
def jailed_up() -> Iterator[RunningUp]:
    """`hole up` as root (so jailed), on a free port, up and serving."""
    folder = fast_tmp_dir()
    # mkdtemp's 0700 would keep the daemon's user out of the state folder.
    folder.chmod(0o755)
    logs = folder / "logs"
    logs.mkdir()
    port = free_port()
    state = folder / "state"
    argv = [sys.executable, "-m", "sysside", "up", "--state", str(state), "--port", str(port)]
    with open(logs / "up.out", "wb") as out, open(logs / "up.err", "wb") as err:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env(), start_new_session=True
        )
    up = RunningUp(state, port, process, logs / "up.out", logs / "up.err")
    try:
        up.wait_ready()
        yield up
    finally:
        up.stop()
        unmount_under(folder)
        subprocess.run(["rm", "-rf", "--", str(folder)], check=False)


def web_processes(up: RunningUp) -> list[int]:
    """The jailed processes: everything under the launcher that `hole up` wrote as the web side."""
    return descendants(up.side_pids()["web"])


def test_serves_from_the_jail_without_the_banner(jailed_up: RunningUp) -> None:
    status, page = fetch(opener(), jailed_up.url)
    assert status == 200
    assert "Not jailed" not in page
    assert 'href="/r/b12"' in page
    assert "NOT JAILED" not in jailed_up.stdout()
    assert "jailed   web side in" in jailed_up.stdout()


def test_runs_b12_end_to_end_through_the_jail(jailed_up: RunningUp) -> None:
    job, fields = EXAMPLE_JOB
    client = opener()
    status, form_page = fetch(client, f"{jailed_up.url}r/{job}")
    assert status == 200
    parser = InputValues()
    parser.feed(form_page)
    token = parser.values.get("csrf_token", "")
    assert token, f"no csrf_token on the form:\n{form_page}"

    status, result = fetch(client, f"{jailed_up.url}r/{job}", {"csrf_token": token, **fields})

    assert status == 200, jailed_up.output()
    name, department = demo_account(jailed_up.state, fields["account"])
    assert "BUDGET REPORT 12" in result, result
    assert f"Account:     {fields['account']}  {name}" in result
    assert f"Department:  {department}" in result
    assert 'id="done"' in result and "The report ended with an error." not in result


def test_says_what_it_did_to_cgroup2_favordynmods(jailed_up: RunningUp) -> None:
    # What hole up did as root before serving goes to stderr.
    said = [line for line in jailed_up.stderr().splitlines() if line.startswith("cgroups: favordynmods: ")]
    assert len(said) == 1, jailed_up.output()
    offered = OPTION in FEATURES.read_text(encoding="ascii").split()
    mounts = cgroup2_mounts(MOUNTINFO.read_text(encoding="utf-8"))
    if offered and mounts:
        # Turned on now or by an earlier run: either way it is on.
        assert any(OPTION in found.super_options for found in mounts), said


def test_the_daemon_under_its_own_user_asks_for_quick_wake_ups(jailed_up: RunningUp) -> None:
    # Root opened the request for it; it says so when ready, and `hole up` repeats it.
    said = [line for line in jailed_up.stdout().splitlines() if line.startswith("  daemon   ")]
    assert len(said) == 1, jailed_up.output()
    assert "steps started by vfork (sysside._spawn)" in said[0], said
    assert f"CPU wake latency: 0 µs from each job's start until {HOLD:g} s after the latest" in said[0], said
    pid = int((jailed_up.state / "run" / "daemon.pid").read_text(encoding="ascii"))
    held = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    assert DEVICE in held, held


def test_the_daemon_is_out_of_its_steps_reach(jailed_up: RunningUp) -> None:
    # Its steps run as holesys too. Undumpable, the daemon's /proc entries
    # belong to root, so a step can neither trace it nor take its fds
    # (pidfd_getfd, /proc/PID/fd): that fd directory would be holesys's.
    pid = int((jailed_up.state / "run" / "daemon.pid").read_text(encoding="ascii"))
    assert int(proc_status(pid)["Uid"].split()[0]) == uid_of("holesys")
    assert os.stat(f"/proc/{pid}/fd").st_uid == 0


def test_daemon_runs_as_holesys_with_no_new_privs(jailed_up: RunningUp) -> None:
    pid = int((jailed_up.state / "run" / "daemon.pid").read_text(encoding="ascii"))
    status = proc_status(pid)
    holesys = uid_of("holesys")
    assert [int(uid) for uid in status["Uid"].split()] == [holesys] * 4
    assert status["NoNewPrivs"] == "1", status
    assert status["CapEff"] == "0000000000000000"
    # Its own user could not ask for it: root gave it real-time priority.
    assert os.sched_getscheduler(pid) == os.SCHED_FIFO | os.SCHED_RESET_ON_FORK


def test_web_side_runs_as_holeweb_confined_in_its_own_pid_namespace(jailed_up: RunningUp) -> None:
    holeweb = uid_of("holeweb")
    host_ns = os.readlink("/proc/self/ns/pid")
    jailed = web_processes(jailed_up)
    # The launcher's child (pid 1 inside), gunicorn's arbiter and its workers.
    assert len(jailed) >= 2, f"no jailed gunicorn under the launcher: {jailed}"
    for pid in jailed:
        status = proc_status(pid)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "gunicorn" in cmdline, cmdline
        assert [int(uid) for uid in status["Uid"].split()] == [holeweb] * 4, (pid, status["Uid"])
        assert status["Groups"].strip() == "", (pid, status["Groups"])
        assert status["NoNewPrivs"] == "1", pid
        assert status["Seccomp"] == "2", pid
        assert status["CapEff"] == "0000000000000000", pid
        assert os.readlink(f"/proc/{pid}/ns/pid") != host_ns, pid
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net"), pid


def test_status_exits_0_and_lists_the_layers(jailed_up: RunningUp) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sysside", "status", "--state", str(jailed_up.state)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "jailed" in done.stdout
    for layer in LAYERS:
        assert f"layer   {layer}:" in done.stdout, done.stdout


def test_sigterm_stops_every_process_of_both_users(jailed_up: RunningUp) -> None:
    """Last in the module: it stops the service the other tests share."""
    sides = jailed_up.side_pids()
    started = [*sides.values(), *web_processes(jailed_up)]
    ours = {uid_of("holeweb"), uid_of("holesys")}
    os.killpg(jailed_up.process.pid, signal.SIGTERM)
    assert jailed_up.wait_exit() == 0, jailed_up.output()
    for pid in started:
        assert wait_gone(pid, STOP_TIMEOUT), f"pid {pid} outlived hole up:\n{jailed_up.output()}"
    jail = str(jailed_up.state / "jail")
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if int(proc_status(int(entry))["Uid"].split()[0]) not in ours:
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            if str(jailed_up.state).encode() in cmdline or os.readlink(f"/proc/{entry}/root") == jail:
                left.append(entry)
    assert left == [], f"processes of the service left: {left}"
    assert sorted(path.name for path in (jailed_up.state / "run").glob("*.pid")) == []
    # Nor anything outside the state folder: the spool's tmpfs, the control groups.
    assert not os.path.ismount(jailed_up.state / "jail" / SPOOL), jailed_up.output()
    groups = Group.at(cgroup_base(StateDir(jailed_up.state)))
    assert groups is None or not any(path.exists() for path in groups.dirs.values()), jailed_up.output()
