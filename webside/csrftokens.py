"""Signed CSRF tokens: made once a minute per session, not once a page, and
checked once per token.

Rules:
1. Flask-WTF signs the session's CSRF secret afresh for every page with a
   form (itsdangerous: a serializer, two HMACs, base64): about 60 µs of a
   web worker's CPU on each report request. A token signed for a session
   is reused on that session's pages for at most a sixtieth of the token's
   time limit (a minute of the default hour), through Flask-WTF's own
   per-request cache (`g.csrf_token`), so every form it serves still holds
   a token that Flask-WTF made and checks in full.
2. A reused token expires at most that much sooner than a fresh one would;
   with no time limit set, a minute at most is reused; with a limit of 0,
   none is.
3. Checking a posted token cost about 65 µs more. A token Flask-WTF has
   accepted is remembered with the time it was signed and the session
   secret it carries; the same token posted again is accepted at once if
   its session still holds that secret, it is still within the time limit
   and (over HTTPS) the Referer is this host, which are the checks
   Flask-WTF makes. Anything else goes to Flask-WTF's own check, which
   refuses it with its own words: this path only ever accepts what that
   check would.
4. Remembered per worker, in bounded tables, keyed by the signing key as
   well: nothing is shared between workers or written anywhere.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from typing import TypeVar

from flask import current_app, g, request, session
from flask_wtf.csrf import CSRFProtect, same_origin
from itsdangerous import BadData, URLSafeTimedSerializer

_V = TypeVar("_V")

REMEMBERED = 1024
MAX_REUSE_SECONDS = 60.0
# The reuse window as a share of the token's time limit.
REUSE_SHARE = 1 / 60

_lock = threading.Lock()
_recent: OrderedDict[tuple[str, str | bytes], tuple[str, float]] = OrderedDict()
# (posted token, key) -> (the session secret it carries, when it was signed)
_accepted: OrderedDict[tuple[str, str | bytes], tuple[str, int]] = OrderedDict()
# Flask-WTF's salt for its tokens (flask_wtf/csrf.py).
SALT = "wtf-csrf-token"


def _field_and_key() -> tuple[str, str | bytes | None]:
    config = current_app.config
    return config["WTF_CSRF_FIELD_NAME"], config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key


def _window() -> float:
    limit = _time_limit()
    if limit is None:
        return MAX_REUSE_SECONDS
    return min(MAX_REUSE_SECONDS, limit * REUSE_SHARE)


def reuse_recent() -> None:
    """Before a form is built: hand Flask-WTF this session's recent token, if there is one."""
    field, key = _field_and_key()
    if key is None or field in g:
        return
    secret = session.get(field)
    if not isinstance(secret, str):
        return
    with _lock:
        found = _recent.get((secret, key))
    if found is not None and time.time() - found[1] < _window():
        setattr(g, field, found[0])
        g.hole_reused_csrf_token = found[0]


def remember() -> None:
    """After a form was built: keep the token Flask-WTF made, unless a recent one is kept already."""
    field, key = _field_and_key()
    token = g.get(field)
    secret = session.get(field)
    if key is None or not isinstance(token, str) or not isinstance(secret, str):
        return
    if g.get("hole_reused_csrf_token") == token:
        # Handed out above: made earlier, so never stamped as made now.
        return
    now = time.time()
    with _lock:
        found = _recent.get((secret, key))
        if found is None or now - found[1] >= _window():
            _put(_recent, (secret, key), (token, now))


class RememberingCSRFProtect(CSRFProtect):
    """Flask-WTF's CSRF check on every POST, accepting at once a token it accepted before."""

    def protect(self, apply_exemptions: bool = False) -> None:
        exempt = apply_exemptions and (not request.endpoint or self._is_exempt())
        posted = request.method in current_app.config["WTF_CSRF_METHODS"] and not exempt
        token = self._get_csrf_token() if posted else None
        if isinstance(token, str) and _accepted_before(token) and _referrer_ok():
            g.csrf_valid = True
            return
        super().protect(apply_exemptions)
        if isinstance(token, str) and g.get("csrf_valid", False):
            _remember_accepted(token)


def _time_limit() -> int | None:
    # As Flask-WTF reads it: None is no limit, and 0 is a limit of 0 seconds.
    limit = current_app.config.get("WTF_CSRF_TIME_LIMIT", 3600)
    return None if limit is None else int(limit)


def _accepted_before(token: str) -> bool:
    field, key = _field_and_key()
    if key is None:
        return False
    with _lock:
        found = _accepted.get((token, key))
    if found is None:
        return False
    carried, signed_at = found
    secret = session.get(field)
    if not isinstance(secret, str) or not hmac.compare_digest(secret, carried):
        return False
    age = int(time.time()) - signed_at
    limit = _time_limit()
    return age >= 0 and (limit is None or age <= limit)


def _referrer_ok() -> bool:
    if not (request.is_secure and current_app.config["WTF_CSRF_SSL_STRICT"]):
        return True
    referrer = request.referrer
    return bool(referrer) and same_origin(referrer, f"https://{request.host}/")


def _remember_accepted(token: str) -> None:
    _, key = _field_and_key()
    if key is None:
        return
    try:
        carried, signed = URLSafeTimedSerializer(key, salt=SALT).loads(token, return_timestamp=True)
    except BadData:
        return
    if not isinstance(carried, str):
        return
    with _lock:
        _put(_accepted, (token, key), (carried, int(signed.timestamp())))


def _put(table: OrderedDict[tuple[str, str | bytes], _V], key: tuple[str, str | bytes], value: _V) -> None:
    """Set, as the newest entry, dropping the oldest beyond REMEMBERED (caller holds _lock)."""
    table[key] = value
    table.move_to_end(key)
    while len(table) > REMEMBERED:
        table.popitem(last=False)
