"""The web side under gunicorn, as deployed: a streamed report, and a browser that leaves."""

import http.client
import importlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import DaemonFactory, RunningDaemon
from tests.webside.support import PROJECT_DIR, write_stub

BIN = Path(sys.executable).parent
READY_TIMEOUT = 20.0


def test_config_suits_long_waiting_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOLE_TIMEOUT", raising=False)
    conf = importlib.reload(importlib.import_module("webside.gunicorn_conf"))
    assert conf.wsgi_app == "webside.wsgi:app"
    assert conf.worker_class == "gthread"
    assert (conf.workers, conf.threads) == (2, 32)
    assert conf.timeout > 300
    monkeypatch.setenv("HOLE_TIMEOUT", "900")
    assert importlib.reload(conf).timeout > 900


# A report that says one line and then nothing for a long time: only the
# page's keep-alive comments can notice that the browser left.
QUIET_PROGRAM = """\
import time
print("first and only line", flush=True)
time.sleep(60)
"""
QUIET_STUB = """
from flask_wtf import FlaskForm


class NoFields(FlaskForm):
    pass


def show_form() -> NoFields:
    return NoFields()


def prepare_input(form: NoFields) -> dict[str, str]:
    return {}
"""

ServerFactory = Callable[..., tuple[str, int]]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """start(spool, stubs_dir=None) -> (host, port) of a gunicorn serving the web side."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(spool: Path, stubs_dir: Path | None = None) -> tuple[str, int]:
        log_path = tmp_path / f"gunicorn{len(processes)}.log"
        env = {
            **os.environ,
            "HOLE_SPOOL": str(spool),
            "HOLE_SECRET_KEY": secrets.token_hex(32),
            "HOLE_WEB_WORKERS": "1",
            "HOLE_WEB_BIND": "127.0.0.1:0",
        }
        if stubs_dir is not None:
            env["HOLE_STUBS_DIR"] = str(stubs_dir)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [BIN / "gunicorn", "-c", "python:webside.gunicorn_conf"],
                cwd=PROJECT_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        processes.append(process)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            text = log_path.read_text()
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            if found and "Booting worker" in text:
                return "127.0.0.1", int(found[1])
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start; log:\n{text}")
            time.sleep(0.05)

    yield start
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def open_report(
    host: str, port: int, name: str, fields: dict[str, str]
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Get the form, then post it as a browser would; return the streaming answer."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", f"/r/{name}")
    form_page = conn.getresponse()
    body = form_page.read().decode()
    cookie = form_page.getheader("Set-Cookie", "").split(";")[0]
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body)
    assert match is not None, body
    conn.request(
        "POST",
        f"/r/{name}",
        body=urllib.parse.urlencode({"csrf_token": match[1], **fields}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    return conn, conn.getresponse()


def wait_for_outcome(daemon: RunningDaemon, timeout: float) -> tuple[str, str]:
    events = daemon.wait_for(lambda events: any(e.get("event") == "job" for e in events), timeout=timeout)
    [record] = [e for e in events if e.get("event") == "job"]
    return record["job"], record["outcome"]


def test_browser_leaving_a_streamed_report_cancels_the_job(
    start_server: ServerFactory, demo_daemon: RunningDaemon
) -> None:
    host, port = start_server(demo_daemon.spool)
    started = time.monotonic()
    conn, page = open_report(host, port, "yearend", {"year": "2024"})
    assert page.status == 200
    assert page.getheader("Transfer-Encoding") == "chunked"
    received = b""
    while b"10000002" not in received:
        received += page.read1(4096)
    # Streamed: lines arrive while the five-second report still runs.
    assert time.monotonic() - started < 3.0
    assert b'id="done"' not in received
    # The browser goes away: the server's next write fails, and the job must end.
    page.close()
    conn.close()
    assert wait_for_outcome(demo_daemon, timeout=4.0) == ("yearend", "interrupted")
    assert time.monotonic() - started < 4.5


def test_keepalive_notices_a_browser_leaving_a_quiet_report(
    start_server: ServerFactory, daemon_factory: DaemonFactory, tmp_path: Path
) -> None:
    program = tmp_path / "quiet"
    program.write_text(f"#!{os.path.realpath(sys.executable)} -IS\n{QUIET_PROGRAM}")
    program.chmod(0o755)
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(f'[jobs.quiet]\ntitle = "Quiet"\ntimeout = "60s"\nsteps = [{{ run = ["{program}"] }}]\n')
    stubs = tmp_path / "stubs"
    write_stub(stubs, "quiet", QUIET_STUB)
    daemon = daemon_factory(jobs_file)
    host, port = start_server(daemon.spool, stubs)
    conn, page = open_report(host, port, "quiet", {})
    assert page.status == 200
    received = b""
    while b"first and only line" not in received:
        received += page.read1(4096)
    # Nothing more comes but keep-alive comments, about one a second.
    quiet_since = time.monotonic()
    while received.count(b"<!---->") < 2:
        received += page.read1(4096)
    assert time.monotonic() - quiet_since < 3.5
    left = time.monotonic()
    page.close()
    conn.close()
    assert wait_for_outcome(daemon, timeout=5.0) == ("quiet", "interrupted")
    assert time.monotonic() - left < 4.0
