"""Session cookies and CSRF tokens checked once and remembered: only what the full check accepts.

A POST with bad fields answers 400 once the CSRF check has passed, and 403
(the "form has expired" page) when it has not; that tells the two apart
without a daemon.
"""

import time
from typing import Any

import pytest
from flask import Flask

from tests.webside.conftest import AppFactory
from tests.webside.support import TestApp, main_text

BAD_FIELDS = {"account": "12ab", "year": "2024"}


def _token(client: Any) -> str:
    token = client.get("/r/b12").forms[0]["csrf_token"].value
    assert isinstance(token, str) and token
    return token


def _post(client: Any, token: str, status: int, **environ: str) -> Any:
    return client.post("/r/b12", {**BAD_FIELDS, "csrf_token": token}, status=status, extra_environ=environ)


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


def test_a_token_accepted_once_is_accepted_again_but_only_in_its_own_session(app: Flask) -> None:
    alice, mallory = TestApp(app), TestApp(app)
    token = _token(alice)
    _post(alice, token, 400)
    _post(alice, token, 400)
    # Mallory has a session of her own: Alice's token, though remembered, does not match it.
    _token(mallory)
    page = _post(mallory, token, 403)
    assert "The form has expired" in main_text(page)


def test_a_remembered_token_is_refused_after_its_time_limit(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestApp(app)
    token = _token(client)
    _post(client, token, 400)
    _later(monkeypatch, app.config["WTF_CSRF_TIME_LIMIT"] + 5)
    _post(client, token, 403)


def test_a_forged_token_is_refused_every_time(app: Flask) -> None:
    client = TestApp(app)
    token = _token(client)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for _ in range(2):
        _post(client, forged, 403)
    _post(client, token, 400)


def test_over_https_a_remembered_token_still_needs_this_hosts_referrer(app: Flask) -> None:
    client = TestApp(app, extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "reports.example"})
    token = _token(client)
    _post(client, token, 400, HTTP_REFERER="https://reports.example/r/b12")
    _post(client, token, 403, HTTP_REFERER="https://elsewhere.example/")
    _post(client, token, 403)
    _post(client, token, 400, HTTP_REFERER="https://reports.example/r/b12")


def test_form_pages_reuse_a_signed_token_for_a_minute_at_most(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestApp(app)
    first = _token(client)
    assert _token(client) == first
    _later(monkeypatch, 61)
    fresh = _token(client)
    assert fresh != first
    _post(client, fresh, 400)


def test_a_remembered_session_cookie_is_refused_once_older_than_the_lifetime(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(PERMANENT_SESSION_LIFETIME=600)
    client = TestApp(app)
    token = _token(client)
    _post(client, token, 400)
    # The cookie (and with it the CSRF secret) is now too old: the session
    # reads as empty, so the token has nothing to match.
    _later(monkeypatch, 700)
    _post(client, token, 403)


def test_a_tampered_session_cookie_reads_as_an_empty_session(app: Flask) -> None:
    client = TestApp(app)
    token = _token(client)
    _post(client, token, 400)
    cookie = client.cookies["session"]
    client.reset()
    client.set_cookie("session", cookie[:-3] + ("xyz" if not cookie.endswith("xyz") else "abc"))
    _post(client, token, 403)
    client.reset()
    client.set_cookie("session", cookie)
    _post(client, token, 400)


def test_with_a_time_limit_of_zero_a_remembered_token_lasts_no_longer(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Flask-WTF then accepts a token only within the second it was signed.
    app = make_app(WTF_CSRF_TIME_LIMIT=0)
    client = TestApp(app)
    now = float(int(time.time()))
    monkeypatch.setattr(time, "time", lambda: now + 0.5)
    token = _token(client)
    _post(client, token, 400)
    monkeypatch.setattr(time, "time", lambda: now + 5.5)
    _post(client, token, 403)
