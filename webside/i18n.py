"""The interface's language: English or French, chosen per request.

Rules:
1. A `lang` query parameter naming a supported language wins and is
   remembered in the session; otherwise the session's choice; otherwise the
   best match of the browser's Accept-Language; otherwise the default.
2. Python code translates with `_` (now) and `_l` (lazily, for text defined
   at import time); templates use `_` too. Both take %(name)s parameters.
3. The choice costs no file lookups: flask_babel parses whatever the
   selector returns with babel's Locale.parse on every request, which,
   given a name, looks for the locale's data file on disk each time until
   that locale's data has been loaded; given a Locale it hands it back as
   it is. So the selector always returns one of
   the Locale objects made at import, the default included, and the codes
   Accept-Language headers come to are remembered (a bounded number of
   short headers: the header is the client's to vary).
"""

from __future__ import annotations

import threading
from typing import Any, cast

import flask_babel
from babel import Locale
from flask import Flask, current_app, request, session, url_for

from webside.settings import LOCALES

SESSION_KEY = "lang"
LOCALE_OBJECTS = {code: Locale.parse(code) for code in LOCALES}
REMEMBERED_HEADERS = 256
# Longer headers are worked out each time, never kept (a browser's are short).
REMEMBERED_HEADER_LENGTH = 256

_lock = threading.Lock()
# Accept-Language header -> the code it comes to (None: no language of ours).
_header_codes: dict[str, str | None] = {}


def _(text: str, **params: Any) -> str:
    """`text` in the request's language, with %(name)s parameters filled in."""
    return str(flask_babel.gettext(text, **params))


def _l(text: str, **params: Any) -> Any:
    """Like `_`, translated when shown (for text defined at import time)."""
    return flask_babel.lazy_gettext(text, **params)


def current_locale() -> str:
    """The language of the page being rendered, as a code from LOCALES."""
    locale = flask_babel.get_locale()
    return str(locale) if locale is not None else LOCALES[0]


def lang_url(code: str) -> str:
    """This page's address in language `code` (the form, for a result page)."""
    if request.endpoint and request.endpoint != "static":
        return url_for(request.endpoint, **(request.view_args or {}), lang=code)
    return url_for("index", lang=code)


def _remember_lang() -> None:
    wanted = request.args.get("lang")
    if wanted in LOCALES and session.get(SESSION_KEY) != wanted:
        session[SESSION_KEY] = wanted


def _select_locale() -> str:
    wanted = request.args.get("lang")
    if wanted not in LOCALES:
        wanted = session.get(SESSION_KEY)
    if wanted not in LOCALES:
        wanted = _header_code(request.headers.get("Accept-Language", "")) or current_app.config["BABEL_DEFAULT_LOCALE"]
    # A Locale, which Locale.parse returns as it is (rule 3); flask_babel
    # types its selector's answer as a str, the name it would parse.
    return cast(str, LOCALE_OBJECTS[wanted])


def _header_code(header: str) -> str | None:
    """The first of our languages the header asks for, by quality and by primary tag.

    "fr-CA;q=0.8" beats "en;q=0.5", which werkzeug's best_match would not
    allow (it prefers any exact match).
    """
    if not header:
        return None
    with _lock:
        if header in _header_codes:
            return _header_codes[header]
    code = None
    for value, _quality in request.accept_languages:
        primary = value.replace("_", "-").split("-")[0].lower()
        if primary in LOCALES:
            code = primary
            break
    if len(header) <= REMEMBERED_HEADER_LENGTH:
        with _lock:
            if len(_header_codes) >= REMEMBERED_HEADERS:
                # Full (of a client's inventions, most likely): start again
                # rather than keep the first comers for the worker's life.
                _header_codes.clear()
            _header_codes[header] = code
    return code


def init_app(app: Flask) -> None:
    """Install Flask-Babel with our locale choice."""
    flask_babel.Babel(app, locale_selector=_select_locale)
    app.before_request(_remember_lang)
    app.jinja_env.globals["current_locale"] = current_locale
    app.jinja_env.globals["locales"] = LOCALES
    app.jinja_env.globals["lang_url"] = lang_url
