"""One POST to load a server with: where it goes, what it sends, and what a good answer holds.

The product's target is its real report form: the CSRF token and the
session cookie come from one GET of the form, as a browser gets them, and
every POST then sends both (Flask-WTF accepts a token again until it
expires).
"""

import http.client
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

HOST = "127.0.0.1"
FORM_TYPE = "application/x-www-form-urlencoded"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class TargetError(Exception):
    """A server did not answer as the benchmark needs; the message says what came back."""


@dataclass(frozen=True)
class Target:
    """A form POST to one server and the text that a good (200) answer contains."""

    name: str
    port: int
    path: str
    body: str
    expect: str
    headers: Mapping[str, str] = field(default_factory=dict)
    # A 503 that holds this text is the server's busy page ("" if it has none).
    busy_mark: str = ""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    def with_fields(self, fields: Mapping[str, str], expect: str) -> "Target":
        """The same target with other form fields (the CSRF token kept)."""
        kept = [(k, v) for k, v in urllib.parse.parse_qsl(self.body) if k == "csrf_token"]
        body = urllib.parse.urlencode(kept + list(fields.items()))
        return Target(self.name, self.port, self.path, body, expect, self.headers, self.busy_mark)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    seconds: float


def post(target: Target, timeout: float, connection: http.client.HTTPConnection | None = None) -> Answer:
    """One POST, its answer read whole; raises OSError or http.client.HTTPException."""
    own = connection is None
    conn = connection or http.client.HTTPConnection(HOST, target.port, timeout=timeout)
    headers = {"Content-Type": FORM_TYPE, **target.headers}
    start = time.perf_counter()
    try:
        conn.request("POST", target.path, body=target.body.encode("ascii"), headers=headers)
        response = conn.getresponse()
        body = response.read()
    finally:
        if own:
            conn.close()
    return Answer(response.status, body, time.perf_counter() - start)


def check(target: Target, timeout: float = 30.0) -> None:
    """Raise TargetError unless one POST is answered 200 with the expected output."""
    answer = post(target, timeout)
    if answer.status != 200 or target.expect.encode() not in answer.body:
        raise TargetError(
            f"{target.name}: POST {target.path} answered {answer.status} without {target.expect!r}:\n"
            + answer.body.decode("utf-8", "replace")[-2000:]
        )


def product(port: int, report: str, fields: Mapping[str, str], expect: str, busy_mark: str = "") -> Target:
    """The product's report form: GET it once for the session cookie and the CSRF token."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", f"/r/{report}")
        response = conn.getresponse()
        page = response.read().decode("utf-8", "replace")
        cookies = [value.split(";", 1)[0] for name, value in response.getheaders() if name.lower() == "set-cookie"]
    finally:
        conn.close()
    found = CSRF_INPUT.search(page)
    if response.status != 200 or found is None or not cookies:
        raise TargetError(f"product: GET /r/{report} answered {response.status} without a CSRF token and a cookie")
    token = found.group(1) or found.group(2)
    body = urllib.parse.urlencode([("csrf_token", token), *fields.items()])
    return Target("product", port, f"/r/{report}", body, expect, {"Cookie": "; ".join(cookies)}, busy_mark)


def plain(name: str, port: int, path: str, fields: Mapping[str, str], expect: str) -> Target:
    """A form POST with no token or cookie (the naive baseline, the peer)."""
    return Target(name, port, path, urllib.parse.urlencode(list(fields.items())), expect)
