"""Every setting of the web side, declared once with its type, default and meaning.

Rules:
1. A setting is read from, in order (later wins): the defaults below, the
   TOML file named by the HOLE_WEB_CONFIG environment variable, environment
   variables, and the mapping given to create_app().
2. An environment variable HOLE_<NAME> sets <NAME> (HOLE_SECRET_KEY sets
   SECRET_KEY). A setting whose own name starts with HOLE_ is set by the
   variable of that very name: HOLE_SPOOL, not HOLE_HOLE_SPOOL. Values are
   read as JSON when they parse as JSON (30, 2.5, true), else as strings.
3. Every value is checked at startup; a bad one stops the app with a
   message naming the setting.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
CONFIG_FILE_VAR = "HOLE_WEB_CONFIG"
ENV_PREFIX = "HOLE"
# flaskr's placeholder key: a site that kept it has no secret at all.
DEV_SECRET_KEY = "dev"  # noqa: S105 (the key refused, not one used)


class SettingsError(Exception):
    """A setting is missing or has a value the web side cannot use."""


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError("expected a number of seconds greater than 0")
    return float(value)


def _bytes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("expected a whole number of bytes greater than 0")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _path(value: Any) -> str:
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise ValueError("expected a directory path")
    return str(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _locale(value: Any) -> str:
    if value not in LOCALES:
        raise ValueError(f"expected one of {', '.join(LOCALES)}")
    return str(value)


def _samesite(value: Any) -> str:
    if value not in ("Lax", "Strict"):
        raise ValueError("expected Lax or Strict")
    return str(value)


# The languages the interface is translated into; the first is the fallback.
LOCALES = ("en", "fr")


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its config key, how to check it, its default, what it does."""

    name: str
    check: Callable[[Any], Any]
    default: Any
    doc: str


SETTINGS = (
    Setting(
        "HOLE_SPOOL",
        _path,
        "/var/spool/hole",
        "str. The spool directory shared with the job daemon, as the web side "
        "sees it (inside the jail). Holds the daemon FIFO and jobs/.",
    ),
    Setting(
        "SECRET_KEY",
        _text,
        None,
        "str, required. Signs the session cookie and the forms' CSRF tokens. "
        "The app refuses to start without one (or with the placeholder 'dev') "
        "unless TESTING is on.",
    ),
    Setting(
        "HOLE_TIMEOUT",
        _seconds,
        300.0,
        "float, seconds. How long the web side waits for a job, start to "
        "finish, before it gives up (the page then says the report timed out).",
    ),
    Setting(
        "HOLE_STREAM_GRACE",
        _seconds,
        2.0,
        "float, seconds. How long to wait for a job's first output or its end "
        "before the page starts (with status 200). A job that fails within "
        "this time gets a proper error page and status code; one that fails "
        "later is reported in an error box at the end of the streamed page.",
    ),
    Setting(
        "STUBS_DIR",
        _path,
        str(PROJECT_DIR / "stubs"),
        "str. The folder of report stubs, one <name>.py per report, and their approval manifest, approved.json.",
    ),
    Setting(
        "BABEL_DEFAULT_LOCALE",
        _locale,
        "en",
        "str, 'en' or 'fr'. The language used when neither the 'lang' query "
        "parameter (remembered in the session) nor the browser's "
        "Accept-Language picks one.",
    ),
    Setting(
        "HOLE_UNJAILED",
        _flag,
        False,
        "bool. Show a 'not jailed' banner on every page: set by `hole up` when it runs the web side without a jail.",
    ),
    Setting(
        "HOLE_DEV",
        _flag,
        False,
        "bool. Also serve report stubs that the webmaster has not approved, or "
        "that changed since their approval, and name them in a banner on every "
        "page: set by `hole up --dev`, for development only. Off, such stubs "
        "are refused and each is named in the log.",
    ),
    Setting(
        "HOLE_SECURE_COOKIES",
        _flag,
        False,
        "bool. Mark the session cookie Secure (sent over HTTPS only). Turn on whenever the site is served over HTTPS.",
    ),
    Setting(
        "SESSION_COOKIE_SAMESITE",
        _samesite,
        "Lax",
        "str, 'Lax' or 'Strict'. Lax already keeps the cookie off cross-site "
        "POSTs, and every POST carries a CSRF token; Strict would also drop it "
        "when a user follows a link from another site, which forgets their "
        "language choice and gains nothing here.",
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        _bytes,
        64 * 1024,
        "int, bytes. The largest request body accepted; a larger one gets a "
        "413 page. Report forms are a few short fields.",
    ),
)

# Settings the web side always forces, whatever the configuration says.
FIXED = {
    "SESSION_COOKIE_HTTPONLY": True,
}


def defaults() -> dict[str, Any]:
    """The default value of every setting that has one."""
    return {s.name: s.default for s in SETTINGS if s.default is not None}


def rename_prefixed(config: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Move HOLE_SPOOL (read as SPOOL by from_prefixed_env) to its own name."""
    for setting in SETTINGS:
        short = setting.name.removeprefix(f"{ENV_PREFIX}_")
        if short != setting.name and setting.name in environ and short in config:
            config[setting.name] = config.pop(short)


def check(config: dict[str, Any]) -> None:
    """Check and normalise every setting in place; raise SettingsError on the first bad one."""
    for setting in SETTINGS:
        value = config.get(setting.name)
        if value is None:
            if setting.default is None:
                continue
            value = setting.default
        try:
            config[setting.name] = setting.check(value)
        except ValueError as exc:
            raise SettingsError(f"setting {setting.name}: {exc}, got {value!r}") from None
    secret = config.get("SECRET_KEY")
    if config.get("TESTING") and not secret:
        # Tests need a key to sign cookies and tokens, never a known one.
        config["SECRET_KEY"] = secrets.token_hex(32)
    elif not config.get("TESTING") and (not secret or secret == DEV_SECRET_KEY):
        raise SettingsError(
            "setting SECRET_KEY is missing or is the placeholder 'dev'. Set HOLE_SECRET_KEY in the "
            f"environment, or SECRET_KEY in the file named by {CONFIG_FILE_VAR}, to a long random "
            "string, for example the output of: python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    config.update(FIXED)
    config["SESSION_COOKIE_SECURE"] = config["HOLE_SECURE_COOKIES"]
