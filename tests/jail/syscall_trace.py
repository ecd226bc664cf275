"""The jailed web side under strace, driven with real traffic; and the allow list re-derived from it.

Used by tests/jail/test_syscalls.py, and run by hand (as root) to see what
the web side calls and how that differs from sysside/syscall_allowlist.py:

    .venv/bin/python -m tests.jail.syscall_trace [--keep DIR] [--log LOG]

Rules:
1. `hole up` runs whole under `strace -f`, as a user runs it; only the jail
   is kept from the log (tests/jail/strace_log.py says how it is found).
   The jail is built before strace starts: the trace of a build is large,
   slow, and none of it happens in the jail.
2. The traffic is what the service meets in use: every page, every report
   run to the end, rejected runs, downloads, a stream the client cancels,
   keep-alive, bad requests, and the arbiter's own paths (SIGHUP, more and
   fewer workers, a killed worker), then SIGTERM. Each step checks its
   answer, so a trace that missed a path fails instead of passing short.
3. SIGTERM goes to `hole up`'s supervisor, never to strace: strace follows
   the shutdown to its end and exits when the last traced process does.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.cookiejar
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sysside.demo import EXAMPLE_JOB
from sysside.jail.builder import build
from sysside.jail.layout import WebIds
from sysside.syscall_allowlist import ALLOWED, IOCTL_REQUESTS, REFUSED_QUIETLY, VARIANTS, allowed_names
from sysside.users import ensure_users
from tests.jail.strace_log import JailTrace, Role, parse
from tests.jail.support import unmount_under
from tests.sysside.test_up import InputValues, RunningUp, child_env, fast_tmp_dir, free_port, opener
from webside import gunicorn_conf

STRACE = "/usr/bin/strace"
REPO = Path(__file__).resolve().parents[2]
STUBS = REPO / "stubs"
UP_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


class TrafficError(Exception):
    """A traffic step got an answer it should not have: the trace would miss that path."""


@dataclass
class Traced:
    """A `hole up` under strace: the strace process, the service's state and the log."""

    up: RunningUp
    log: Path
    steps: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def supervisor(self) -> int:
        return int((self.up.state / "run" / "supervisor.pid").read_text(encoding="ascii"))

    @property
    def launcher(self) -> int:
        return self.up.side_pids()["web"]


def strace_available() -> bool:
    return os.access(STRACE, os.X_OK)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text(encoding="ascii").split()]
    return sorted(found)


def arbiter_pid(traced: Traced) -> int:
    """The host pid of gunicorn's arbiter: the launcher's only child."""
    [arbiter] = _children(traced.launcher)
    return arbiter


def wait_workers(traced: Traced, count: int, exclude: Collection[int] = (), timeout: float = 60.0) -> list[int]:
    """Wait until the arbiter has `count` workers, none of them in `exclude`; return their host pids."""
    deadline = time.monotonic() + timeout
    while True:
        workers = [pid for pid in _children(arbiter_pid(traced)) if pid not in exclude]
        if len(workers) == count:
            return workers
        if time.monotonic() > deadline:
            raise TrafficError(f"expected {count} new workers, have {workers}:\n{traced.up.output()}")
        time.sleep(0.2)


@contextlib.contextmanager
def traced_up(folder: Path) -> Iterator[Traced]:
    """`hole up` as root under `strace -f`, serving on a free port; stopped (SIGTERM) at the end."""
    folder.chmod(0o755)
    state = folder / "state"
    logs = folder / "logs"
    logs.mkdir()
    web, _, _ = ensure_users()
    build(state / "jail", STUBS, WebIds(web.uid, web.gid))
    port = free_port()
    log = folder / "strace.log"
    argv = [
        STRACE, "-f", "-qq", "--decode-pids=pidns", "-s", "64", "-o", str(log),
        sys.executable, "-m", "sysside", "up", "--state", str(state), "--port", str(port),
    ]  # fmt: skip
    with open(logs / "up.out", "wb") as out, open(logs / "up.err", "wb") as err:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env(), start_new_session=True
        )
    up = RunningUp(state, port, process, logs / "up.out", logs / "up.err")
    traced = Traced(up, log)
    try:
        deadline = time.monotonic() + UP_TIMEOUT
        while f"web      {up.url}" not in up.stdout():
            if process.poll() is not None or time.monotonic() > deadline:
                raise TrafficError(f"hole up under strace did not come up:\n{up.output()}")
            time.sleep(0.1)
        yield traced
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(traced.supervisor, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            up.kill()
        unmount_under(folder)


# --- traffic -----------------------------------------------------------------


def _expect(what: str, status: int, wanted: int, body: str = "", needle: str = "") -> None:
    if status != wanted or (needle and needle not in body):
        raise TrafficError(f"{what}: status {status} (wanted {wanted}), {needle!r} in body: {needle in body}\n{body}")


def _open(client: urllib.request.OpenerDirector, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
    body = urllib.parse.urlencode(data).encode("ascii") if data is not None else None
    try:
        with client.open(url, data=body, timeout=60) as response:
            return (
                response.status,
                response.read().decode("utf-8", "replace"),
                response.headers.get("Content-Disposition", ""),
            )
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace"), ""


def _form(client: urllib.request.OpenerDirector, url: str) -> str:
    status, page, _ = _open(client, url)
    _expect(f"GET {url}", status, 200, page, "csrf_token")
    parser = InputValues()
    parser.feed(page)
    return parser.values["csrf_token"]


def _raw(port: int, payload: bytes, read: int = 65536) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(payload)
        chunks = []
        while True:
            chunk = conn.recv(read)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def pages(traced: Traced) -> None:
    """Every page a visitor opens, static files (whole, ranged, revalidated) and 404s."""
    url = traced.up.url
    client = opener()
    for path, wanted, needle in (
        ("", 200, 'href="/r/b12"'),
        ("r/b12", 200, "csrf_token"),
        ("r/ledger", 200, "csrf_token"),
        ("r/spending", 200, "csrf_token"),
        ("r/yearend", 200, "csrf_token"),
        ("static/style.css", 200, ""),
        ("static/app.js", 200, ""),
        ("nope", 404, ""),
        ("r/nope", 404, ""),
    ):
        status, body, _ = _open(client, url + path)
        _expect(f"GET /{path}", status, wanted, body, needle)
    conn = http.client.HTTPConnection("127.0.0.1", traced.up.port, timeout=30)
    try:
        # One keep-alive connection: HEAD, a range, then a revalidation.
        conn.request("HEAD", "/")
        head = conn.getresponse()
        head.read()
        _expect("HEAD /", head.status, 200)
        conn.request("GET", "/static/style.css", headers={"Range": "bytes=0-9"})
        ranged = conn.getresponse()
        _expect("GET a range of style.css", ranged.status, 206, ranged.read().decode())
        etag = ranged.headers["ETag"]
        conn.request("GET", "/static/style.css", headers={"If-None-Match": etag})
        revalidated = conn.getresponse()
        revalidated.read()
        _expect("GET style.css again", revalidated.status, 304)
    finally:
        conn.close()
    traced.steps.append("pages: index, 4 forms, static (whole, range, 304), HEAD, 2 x 404, keep-alive")


def runs(traced: Traced) -> None:
    """Reports run to the end (page, CSV table, downloads), refused ones, and a failed step."""
    url = traced.up.url
    job, fields = EXAMPLE_JOB
    client = opener()
    token = _form(client, f"{url}r/{job}")
    status, page, _ = _open(client, f"{url}r/{job}", {"csrf_token": token, **fields})
    _expect("POST b12", status, 200, page, "BUDGET REPORT 12")
    status, page, disposition = _open(client, f"{url}r/{job}", {"csrf_token": token, "download": "1", **fields})
    _expect("POST b12 as a download", status, 200, disposition, "attachment")
    token = _form(client, f"{url}r/spending")
    spending = {"csrf_token": token, "category": "all", "year": "2024"}
    status, page, _ = _open(client, f"{url}r/spending", spending)
    _expect("POST spending", status, 200, page, "<table")
    status, page, disposition = _open(client, f"{url}r/spending", {**spending, "download": "1"})
    _expect("POST spending as a download", status, 200, disposition, "attachment")
    # Refused by the form: a bad field, then no CSRF token at all.
    status, page, _ = _open(client, f"{url}r/{job}", {"csrf_token": token, "account": "12", "year": "2024"})
    _expect("POST b12 with a short account", status, 400, page)
    status, page, _ = _open(opener(), f"{url}r/{job}", dict(fields))
    _expect("POST b12 without a CSRF token", status, 403, page)
    # An account the demo does not have: the step fails on the sys side.
    token = _form(client, f"{url}r/{job}")
    status, page, _ = _open(client, f"{url}r/{job}", {"csrf_token": token, "account": "99999999", "year": "2024"})
    if "The report ended with an error." not in page and status < 400:
        raise TrafficError(f"POST b12 for an unknown account: {status}\n{page}")
    traced.steps.append("runs: b12 page and download, spending table and download, 2 refusals, a failed step")


def dated_run(traced: Traced) -> None:
    """The ledger: its dates are parsed by the web side (datetime.strptime) before the job goes out."""
    url = traced.up.url
    client = opener()
    token = _form(client, f"{url}r/ledger")
    fields = {"csrf_token": token, "account": EXAMPLE_JOB[1]["account"], "start": "2024-01-01", "end": "2024-03-31"}
    status, page, _ = _open(client, f"{url}r/ledger", fields)
    _expect("POST ledger", status, 200, page, 'id="done"')
    traced.steps.append("dated run: ledger")


def cancelled_stream(traced: Traced) -> None:
    """The slow report, dropped by the client after its first bytes: the worker must notice and let go."""
    url = traced.up.url
    jar = http.cookiejar.CookieJar()
    client = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    token = _form(client, f"{url}r/yearend")
    cookies = [f"{c.name}={c.value}" for c in jar]
    body = urllib.parse.urlencode({"csrf_token": token, "year": "2024"})
    conn = http.client.HTTPConnection("127.0.0.1", traced.up.port, timeout=60)
    conn.request(
        "POST",
        "/r/yearend",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "; ".join(cookies)},
    )
    response = conn.getresponse()
    _expect("POST yearend", response.status, 200)
    response.read(200)
    conn.close()
    traced.steps.append("cancelled: yearend dropped after its first bytes")


def concurrent_runs(traced: Traced) -> None:
    """Several runs at once, so a worker has many threads busy and its pool grows."""
    url = traced.up.url
    job, fields = EXAMPLE_JOB

    def one(index: int) -> int:
        del index
        client = opener()
        token = _form(client, f"{url}r/{job}")
        status, page, _ = _open(client, f"{url}r/{job}", {"csrf_token": token, **fields})
        _expect("POST b12 (concurrent)", status, 200, page, "BUDGET REPORT 12")
        return status

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(16)))
    traced.steps.append("concurrent: 16 b12 runs, 8 at a time")


def bad_requests(traced: Traced) -> None:
    """What gunicorn answers itself: a garbled request line, a header too long, an idle keep-alive."""
    port = traced.up.port
    answer = _raw(port, b"GARBAGE\r\n\r\n")
    if not answer.startswith(b"HTTP/1.1 400"):
        raise TrafficError(f"garbled request: {answer[:200]!r}")
    answer = _raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 10000 + b"\r\n\r\n")
    if not answer.startswith(b"HTTP/1.1 431"):
        raise TrafficError(f"long header: {answer[:200]!r}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        held = time.monotonic() - started
    # The worker answered, kept the connection for its keep-alive time, then closed it.
    if b"200 OK" not in received or held < gunicorn_conf.keepalive - 1:
        raise TrafficError(f"keep-alive held {held:.1f} s: {received[:200]!r}")
    traced.steps.append("bad requests: garbled line, 10 kB header, keep-alive left idle until closed")


def arbiter_paths(traced: Traced) -> None:
    """SIGHUP (through the launcher, as `hole` sends it), more and fewer workers, a killed worker, log reopening."""
    first = wait_workers(traced, 2)
    os.kill(traced.launcher, signal.SIGHUP)
    second = wait_workers(traced, 2, exclude=set(first))
    pages(traced)
    arbiter = arbiter_pid(traced)
    os.kill(arbiter, signal.SIGTTIN)
    wait_workers(traced, 3, exclude=set(first))
    os.kill(arbiter, signal.SIGTTOU)
    victim = wait_workers(traced, 2, exclude=set(first))[0]
    os.kill(victim, signal.SIGKILL)
    wait_workers(traced, 2, exclude={*first, victim})
    os.kill(arbiter, signal.SIGUSR1)
    runs(traced)
    traced.steps.append(f"arbiter: SIGHUP (workers {first} -> {second}), SIGTTIN, SIGTTOU, SIGKILL a worker, SIGUSR1")


def drive(traced: Traced) -> None:
    """All the traffic; a step that fails is recorded and the next one still runs."""
    for step in (pages, runs, dated_run, cancelled_stream, concurrent_runs, bad_requests, arbiter_paths):
        try:
            step(traced)
        except (TrafficError, OSError, http.client.HTTPException) as exc:
            traced.failures.append(f"{step.__name__}: {type(exc).__name__}: {exc}")


def trace_service(folder: Path) -> tuple[JailTrace, Traced]:
    """Run, drive and stop the traced service; the jail's calls and what was done."""
    with traced_up(folder) as traced:
        drive(traced)
    with open(traced.log, encoding="utf-8", errors="replace") as log:
        return parse(log), traced


# --- the generator -----------------------------------------------------------


def report(trace: JailTrace) -> list[str]:
    """The traced calls, by role, against the allow list: what is new, what went unused."""
    counts = trace.counts()
    arbiter, worker = trace.names(Role.ARBITER), trace.names(Role.WORKER)
    seen = arbiter | worker
    allowed = allowed_names()
    lines = [
        f"{len(seen)} calls by {len({c.pid for c in trace.calls})} processes and threads"
        f" ({len(arbiter)} by the arbiter, {len(worker)} by workers, {len(trace.calls)} calls in all)",
    ]
    for name in sorted(seen):
        who = "both" if name in arbiter and name in worker else ("arbiter" if name in arbiter else "worker")
        lines.append(f"  {name:24} {counts[name]:>7}  {who}")
    for name, values in sorted(trace.details().items()):
        lines.append(f"{name}: {', '.join(sorted(values))}")
    derived = sorted(seen - set(REFUSED_QUIETLY))
    lines.append(f"the list this trace derives ({len(derived)}): {' '.join(derived)}")
    requests = trace.details().get("ioctl", set())
    if requests - set(IOCTL_REQUESTS):
        lines.append(f"IOCTL REQUESTS NOT ON THE LIST: {', '.join(sorted(requests - set(IOCTL_REQUESTS)))}")
    refused = sorted({c.name for c in trace.refused(["ENOSYS"])})
    lines.append(f"answered ENOSYS: {', '.join(refused) or 'none'}")
    new = sorted(seen - allowed - set(REFUSED_QUIETLY))
    lines.append(f"NOT ON THE LIST: {', '.join(new)}" if new else "every call is on the list")
    unused = sorted(allowed - seen - {n for names in VARIANTS.values() for n in names})
    lines.append(f"on the list, not traced (not variants): {', '.join(unused) or 'none'}")
    lines.append(f"groups: {', '.join(f'{group} ({len(names)})' for group, names in ALLOWED.items())}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", type=Path, help="Folder to keep the state and the strace log in.")
    parser.add_argument("--log", type=Path, help="Read this strace log instead of running the service.")
    options = parser.parse_args()
    if options.log:
        with open(options.log, encoding="utf-8", errors="replace") as log:
            trace = parse(log)
        steps: list[str] = []
        failures: list[str] = []
    else:
        if os.geteuid() != 0 or not strace_available():
            sys.exit("needs root and strace (apt-get install strace)")
        folder = Path(tempfile.mkdtemp(prefix="hole-trace-", dir=options.keep)) if options.keep else fast_tmp_dir()
        try:
            trace, traced = trace_service(folder)
            steps, failures = traced.steps, traced.failures
        finally:
            if not options.keep:
                shutil.rmtree(folder, ignore_errors=True)
    for line in [*steps, *report(trace)]:
        print(line)
    for line in failures:
        print(f"TRAFFIC FAILED: {line}")


if __name__ == "__main__":
    main()
