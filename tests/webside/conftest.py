"""Fixtures for the web side: an app on a spool with no daemon, and a WebTest client.

With no daemon on the spool, a valid submission ends in the "service not
running" page; the tests with a real daemon are in test_with_daemon.py.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.webside.support import DEMO_STUBS, TestApp
from webside import create_app

AppFactory = Callable[..., Flask]


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    """An empty spool: the jobs/ folder, no daemon FIFO."""
    (tmp_path / "spool" / "jobs").mkdir(parents=True)
    return tmp_path / "spool"


@pytest.fixture
def make_app(spool: Path) -> AppFactory:
    """create_app with test settings; a mapping or keywords override them."""

    def make(config: Mapping[str, Any] | None = None, **overrides: Any) -> Flask:
        settings: dict[str, Any] = {"TESTING": True, "HOLE_SPOOL": str(spool), "STUBS_DIR": str(DEMO_STUBS)}
        settings.update(config or {})
        settings.update(overrides)
        return create_app(settings)

    return make


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> Any:
    """A WebTest TestApp on `app`."""
    return TestApp(app)
