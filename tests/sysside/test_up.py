"""`hole up` as a newcomer runs it: a real process serving real HTTP, stopped by signals.

Every test starts `python -m sysside up --unjailed` in its own session on
a free loopback port, with its state folder on tmpfs when there is one.
"""

from __future__ import annotations

import contextlib
import html.parser
import http.cookiejar
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sysside.demo import EXAMPLE_JOB
from tests.sysside.helpers import process_gone, wait_gone

pytestmark = pytest.mark.timeout(180)

# Starting both sides takes about a second; the margin is for loaded CI hosts.
UP_TIMEOUT = 40.0
STOP_TIMEOUT = 20.0
SIDES = ("daemon", "web")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fast_tmp_dir() -> Path:
    """A fresh folder, on tmpfs if the host has /dev/shm (spool files are cheaper there)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="hole-up-", dir=base))


def child_env() -> dict[str, str]:
    """This environment without HOLE_* settings, which would change what `hole up` serves."""
    return {key: value for key, value in os.environ.items() if not key.startswith("HOLE_")}


@dataclass
class RunningUp:
    """A `hole up` process and where it keeps its state."""

    state: Path
    port: int
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        return f"--- stdout\n{self.stdout()}--- stderr\n{self.stderr()}"

    def pid_files(self) -> dict[str, Path]:
        return {side: self.state / "run" / f"{side}.pid" for side in SIDES}

    def side_pids(self) -> dict[str, int]:
        """The pids `hole up` wrote for its two sides."""
        return {side: int(path.read_text(encoding="ascii")) for side, path in self.pid_files().items()}

    def wait_ready(self) -> None:
        """Wait for the URL line on stdout, under a deadline."""
        deadline = time.monotonic() + UP_TIMEOUT
        while f"web      {self.url}" not in self.stdout():
            if self.process.poll() is not None:
                pytest.fail(f"hole up exited with {self.process.returncode} before it was up:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"hole up printed no URL within {UP_TIMEOUT} s:\n{self.output()}")
            time.sleep(0.05)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"hole up did not exit within {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        """As an operator would: SIGTERM, then kill() if it outlives STOP_TIMEOUT."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        self.kill()

    def kill(self) -> None:
        """Last resort at teardown: the whole session, then the sides if they outlived it."""
        pids = {}
        with contextlib.suppress(OSError, ValueError):
            pids = self.side_pids()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def launch_up(state: Path, port: int, logs: Path, *extra: str) -> RunningUp:
    """Start `hole up --unjailed` without waiting for it."""
    logs.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = logs / "up.out", logs / "up.err"
    argv = [sys.executable, "-m", "sysside", "up", "--unjailed", "--state", str(state), "--port", str(port), *extra]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env(), start_new_session=True
        )
    return RunningUp(state, port, process, stdout_path, stderr_path)


@contextlib.contextmanager
def hole_up(*extra: str) -> Iterator[RunningUp]:
    """A `hole up` that is up; stopped at the end if a test left it running."""
    folder = fast_tmp_dir()
    up = launch_up(folder / "state", free_port(), folder / "logs", *extra)
    try:
        up.wait_ready()
        yield up
    finally:
        up.stop()
        subprocess.run(["rm", "-rf", "--", str(folder)], check=False)


@pytest.fixture
def up() -> Iterator[RunningUp]:
    with hole_up() as running:
        yield running


class InputValues(html.parser.HTMLParser):
    """The value of every named <input> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("name"):
            self.values[str(named["name"])] = named.get("value") or ""


def opener() -> urllib.request.OpenerDirector:
    """An HTTP client that keeps cookies, as a browser does (the CSRF token is tied to the session)."""
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def fetch(client: urllib.request.OpenerDirector, url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode("ascii") if data is not None else None
    with client.open(url, data=body, timeout=30) as response:
        status: int = response.status
        return status, response.read().decode("utf-8")


def demo_account(state: Path, account: str) -> tuple[str, str]:
    """The account's name and department, as the demo's database has them."""
    with contextlib.closing(sqlite3.connect(f"file:{state / 'demo' / 'fis.sqlite'}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT name, department FROM accounts WHERE account = ?", (account,)).fetchone()
    assert row is not None, f"the demo has no account {account}"
    return str(row[0]), str(row[1])


def assert_stopped(up: RunningUp, pids: dict[str, int]) -> None:
    for side, pid in pids.items():
        assert wait_gone(pid, STOP_TIMEOUT), f"the {side} side (pid {pid}) outlived hole up:\n{up.output()}"
    left = sorted(path.name for path in (up.state / "run").glob("*.pid"))
    assert left == [], f"pid files left behind in {up.state / 'run'}: {left}"


def test_serves_the_demo_with_the_banner(up: RunningUp) -> None:
    status, page = fetch(opener(), up.url)
    assert status == 200
    assert "Not jailed." in page
    for report in ("b12", "ledger", "spending", "yearend"):
        assert f'href="/r/{report}"' in page
    assert "NOT JAILED" in up.stdout()


def test_runs_a_report_through_http_end_to_end(up: RunningUp) -> None:
    job, fields = EXAMPLE_JOB
    client = opener()
    status, form_page = fetch(client, f"{up.url}r/{job}")
    assert status == 200
    parser = InputValues()
    parser.feed(form_page)
    token = parser.values.get("csrf_token", "")
    assert token, f"no csrf_token on the form:\n{form_page}"

    status, result = fetch(client, f"{up.url}r/{job}", {"csrf_token": token, **fields})

    assert status == 200
    name, department = demo_account(up.state, fields["account"])
    assert "BUDGET REPORT 12" in result
    assert f"Account:     {fields['account']}  {name}" in result
    assert f"Department:  {department}" in result
    assert f"Fiscal year: {fields['year']}" in result
    assert 'id="done"' in result and "The report ended with an error." not in result


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_both_sides(up: RunningUp, signum: signal.Signals) -> None:
    pids = up.side_pids()
    assert all(not process_gone(pid) for pid in pids.values())
    # Ctrl-C reaches the terminal's foreground process group; `hole up` leads its own.
    os.killpg(up.process.pid, signum)
    assert up.wait_exit() == 0, up.output()
    assert_stopped(up, pids)
    assert up.stderr().rstrip().endswith("stopped")


def test_a_signal_while_starting_stops_what_has_started(tmp_path: Path) -> None:
    folder = fast_tmp_dir()
    up = launch_up(folder / "state", free_port(), tmp_path)
    try:
        daemon_pid_file = up.pid_files()["daemon"]
        deadline = time.monotonic() + UP_TIMEOUT
        while not daemon_pid_file.exists():
            assert up.process.poll() is None, up.output()
            assert time.monotonic() < deadline, up.output()
            time.sleep(0.005)
        pid = int(daemon_pid_file.read_text(encoding="ascii"))
        os.killpg(up.process.pid, signal.SIGTERM)
        assert up.wait_exit() == 0, up.output()
        assert wait_gone(pid, STOP_TIMEOUT), f"the daemon (pid {pid}) outlived hole up:\n{up.output()}"
        assert sorted((up.state / "run").glob("*.pid")) == []
    finally:
        up.kill()
        subprocess.run(["rm", "-rf", "--", str(folder)], check=False)


@pytest.mark.parametrize("victim", SIDES)
def test_a_side_that_dies_stops_the_other(up: RunningUp, victim: str) -> None:
    pids = up.side_pids()
    os.kill(pids[victim], signal.SIGKILL)
    assert up.wait_exit() == 1, up.output()
    first_line = up.stderr().split("Error: ", 1)[1].splitlines()[0]
    assert first_line.startswith(f"the {victim} side exited (killed by SIGKILL)"), up.output()
    assert_stopped(up, pids)
    # Nothing is left holding the port: the workers of a killed gunicorn
    # master notice it and exit.
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", up.port))
                break
            except OSError:
                assert time.monotonic() < deadline, f"port {up.port} is still taken after hole up exited"
                time.sleep(0.1)


def run_up_to_failure(state: Path, port: int, logs: Path) -> tuple[int, list[str]]:
    up = launch_up(state, port, logs)
    try:
        code = up.wait_exit()
    finally:
        up.kill()
    assert up.stdout() == "", up.output()
    return code, up.stderr().splitlines()


def test_a_taken_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, lines = run_up_to_failure(state, port, tmp_path / "logs")
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: port {port} on 127.0.0.1 is taken"), lines
    assert "--port" in lines[0]
    # Nothing was made: no demo, no spool, no pid files.
    assert not state.exists()


def test_an_unusable_state_folder_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("a file where the state folder should be\n", encoding="utf-8")
    code, lines = run_up_to_failure(state, free_port(), tmp_path / "logs")
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: state folder {state} is not usable"), lines
    assert "--state" in lines[0]
    assert state.read_text(encoding="utf-8") == "a file where the state folder should be\n"


@pytest.mark.root
def test_dev_as_root_without_unjailed_is_refused_in_one_line(tmp_path: Path) -> None:
    # The jail holds approved stubs only: --dev there would show nothing new.
    state = tmp_path / "state"
    argv = [sys.executable, "-m", "sysside", "up", "--dev", "--state", str(state), "--port", str(free_port())]
    done = subprocess.run(argv, capture_output=True, text=True, env=child_env(), timeout=60, check=False)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: --dev serves stubs that are not approved"), lines
    assert "--unjailed" in lines[0]
    assert not state.exists()
