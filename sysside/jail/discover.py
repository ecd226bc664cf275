"""Find the files the web side needs by running it: the probe, driven over HTTP.

How modules are found: `probe.py` starts the web side on the host, under
the real gunicorn master and gthread worker, in a fresh interpreter (-I: no
environment, no user site), with a throwaway spool and secret key, on a
socket this module listens on and hands over as fd://N, the way `hole up`
does. This module then requests every page a visitor can reach: the
index, each stub's form, in English and in French, a 404, each static
file the pages link to, and a form post without and with its CSRF token.
When gunicorn stops, each process reports sys.modules' files and every
file it opened or checked for (an audit hook, and watched os.stat,
os.lstat and os.access: babel asks whether a locale's data file exists
before it uses it). Whatever the web side imports or touches on those
pages is in the union of the reports.

Rules:
1. A page that does not answer as expected stops the build: a web side
   that fails on the host would give a jail that is wrong.
2. Modules imported only on paths these pages do not reach (a job's
   result page, which needs a daemon) are not seen. The packages known to
   import by name at run time are copied whole (modules.py), and the jail
   tests run the real gunicorn inside the jail.
3. The probe's environment is the jail's: UTF-8, TZ=UTC, no HOME. A
   host's time zone setting, say, must not pull in files the jail will
   never read.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sysside.jail import JailError

PROBE = Path(__file__).with_name("probe.py")
# The first request waits for gunicorn and the app to start.
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
LANGUAGES = ("en", "fr")

_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_COOKIE_RE = re.compile(r"^([^=;\s]+)=([^;]*)")
_STATIC_RE = re.compile(r'(?:href|src)="(/static/[^"?#]+)')


@dataclass(frozen=True)
class Layout:
    """Where the probing interpreter keeps things, and where the jail's will look."""

    executable: str
    base_prefix: str
    base_exec_prefix: str
    stdlib: str
    platstdlib: str
    purelib: str
    platlib: str
    jail_site_packages: str
    cache_tag: str


@dataclass(frozen=True)
class Discovery:
    """What the web side loaded: module files, other files it opened, libraries it dlopened."""

    layout: Layout
    modules: dict[str, str]
    opened: frozenset[str]
    dlopened: frozenset[str]

    def to_json(self) -> dict[str, object]:
        return {
            "layout": self.layout.__dict__,
            "modules": self.modules,
            "opened": sorted(self.opened),
            "dlopened": sorted(self.dlopened),
        }

    @classmethod
    def from_json(cls, data: object) -> Discovery:
        """The inverse of to_json; raises JailError on anything else."""
        try:
            assert isinstance(data, dict)
            layout = Layout(**{k: str(v) for k, v in data["layout"].items()})
            modules = {str(k): str(v) for k, v in data["modules"].items()}
            return cls(layout, modules, frozenset(map(str, data["opened"])), frozenset(map(str, data["dlopened"])))
        except (AssertionError, AttributeError, KeyError, TypeError) as exc:
            raise JailError(f"unreadable probe record: {exc!r}") from None


@dataclass(frozen=True)
class Page:
    """One request of the tour, and the statuses that count as the page working."""

    method: str
    path: str
    expect: tuple[int, ...]
    form_of: str = ""


def tour(stub_names: Iterable[str]) -> list[Page]:
    """Every page a visitor can reach without a daemon behind the web side.

    The static files come after: the ones these pages link to.
    """
    pages: list[Page] = []
    for lang in LANGUAGES:
        pages.append(Page("GET", f"/?lang={lang}", (200,)))
        pages.append(Page("GET", "/r/no_such_report", (404,)))
        for name in stub_names:
            pages.append(Page("GET", f"/r/{name}", (200,)))
            # No token: the CSRF error page. With it: the form's checks,
            # then (if they pass) the hole client finding no daemon.
            pages.append(Page("POST", f"/r/{name}", (403,)))
            pages.append(Page("POST", f"/r/{name}", (200, 400, 422, 503), form_of=name))
    return pages


def discover(python: str, stubs_dir: Path, stub_names: list[str]) -> Discovery:
    """Run the probe under `python` over the tour of pages; return what it loaded."""
    stubs_dir = stubs_dir.absolute()
    with tempfile.TemporaryDirectory(prefix="hole-probe-") as work:
        workdir = Path(work)
        out = workdir / "out"
        spool = workdir / "spool"
        out.mkdir()
        spool.mkdir()
        log_path = workdir / "probe.log"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            port = listener.getsockname()[1]
            env = {
                "HOLE_SPOOL": str(spool),
                # A key for this run only: the probe must not need the real one.
                "HOLE_SECRET_KEY": secrets.token_hex(32),
                "HOLE_STUBS_DIR": str(stubs_dir),
                # Only approved stubs go in the jail, and only they are toured.
                "HOLE_DEV": "false",
                "HOLE_WEB_WORKERS": "1",
                "HOLE_WEB_THREADS": "2",
                "LANG": "C.UTF-8",
                # The jail has no time zone files: the web side runs on UTC
                # (the launcher must set TZ=UTC too), so babel needs none.
                "TZ": "UTC",
            }
            argv = [
                python,
                "-I",
                str(PROBE),
                str(out),
                "--",
                "-c",
                "python:webside.gunicorn_conf",
                "--bind",
                f"fd://{listener.fileno()}",
                "--worker-tmp-dir",
                str(workdir),
                # gunicorn would otherwise make a control socket in $HOME.
                "--no-control-socket",
            ]
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    argv,
                    env=env,
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=[listener.fileno()],
                    start_new_session=True,
                )
            try:
                _take_tour(port, tour(stub_names), process, log_path)
            finally:
                _stop(process, log_path)
        found = _merge(out, log_path)
    # The probe's own scratch files (gunicorn's worker heartbeat file) are not the web side's.
    opened = frozenset(path for path in found.opened if not path.startswith(f"{work}{os.sep}"))
    return Discovery(found.layout, found.modules, opened, found.dlopened)


def _take_tour(port: int, pages: list[Page], process: subprocess.Popen[bytes], log_path: Path) -> None:
    cookies: dict[str, str] = {}
    tokens: dict[str, str] = {}
    static: set[str] = set()
    deadline = time.monotonic() + START_TIMEOUT
    for page in _and_then_static(pages, static):
        body = b""
        headers = {"Connection": "close"}
        if page.method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            if page.form_of:
                body = f"csrf_token={tokens.get(page.form_of, '')}".encode()
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        status, response_headers, text = _request(port, page.method, page.path, body, headers, deadline, process)
        if status not in page.expect:
            raise JailError(
                f"the web side answered {status} to {page.method} {page.path} on the host, "
                f"expected {' or '.join(map(str, page.expect))}; the probe's log:\n{_tail(log_path)}"
            )
        for name, value in response_headers:
            match = _COOKIE_RE.match(value) if name.lower() == "set-cookie" else None
            if match:
                cookies[match.group(1)] = match.group(2)
        static.update(_STATIC_RE.findall(text))
        token = _CSRF_RE.search(text)
        if page.method == "GET" and page.path.startswith("/r/") and token:
            tokens[page.path.removeprefix("/r/")] = token.group(1) or token.group(2)
        deadline = time.monotonic() + REQUEST_TIMEOUT


def _and_then_static(pages: list[Page], static: set[str]) -> Iterator[Page]:
    """The pages, then every static file they linked to (known only once they are seen)."""
    yield from pages
    for path in sorted(static):
        yield Page("GET", path, (200,))


def _request(
    port: int,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    process: subprocess.Popen[bytes],
) -> tuple[int, list[tuple[str, str]], str]:
    while True:
        if process.poll() is not None:
            raise JailError(f"the probe's gunicorn exited with status {process.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=max(0.1, deadline - time.monotonic()))
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
            return response.status, response.getheaders(), text
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            if time.monotonic() > deadline:
                raise JailError(f"no answer to {method} {path} from the probe's gunicorn: {exc}") from None
            time.sleep(0.05)
        finally:
            connection.close()


def _stop(process: subprocess.Popen[bytes], log_path: Path) -> None:
    """SIGTERM, the graceful stop that runs gunicorn's exit hooks; SIGKILL at the deadline."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise JailError(
                f"the probe's gunicorn did not stop within {STOP_TIMEOUT:g} s; log:\n{_tail(log_path)}"
            ) from None


def _records(out: Path) -> Iterator[dict[str, object]]:
    for path in sorted(out.glob("*.json")):
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        if isinstance(record, dict):
            yield record


def _merge(out: Path, log_path: Path) -> Discovery:
    found = [Discovery.from_json(record) for record in _records(out)]
    # One from the master and one from the worker, or the tour proves little.
    if len(found) < 2:
        raise JailError(f"the probe reported from {len(found)} process(es), expected 2; log:\n{_tail(log_path)}")
    if len({each.layout for each in found}) != 1:
        raise JailError("the probe's processes disagree on the interpreter's layout")
    modules: dict[str, str] = {}
    for each in found:
        modules.update(each.modules)
    opened = frozenset().union(*(each.opened for each in found))
    dlopened = frozenset().union(*(each.dlopened for each in found))
    return Discovery(found[0].layout, modules, opened, dlopened)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
