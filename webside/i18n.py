"""The interface's language: English or French, chosen per request.

Rules:
1. A `lang` query parameter naming a supported language wins and is
   remembered in the session; otherwise the session's choice; otherwise the
   best match of the browser's Accept-Language; otherwise the default.
2. Python code translates with `_` (now) and `_l` (lazily, for text defined
   at import time); templates use `_` too. Both take %(name)s parameters.
"""

from __future__ import annotations

from typing import Any

import flask_babel
from flask import Flask, request, session, url_for

from webside.settings import LOCALES

SESSION_KEY = "lang"


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


def _select_locale() -> str | None:
    wanted = request.args.get("lang")
    if wanted in LOCALES:
        return wanted
    chosen = session.get(SESSION_KEY)
    if chosen in LOCALES:
        return str(chosen)
    # By quality, and by primary tag: "fr-CA;q=0.8" beats "en;q=0.5", which
    # werkzeug's best_match would not allow (it prefers any exact match).
    for value, _quality in request.accept_languages:
        primary = value.replace("_", "-").split("-")[0].lower()
        if primary in LOCALES:
            return primary
    return None


def init_app(app: Flask) -> None:
    """Install Flask-Babel with our locale choice."""
    flask_babel.Babel(app, locale_selector=_select_locale)
    app.before_request(_remember_lang)
    app.jinja_env.globals["current_locale"] = current_locale
    app.jinja_env.globals["locales"] = LOCALES
    app.jinja_env.globals["lang_url"] = lang_url
