"""The web side: a Flask app, inside the jail, that turns report forms into jobs.

It reaches the sys side only through the hole client (webside.client) and
never imports sysside.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from webside import errors, i18n, reports, security, settings
from webside.csrftokens import RememberingCSRFProtect
from webside.registry import Registry
from webside.sessions import CheckedCookieSessionInterface

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then HOLE_WEB_CONFIG's file, then HOLE_* variables, then `config`."""
    app = Flask(__name__, template_folder=str(TEMPLATES_DIR), static_folder="static")
    app.config.from_mapping(settings.defaults())
    config_file = os.environ.get(settings.CONFIG_FILE_VAR)
    if config_file:
        app.config.from_file(config_file, load=tomllib.load, text=False)
    app.config.from_prefixed_env(settings.ENV_PREFIX)
    settings.rename_prefixed(app.config, os.environ)
    if config is not None:
        app.config.from_mapping(config)
    settings.check(app.config)

    app.session_interface = CheckedCookieSessionInterface()
    RememberingCSRFProtect(app)
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)

    registry = Registry.load(app.config["STUBS_DIR"], dev=app.config["HOLE_DEV"])
    for path, reason in registry.broken.items():
        app.logger.warning("report stub %s left out: %s", path, reason)
    for path, reason in registry.refused.items():
        app.logger.warning("report stub %s refused: %s", path, reason)
    for name, reason in sorted(registry.unapproved.items()):
        app.logger.warning("report stub %s served without approval, because HOLE_DEV is on: %s", name, reason)
    app.extensions[reports.REGISTRY_KEY] = registry
    unapproved = sorted(registry.unapproved)
    app.context_processor(lambda: {"unapproved_reports": unapproved})

    app.register_blueprint(reports.bp)
    app.add_url_rule("/", endpoint="index", view_func=reports.index)
    return app
