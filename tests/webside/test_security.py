"""Security headers, cookie flags, and escaping of everything the user sent."""

from typing import Any

import pytest

from tests.webside.conftest import AppFactory
from tests.webside.support import PROJECT_DIR, TestApp
from webside.security import CONTENT_SECURITY_POLICY

EXPECTED_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def test_policy_allows_only_this_sites_files() -> None:
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", "/", 200),
        ("get", "/r/b12", 200),
        ("get", "/r/nope", 404),
        ("get", "/static/style.css", 200),
        ("post", "/r/b12", 403),
    ],
)
def test_every_response_has_the_security_headers(client: Any, method: str, url: str, status: int) -> None:
    response = getattr(client, method)(url, status=status)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value


def test_answers_to_a_post_are_not_cached(client: Any) -> None:
    assert client.post("/r/b12", status=403).headers["Cache-Control"] == "no-store"


def _session_cookie(response: Any) -> str:
    [cookie] = [c for c in response.headers.getall("Set-Cookie") if c.startswith("session=")]
    return str(cookie)


def test_session_cookie_is_httponly_lax_and_not_secure_by_default(client: Any) -> None:
    cookie = _session_cookie(client.get("/r/b12"))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_when_configured(make_app: AppFactory) -> None:
    client = TestApp(make_app(HOLE_SECURE_COOKIES=True))
    cookie = _session_cookie(client.get("/r/b12", extra_environ={"wsgi.url_scheme": "https"}))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


def test_user_input_is_escaped_when_the_form_comes_back(client: Any) -> None:
    form = client.get("/r/b12").forms[0]
    form["account"] = '"><script>alert(1)</script>'
    page = form.submit(status=400)
    assert "<script>alert(1)" not in page.text
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert page.html.find("input", attrs={"name": "account"})["value"] == '"><script>alert(1)</script>'


def test_templates_never_mark_data_safe() -> None:
    for template in (PROJECT_DIR / "templates").glob("*.html"):
        assert "|safe" not in template.read_text().replace(" ", ""), template.name
