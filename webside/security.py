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


_LOWERED = [(name.lower(), name, value) for name, value in HEADERS.items()]


def _add_headers(response: Response) -> Response:
    # One pass over the headers: werkzeug's setdefault looks each name up
    # by raising and catching a KeyError when it is missing, as here.
    present = {name.lower() for name, _ in response.headers.items()}
    for lowered, name, value in _LOWERED:
        if lowered not in present:
            response.headers.add(name, value)
    if request.method == "POST":
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response of `app`."""
    app.after_request(_add_headers)
