"""Escape attempts against the launcher's jail, each beside a control that shows it works.

Every attack is tests/jail/attack_probe.py run by the jail's own Python,
twice: once through `hole launch` (namespaces, pivot_root, dropped ids,
no_new_privs, Landlock, seccomp), and once where the protection is off (a
plain chroot as the web user or as root, or the host as the web user). The
control must succeed, or the probe proves nothing; the jailed run must not.

The jail is a copy of the session's, armed with ctypes: the web side does
not ship it, but an attacker who runs code there is not limited to what
the web side imports.
"""

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sysside.users import Account, ensure_users
from tests.jail.support import JAIL_ENV, chroot_argv, unmount_under

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

PROBE = (Path(__file__).with_name("attack_probe.py")).read_text(encoding="utf-8")
PYTHON = ["/usr/bin/python3", "-I", "-c", PROBE]
REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / "artifacts" / "attacks.md"
RUN_TIMEOUT = 60
READY_TIMEOUT = 30
READY = b"ready"
# Where rename-climb stands in the jail; the host moves its parent away.
CLIMB = Path("climb/a/b")
SIGSYS = 31
# ctypes for the jail's Python: the package, its extension and libffi.
CTYPES_FILES = (
    ("usr/lib/python3.11/ctypes", "/usr/lib/python3.11/ctypes"),
    (
        "usr/lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so",
        "/usr/lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so",
    ),
    ("usr/lib/libffi.so.8", "/usr/lib/x86_64-linux-gnu/libffi.so.8"),
)


@dataclass(frozen=True)
class Attack:
    """An attack, where its control runs, and what the control is given."""

    name: str
    control: str  # "chroot-web", "chroot-root" or "host-web"
    tty: bool = False
    extra_fd: bool = False
    moves_parent: bool = False  # the host renames the probe's parent folder out of the jail while it waits


ATTACKS = (
    Attack("double-chroot", "chroot-root"),
    Attack("double-chroot-fd", "chroot-root"),
    Attack("mount-proc", "chroot-root"),
    Attack("mount-tmpfs", "chroot-root"),
    Attack("mknod-char", "chroot-root"),
    Attack("ptrace-attach", "chroot-web"),
    Attack("kill-host", "chroot-web"),
    Attack("proc-root", "host-web"),
    Attack("tcp-connect", "chroot-web"),
    Attack("tcp-bind", "chroot-web"),
    Attack("abstract-unix", "chroot-web"),
    Attack("tiocsti", "chroot-root", tty=True),
    Attack("controlling-tty", "host-web", tty=True),
    Attack("keyctl-add-key", "chroot-web"),
    Attack("unshare-user", "host-web"),
    Attack("unshare-mount", "chroot-root"),
    Attack("unshare-net", "chroot-root"),
    Attack("exec-tmp", "chroot-web"),
    Attack("exec-spool", "chroot-web"),
    Attack("dlopen-tmp", "chroot-web"),
    Attack("memfd-exec", "chroot-web"),
    Attack("bpf", "chroot-root"),
    Attack("io-uring", "chroot-web"),
    Attack("perf-event", "chroot-root"),
    Attack("write-outside", "chroot-root"),
    Attack("read-host-file", "host-web"),
    Attack("list-root", "host-web"),
    Attack("rename-climb", "chroot-web", moves_parent=True),
    Attack("capabilities", "chroot-root"),
    Attack("new-privileges", "chroot-web"),
    Attack("open-fds", "chroot-web", extra_fd=True),
    Attack("x32-abi", "chroot-web"),
)


@dataclass
class Outcome:
    """One run of the probe: its exit status, its JSON line (if any) and its output."""

    returncode: int
    result: dict[str, Any] | None
    output: str

    @property
    def succeeded(self) -> bool:
        return bool(self.result and self.result["succeeded"])

    def cell(self) -> str:
        if self.result is None:
            return f"no result (exit {self.returncode})"
        verdict = "WORKS" if self.result["succeeded"] else "stopped"
        return f"{verdict}: {self.result['detail']}".replace("|", "/")


@dataclass
class Targets:
    """What the attacks reach for on the host, made by the test."""

    jail: Path
    web: Account
    params: dict[str, Any]
    marker: Path


RESULTS: dict[str, tuple[str, str]] = {}


def _arm_with_ctypes(jail: Path) -> None:
    for inside, host in CTYPES_FILES:
        target = jail / inside
        if os.path.isdir(host):
            shutil.copytree(host, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copy2(host, target)


@pytest.fixture(scope="module")
def targets(scratch_jail: Path, request: pytest.FixtureRequest) -> Iterator[Targets]:
    """The armed jail, and host things to attack: a web-user process, a TCP port, an abstract socket, a file."""
    web, _, _ = ensure_users()
    _arm_with_ctypes(scratch_jail)
    outside = Path(tempfile.mkdtemp(prefix="hole-host-"))
    outside.chmod(0o755)
    marker = outside / "host-only"
    marker.write_text("a host file\n")
    marker.chmod(0o644)
    sleeper = subprocess.Popen(
        ["/usr/bin/sleep", "600"], user=web.uid, group=web.gid, extra_groups=[], start_new_session=True
    )
    tcp = socket.create_server(("127.0.0.1", 0))
    abstract_name = f"hole-test-{os.getpid()}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    abstract.listen(8)
    helper_stop = threading.Event()
    helper = threading.Thread(target=_hand_out_fd, args=(abstract, outside, helper_stop), daemon=True)
    helper.start()
    host_only = sorted(set(os.listdir("/")) - set(os.listdir(scratch_jail)))
    params = {
        "pid": sleeper.pid,
        "port": tcp.getsockname()[1],
        "name": abstract_name,
        "host_path": str(marker),
        "jail": str(scratch_jail),
        "library": "/usr/lib/libuuid.so.1",
        "host_only": host_only,
        "allowed_fds": [0, 1, 2],
        "climb": f"/{CLIMB}",
    }
    try:
        yield Targets(scratch_jail, web, params, marker)
    finally:
        sleeper.kill()
        sleeper.wait()
        tcp.close()
        helper_stop.set()
        helper.join(5)
        abstract.close()
        shutil.rmtree(outside)
        unmount_under(scratch_jail)
        _report(request)


def _hand_out_fd(listener: socket.socket, folder: Path, stop: threading.Event) -> None:
    """The host helper: to whoever connects, an fd of a host folder (SCM_RIGHTS)."""
    listener.settimeout(0.2)
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while not stop.is_set():
            try:
                peer, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with peer, contextlib.suppress(OSError):
                socket.send_fds(peer, [b"fd"], [folder_fd])
    finally:
        os.close(folder_fd)


def _report(request: pytest.FixtureRequest) -> None:
    lines = ["| attack | control (protection off) | jailed (`hole launch`) |", "| --- | --- | --- |"]
    for attack in ATTACKS:
        if attack.name in RESULTS:
            control, jailed = RESULTS[attack.name]
            lines.append(f"| {attack.name} ({attack.control}) | {control} | {jailed} |")
    if len(lines) == 2:
        return
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is None:
        return
    # Teardown output is captured; the table is for whoever runs the suite.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


@contextlib.contextmanager
def _parent_mover(jail: Path, attack: Attack) -> Iterator[Callable[[], None] | None]:
    """For a moves_parent attack, JAIL/climb/a/b to stand in and the host's rename of JAIL/climb/a out of the jail."""
    if not attack.moves_parent:
        yield None
        return
    top, parent = jail / CLIMB.parts[0], jail / CLIMB.parent
    (jail / CLIMB).mkdir(parents=True)
    for folder in (top, parent, jail / CLIMB):
        folder.chmod(0o755)
    # Not beside the jail: pytest's base folder is 0700, and the control's
    # climb as the web user must pass through every folder above this one.
    # /tmp holds pytest's base as well, so the rename stays on one mount.
    away = Path(tempfile.mkdtemp(prefix="hole-moved-"))
    away.chmod(0o755)
    moved = away / parent.name

    def move() -> None:
        os.rename(parent, moved)

    try:
        yield move
    finally:
        if moved.exists():
            os.rename(moved, parent)
        shutil.rmtree(top)
        away.rmdir()


def _read_until(fd: int, out: bytearray, timeout: float, *, ready: bool) -> bool:
    """Read fd into out until a whole line starts with READY (if ready) or EOF; False at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if ready and any(line.startswith(READY) for line in out.split(b"\n")[:-1]):
            return True
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        chunk = os.read(fd, 65536)
        if not chunk:
            return not ready
        out += chunk


def _run_moving(argv: list[str], env: dict[str, str], move: Callable[[], None], as_web: Account | None) -> Outcome:
    """Run the probe, `move` once it says it is ready, and collect its result, within the timeouts."""
    notes: list[str] = []
    out = bytearray()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
            start_new_session=True, user=as_web.uid if as_web else None,
            group=as_web.gid if as_web else None, extra_groups=[] if as_web else None,
        )  # fmt: skip
        assert process.stdout is not None
        ended = False
        try:
            if _read_until(process.stdout.fileno(), out, READY_TIMEOUT, ready=True):
                move()
            else:
                notes.append(f"no ready line before it ended or {READY_TIMEOUT} s passed")
                _kill_group(process.pid)
            ended = _read_until(process.stdout.fileno(), out, RUN_TIMEOUT, ready=False)
            if not ended:
                notes.append(f"no end within {RUN_TIMEOUT} s")
        finally:
            # A jailed probe dies with its launcher (PDEATHSIG), so the launcher's group is enough.
            if not ended:
                _kill_group(process.pid)
            returncode = process.wait(RUN_TIMEOUT)
            process.stdout.close()
            errors.seek(0)
            stderr = errors.read().decode(errors="replace")
    return _outcome(returncode, out.decode(errors="replace"), stderr + "".join(f"--- {note}\n" for note in notes))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _outcome(returncode: int, stdout: str, stderr: str) -> Outcome:
    result = None
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            break
    return Outcome(returncode, result, f"--- stdout\n{stdout}--- stderr\n{stderr}")


def _tty_session(slave: int) -> None:
    # Runs in the child: a session of its own whose controlling terminal is the pty.
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)


def _run(
    argv: list[str],
    env: dict[str, str],
    attack: Attack,
    as_web: Account | None = None,
    move: Callable[[], None] | None = None,
) -> Outcome:
    if move is not None:
        return _run_moving(argv, env, move, as_web)
    pass_fds: tuple[int, ...] = ()
    with contextlib.ExitStack() as stack:
        stdin: int = subprocess.DEVNULL
        preexec = None
        session = True
        if attack.tty:
            master, slave = os.openpty()
            stack.callback(os.close, master)
            stack.callback(os.close, slave)
            stdin, session = slave, False

            def preexec() -> None:
                _tty_session(0)

        if attack.extra_fd:
            extra = os.open("/etc/hostname", os.O_RDONLY)
            stack.callback(os.close, extra)
            pass_fds = (extra,)
        done = subprocess.run(
            argv,
            env=env,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            pass_fds=pass_fds,
            start_new_session=session,
            preexec_fn=preexec,
            user=as_web.uid if as_web else None,
            group=as_web.gid if as_web else None,
            extra_groups=[] if as_web else None,
            check=False,
        )
    return _outcome(done.returncode, done.stdout, done.stderr)


def run_control(targets: Targets, attack: Attack, move: Callable[[], None] | None = None) -> Outcome:
    args = [attack.name, json.dumps(targets.params)]
    if attack.control == "host-web":
        return _run([*PYTHON, *args], {**JAIL_ENV}, attack, as_web=targets.web, move=move)
    argv = chroot_argv(targets.jail, *PYTHON, *args, as_web=attack.control == "chroot-web")
    return _run(argv, {**JAIL_ENV}, attack, move=move)


def run_jailed(targets: Targets, attack: Attack, move: Callable[[], None] | None = None) -> Outcome:
    argv = [sys.executable, "-m", "sysside", "launch", "--jail", str(targets.jail), "--", *PYTHON]
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOLE_")}
    return _run([*argv, attack.name, json.dumps(targets.params)], env, attack, move=move)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_works_outside_and_fails_in_the_jail(targets: Targets, attack: Attack) -> None:
    with _parent_mover(targets.jail, attack) as move:
        control = run_control(targets, attack, move)
    with _parent_mover(targets.jail, attack) as move:
        jailed = run_jailed(targets, attack, move)
    RESULTS[attack.name] = (control.cell(), jailed.cell())
    assert control.result is not None, f"the probe gave no result in its control:\n{control.output}"
    assert control.succeeded, f"the control did not succeed, so the probe proves nothing:\n{control.output}"
    if attack.name == "x32-abi":
        # sys.exit() of the launcher's -SIGSYS leaves 256 - 31 as the status.
        assert jailed.result is None and jailed.returncode in (-SIGSYS, 128 + SIGSYS, 256 - SIGSYS), jailed.output
        RESULTS[attack.name] = (control.cell(), f"stopped: killed by SIGSYS (exit {jailed.returncode})")
        return
    assert jailed.result is not None, f"the probe gave no result in the jail:\n{jailed.output}"
    assert jailed.returncode == 0, jailed.output
    assert not jailed.succeeded, f"the attack worked in the jail:\n{jailed.output}"
