"""Security headers on every response.

Rules:
1. The page loads nothing from elsewhere and runs no inline script or
   style: the policy below allows this site's own files only.
2. Every response carries the headers, error pages and downloads included.
3. Answers to a POST hold report output and are never stored by a cache.
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # same-origin rather than no-referrer: Flask-WTF checks the Referer of
    # a POST over HTTPS, and would refuse every form without it.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.method == "POST":
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response of `app`."""
    app.after_request(_add_headers)
