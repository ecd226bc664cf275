"""Starting a step (sysside/spawn.py), with the daemon's own spawner and without it.

Every test runs with both spawners: the C one (sysside/_spawn.c) and the
os.posix_spawn fallback used when it was not built. What a step may
observe about itself is read from inside it (/proc/self), right after its
exec, so a limit set too late would show.
"""

import fcntl
import os
import pty
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sysside import spawn
from sysside.cgroups import Group
from tests.conftest import cannot_run
from tests.sysside.conftest import cgroup_lines

CAT = shutil.which("cat", path="/usr/bin:/bin") or "/bin/cat"
ENV = "/usr/bin/env"
STANDARD_SIGNALS = (1 << 31) - 1
LIMITS = [
    (resource.RLIMIT_CPU, 7),
    (resource.RLIMIT_AS, 512 * 1024**2),
    (resource.RLIMIT_NOFILE, 32),
    (resource.RLIMIT_NPROC, 99),
    (resource.RLIMIT_FSIZE, 1024**2),
]


@pytest.fixture(params=["native", "posix_spawn"])
def spawner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "native":
        if spawn._native is None:
            cannot_run("the daemon's C spawner (built by `pip install -e .` with a C compiler and Python's headers)")
    else:
        monkeypatch.setattr(spawn, "_native", None)
    return str(request.param)


class Step:
    """A step started with a pipe for stdout and stderr each; run() reaps it."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def run(
        self,
        program: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        limits: list[tuple[int, int]] | None = None,
        cwd: str | None = None,
        groups: tuple[Group, Group] | None = None,
    ) -> tuple[int, bytes, bytes]:
        stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        out_read, out_write = os.pipe2(os.O_CLOEXEC)
        err_read, err_write = os.pipe2(os.O_CLOEXEC)
        self.fds += [stdin, out_read, out_write, err_read, err_write]
        pid = spawn.spawn_step(program, argv, env or {}, (stdin, out_write, err_write), limits or [], cwd, groups)
        os.close(out_write)
        os.close(err_write)
        self.fds.remove(out_write)
        self.fds.remove(err_write)
        output = _read_all(out_read)
        errors = _read_all(err_read)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), output, errors

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


@pytest.fixture
def step() -> Iterator[Step]:
    started = Step()
    yield started
    started.close()


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _status_field(status_text: bytes, name: str) -> int:
    for line in status_text.decode().splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.strip(), 16)
    raise AssertionError(f"no {name} in /proc/self/status")


def test_the_native_spawner_is_built_where_the_tests_run() -> None:
    if spawn._native is None:
        cannot_run("the daemon's C spawner (built by `pip install -e .` with a C compiler and Python's headers)")
    assert spawn.spawner_name().startswith("vfork")


def test_a_step_gets_its_fds_its_environment_and_a_process_group_of_its_own(spawner: str, step: Step) -> None:
    code, output, errors = step.run(ENV, [ENV], {"ONLY": "this", "LANG": "C"})
    assert (code, errors) == (0, b"")
    assert sorted(output.decode().splitlines()) == ["LANG=C", "ONLY=this"]
    code, output, _ = step.run(sys.executable, [sys.executable, "-c", WHERE_AM_I], {"SPAWNER_SID": str(os.getsid(0))})
    leader, own_session, same_session, terminal = output.decode().split()
    assert (code, leader, terminal) == (0, "True", "False")
    # A session of its own only when the test runs in a terminal (rule 5).
    assert own_session == str(spawn.steps_get_sessions())
    assert same_session == str(not spawn.steps_get_sessions())


# What a step says of its process group, its session (its own, or the
# spawner's: SPAWNER_SID), and whether it can open a controlling terminal.
WHERE_AM_I = """\
import os
try:
    os.close(os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY))
    terminal = True
except OSError:
    terminal = False
print(os.getpgrp() == os.getpid(), os.getsid(0) == os.getpid(),
      str(os.getsid(0)) == os.environ.get("SPAWNER_SID"), terminal)
"""

# Run by the tests below as the spawner: spawns WHERE_AM_I with the spawner
# named by argv[1] and passes its line on.
SPAWNER = """\
import os, sys
from sysside import spawn
if sys.argv[1] == "posix_spawn":
    spawn._native = None
read, write = os.pipe2(os.O_CLOEXEC)
devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
env = {"SPAWNER_SID": str(os.getsid(0))}
cwd = sys.argv[3] or None  # with a cwd, the fallback takes subprocess.Popen
argv = [sys.executable, "-c", sys.argv[2]]
pid = spawn.spawn_step(sys.executable, argv, env, (devnull, write, write), [], cwd)
os.close(write)
line = os.read(read, 4096)
os.waitpid(pid, 0)
print("STEP", line.decode().strip(), flush=True)
"""


@pytest.fixture(params=["no cwd", "a cwd"])
def cwd(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "" if request.param == "no cwd" else str(tmp_path)


def test_a_spawner_without_a_terminal_keeps_its_steps_in_its_session(spawner: str, cwd: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SPAWNER, spawner, WHERE_AM_I, cwd],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    assert done.stdout.split() == ["STEP", "True", "False", "True", "False"], done.stderr


def test_a_spawner_in_a_terminal_gives_each_step_a_session_without_it(spawner: str, cwd: str) -> None:
    if not os.path.exists("/dev/ptmx"):
        cannot_run("a pseudo-terminal (/dev/ptmx)")
    pid, terminal = pty.fork()
    if pid == 0:
        # The child leads a new session whose controlling terminal is the pty.
        os.execv(sys.executable, [sys.executable, "-c", SPAWNER, spawner, WHERE_AM_I, cwd])
    said = b""
    deadline = time.monotonic() + 30
    try:
        while select.select([terminal], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(terminal, 4096)
            if not chunk:
                break
            said += chunk
    except OSError:
        pass  # EIO: the child closed its end
    finally:
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
        os.close(terminal)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, said
    lines = [line.split() for line in said.decode().splitlines() if line.startswith("STEP")]
    assert lines == [["STEP", "True", "True", "False", "False"]], said


def _limits_rows(text: str) -> dict[str, list[str]]:
    return {line[:26].strip(): line[26:].split()[:2] for line in text.splitlines()[1:]}


EXPECTED_LIMITS = {
    "Max cpu time": ["7", "7"],
    "Max address space": [str(512 * 1024**2)] * 2,
    "Max open files": ["32", "32"],
    "Max processes": ["99", "99"],
    "Max file size": [str(1024**2)] * 2,
}


def test_a_steps_limits_are_in_force_when_spawn_returns(spawner: str) -> None:
    # cat waits on a stdin this test holds open, and is read from outside.
    stdin_read, stdin_write = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        pid = spawn.spawn_step(CAT, [CAT], {}, (stdin_read, devnull, devnull), LIMITS)
        try:
            rows = _limits_rows(Path(f"/proc/{pid}/limits").read_text(encoding="ascii"))
        finally:
            os.close(stdin_write)
            stdin_write = -1
            os.waitpid(pid, 0)
    finally:
        for fd in (stdin_read, stdin_write, devnull):
            if fd >= 0:
                os.close(fd)
    assert {name: rows[name] for name in EXPECTED_LIMITS} == EXPECTED_LIMITS


def test_a_steps_limits_are_in_force_at_its_first_instruction(step: Step) -> None:
    # Only the C spawner promises this: cat reads its own limits at once,
    # and limits set after its exec would not show.
    if spawn._native is None:
        cannot_run("the daemon's C spawner (built by `pip install -e .` with a C compiler and Python's headers)")
    for _ in range(20):
        code, output, _ = step.run(CAT, [CAT, "/proc/self/limits"], limits=LIMITS)
        assert code == 0
        rows = _limits_rows(output.decode())
        assert {name: rows[name] for name in EXPECTED_LIMITS} == EXPECTED_LIMITS


@pytest.mark.parametrize("in_a_folder", [False, True])
def test_a_step_starts_with_no_blocked_or_ignored_signals(
    spawner: str, step: Step, tmp_path: Path, in_a_folder: bool
) -> None:
    # Python ignores SIGPIPE; the test process also catches SIGUSR1, ignores
    # SIGALRM and blocks SIGUSR2 while the step starts. (Started in a
    # folder without the C spawner, a step goes through Popen, which resets
    # only SIGPIPE and SIGXFSZ: the daemon sheds any other ignored signal
    # and its mask at start, see test_the_daemon_sheds_what_it_inherited.)
    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    previous_alarm = signal.signal(signal.SIGALRM, signal.SIG_IGN)
    spawn.note_signal_handlers()
    fallback_in_folder = in_a_folder and spawner == "posix_spawn"
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set() if fallback_in_folder else {signal.SIGUSR2})
    try:
        if fallback_in_folder:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
        code, output, _ = step.run(CAT, [CAT, "/proc/self/status"], cwd=str(tmp_path) if in_a_folder else None)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGUSR1, previous)
        signal.signal(signal.SIGALRM, previous_alarm)
        spawn.note_signal_handlers()
    assert code == 0
    assert _status_field(output, "SigBlk") == 0
    # Of the standard signals (1-31): glibc's posix_spawn leaves its own two
    # internal real-time signals ignored in the child.
    assert _status_field(output, "SigIgn") & STANDARD_SIGNALS == 0
    assert _status_field(output, "SigCgt") == 0


def test_a_step_gets_no_fd_but_its_three(step: Step) -> None:
    # The C spawner closes every fd past 2 in the child, close-on-exec or
    # not; the daemon also makes its inherited fds close-on-exec at start
    # (for the posix_spawn path).
    if spawn._native is None:
        cannot_run("the daemon's C spawner (built by `pip install -e .` with a C compiler and Python's headers)")
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    leaky = fcntl.fcntl(devnull, fcntl.F_DUPFD, 200)  # inheritable, far from the low fds
    os.close(devnull)
    lister = "import os; print(' '.join(os.listdir('/proc/self/fd')))"
    try:
        code, output, _ = step.run(sys.executable, [sys.executable, "-c", lister])
    finally:
        os.close(leaky)
    assert code == 0
    listed = {int(fd) for fd in output.split()}
    # The listing opens one fd of its own, for the directory.
    assert len(listed - {0, 1, 2}) == 1 and max(listed) < 10, listed


def test_huge_limits_are_no_limits_and_bad_ones_are_refused() -> None:
    from sysside.jobmap import Limits  # noqa: PLC0415

    pairs = dict(spawn.rlimits(Limits(cpu=1e30, memory=2**70, open_files=None, processes=None, file_size=2**63)))
    assert pairs == {
        resource.RLIMIT_CPU: resource.RLIM_INFINITY,
        resource.RLIMIT_AS: resource.RLIM_INFINITY,
        resource.RLIMIT_FSIZE: resource.RLIM_INFINITY,
    }
    if spawn._native is None:
        return
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        for limits, error in (
            ([(resource.RLIMIT_CPU, -2)], ValueError),
            ([(resource.RLIMIT_CPU, 2**64)], OverflowError),
        ):
            with pytest.raises(error):
                spawn._native.spawn(b"/bin/true", [b"true"], [], (devnull,) * 3, limits, None, [], [], False)
    finally:
        os.close(devnull)


def test_a_step_starts_in_its_directory(spawner: str, step: Step, tmp_path: Path) -> None:
    code, output, _ = step.run("/bin/pwd", ["pwd"], cwd=str(tmp_path))
    assert (code, output.decode().strip()) == (0, str(tmp_path))


def _children() -> set[int]:
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found |= {int(pid) for pid in (task / "children").read_text().split()}
    return found


@pytest.mark.parametrize(
    ("program", "cwd", "error"),
    [
        ("/nonexistent/program", None, FileNotFoundError),
        ("NOT-EXECUTABLE", None, PermissionError),
        ("/bin/pwd", "/nonexistent/dir", FileNotFoundError),
    ],
)
def test_a_step_that_cannot_start_raises_and_leaves_no_child(
    spawner: str, step: Step, tmp_path: Path, program: str, cwd: str | None, error: type[OSError]
) -> None:
    if program == "NOT-EXECUTABLE":
        program = str(tmp_path / "data.txt")
        Path(program).write_text("just text\n", encoding="ascii")
        os.chmod(program, 0o644)
    before = _children()
    with pytest.raises(error):
        step.run(program, [program], cwd=cwd)
    assert _children() == before


def test_a_limit_over_the_daemons_own_hard_limit_keeps_the_daemons(spawner: str) -> None:
    # In a child Python, whose hard limit can be lowered for good; its
    # step waits on stdin while its limits are read from outside.
    script = (
        "import os, resource, sys\n"
        "from sysside import spawn\n"
        f"if {spawner == 'posix_spawn'}:\n"
        "    spawn._native = None\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))\n"
        "r, w = os.pipe2(os.O_CLOEXEC)\n"
        "devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)\n"
        f"pid = spawn.spawn_step({CAT!r}, ['cat'], {{}}, (r, devnull, devnull),"
        " [(resource.RLIMIT_NOFILE, 4096), (resource.RLIMIT_NPROC, 77)])\n"
        "sys.stdout.write(open(f'/proc/{pid}/limits').read())\n"
        "os.close(w)\n"
        "os.waitpid(pid, 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    rows = _limits_rows(done.stdout)
    assert rows["Max open files"] == ["200", "200"]
    assert rows["Max processes"] == ["77", "77"]


@pytest.mark.root
def test_a_step_starts_in_the_jobs_control_group_and_the_daemon_stays_home(
    spawner: str, step: Step, jobs_group: str
) -> None:
    job = Group.at(jobs_group)
    home = Group.of_self()
    if job is None or home is None or not home.writable():
        cannot_run("a control group this test process may move itself back into")
    job = job.child("spawned")
    job.create()
    own = Path("/proc/self/cgroup").read_text(encoding="ascii")
    try:
        for _ in range(2):
            code, output, _ = step.run(CAT, [CAT, "/proc/self/cgroup"], groups=(job, home))
            assert code == 0
            placed = cgroup_lines(output.decode())
            for name in job.dirs:
                assert placed[name] == f"/{jobs_group}/spawned", placed
            assert Path("/proc/self/cgroup").read_text(encoding="ascii") == own
    finally:
        job.close()
        home.close()


def test_fds_below_three_take_the_posix_spawn_path(spawner: str) -> None:
    # The C spawner dup2()s onto 0, 1 and 2 in order, which could overwrite
    # a source fd there first; spawn_step then takes the posix_spawn path.
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = spawn.spawn_step("/bin/echo", ["echo", "hi"], {}, (devnull, write_end, 2), [])
        os.close(write_end)
        write_end = -1
        _, status = os.waitpid(pid, 0)
        assert status == 0
        assert _read_all(read_end) == b"hi\n"
    finally:
        for fd in (read_end, write_end, devnull):
            if fd >= 0:
                os.close(fd)
