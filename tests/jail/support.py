"""Helpers for the jail tests: running the jail's Python, and gunicorn, inside the chroot."""

import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sysside.jail.layout import DEFAULT_WEB_GID, DEFAULT_WEB_UID, INTERPRETER, WebIds

CHROOT = "/usr/sbin/chroot"
WEB = WebIds(DEFAULT_WEB_UID, DEFAULT_WEB_GID)
START_TIMEOUT = 30.0
# What the launcher gives the web side; the jail has no time zone files.
JAIL_ENV = {"TZ": "UTC", "LANG": "C.UTF-8"}


def chroot_argv(jail: Path, *argv: str, as_web: bool = False) -> list[str]:
    """argv for chroot(8) into `jail`, as root or as the web user."""
    user = [f"--userspec={WEB.uid}:{WEB.gid}", f"--groups={WEB.gid}"] if as_web else []
    return [CHROOT, *user, str(jail), *argv]


def jail_python(
    jail: Path, code: str, *, as_web: bool = False, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `code` with the jail's own interpreter, inside the jail, in a clean environment."""
    return subprocess.run(
        chroot_argv(jail, "/" + INTERPRETER, "-c", code, as_web=as_web),
        env={**JAIL_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Served:
    """The web side served by gunicorn inside a jail, on a local port."""

    port: int
    log: Path

    def get(self, path: str, *, cookie: str = "") -> tuple[int, str, dict[str, str]]:
        return self.request("GET", path, cookie=cookie)

    def request(self, method: str, path: str, *, body: str = "", cookie: str = "") -> tuple[int, str, dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Connection": "close"}
        if cookie:
            headers["Cookie"] = cookie
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace"), dict(response.getheaders())
        finally:
            connection.close()


@contextlib.contextmanager
def gunicorn_in_jail(jail: Path, workdir: Path, *, dev: bool) -> Iterator[Served]:
    """Start `python -m gunicorn` inside the jail as the web user, on an inherited socket."""
    log = workdir / "gunicorn.log"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    env = {
        **JAIL_ENV,
        "HOLE_SECRET_KEY": secrets.token_hex(32),
        "HOLE_DEV": "true" if dev else "false",
        "HOLE_WEB_WORKERS": "1",
        "HOLE_WEB_THREADS": "4",
    }
    argv = chroot_argv(
        jail,
        "/" + INTERPRETER,
        "-m",
        "gunicorn",
        "-c",
        "python:webside.gunicorn_conf",
        "--bind",
        f"fd://{listener.fileno()}",
        "--no-control-socket",
        as_web=True,
    )
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
            pass_fds=[listener.fileno()], start_new_session=True,
        )  # fmt: skip
    served = Served(listener.getsockname()[1], log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                served.get("/")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn in the jail did not start; log:\n{log.read_text(errors='replace')}")
                time.sleep(0.05)
        yield served
    finally:
        listener.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def csrf_token(page: str) -> str:
    """The CSRF token of a form page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert match, "the form page has no CSRF token"
    return match.group(1)


def session_cookie(headers: dict[str, str]) -> str:
    """The name=value of the cookie a response sets."""
    value = headers.get("Set-Cookie", "")
    return value.split(";", 1)[0]


def json_lines(text: str) -> object:
    """The last line of a program's output, as JSON."""
    return json.loads(text.strip().splitlines()[-1])


def unmount_under(folder: Path) -> None:
    """Mounts left under `folder` by a run that died before its own umount (a killed up, a control)."""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in reversed(points):
        if point.startswith(f"{folder}/"):
            subprocess.run(["umount", "-l", point], check=False)
