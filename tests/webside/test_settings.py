"""Where settings come from, and the settings the app refuses to start with."""

from pathlib import Path

import pytest

from webside import create_app
from webside.settings import SETTINGS, SettingsError

GOOD_KEY = "k" * 40


def test_every_setting_is_documented_once() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.doc for s in SETTINGS)


def test_refuses_to_start_without_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOLE_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="SECRET_KEY is missing"):
        create_app()


def test_refuses_the_placeholder_key() -> None:
    with pytest.raises(SettingsError, match="placeholder"):
        create_app({"SECRET_KEY": "dev"})


def test_testing_runs_without_a_key_and_gets_a_random_one() -> None:
    first = create_app({"TESTING": True}).config["SECRET_KEY"]
    second = create_app({"TESTING": True}).config["SECRET_KEY"]
    assert len(first) >= 32
    assert first != second


def test_defaults() -> None:
    config = create_app({"SECRET_KEY": GOOD_KEY}).config
    assert config["HOLE_TIMEOUT"] == 300.0
    assert config["HOLE_STREAM_GRACE"] == 2.0
    assert config["BABEL_DEFAULT_LOCALE"] == "en"
    assert config["HOLE_UNJAILED"] is False
    assert config["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SESSION_COOKIE_SECURE"] is False
    assert Path(config["STUBS_DIR"]).name == "stubs"


def test_file_then_environment_then_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "web.toml"
    config_file.write_text(
        f'SECRET_KEY = "{GOOD_KEY}"\nHOLE_SPOOL = "/from/file"\nHOLE_TIMEOUT = 60\nHOLE_STREAM_GRACE = 1.5\n'
    )
    monkeypatch.setenv("HOLE_WEB_CONFIG", str(config_file))
    monkeypatch.setenv("HOLE_TIMEOUT", "90")
    monkeypatch.setenv("HOLE_UNJAILED", "true")
    config = create_app({"HOLE_STREAM_GRACE": 0.5}).config
    assert config["SECRET_KEY"] == GOOD_KEY
    assert config["HOLE_SPOOL"] == "/from/file"
    assert config["HOLE_TIMEOUT"] == 90.0
    assert config["HOLE_UNJAILED"] is True
    assert config["HOLE_STREAM_GRACE"] == 0.5


def test_hole_spool_variable_sets_hole_spool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLE_SPOOL", "/var/jail/spool")
    monkeypatch.setenv("HOLE_SECRET_KEY", GOOD_KEY)
    config = create_app().config
    assert config["HOLE_SPOOL"] == "/var/jail/spool"
    assert config["SECRET_KEY"] == GOOD_KEY
    assert "SPOOL" not in config


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("HOLE_TIMEOUT", 0, "greater than 0"),
        ("HOLE_TIMEOUT", "soon", "number of seconds"),
        ("HOLE_STREAM_GRACE", True, "number of seconds"),
        ("HOLE_UNJAILED", "yes", "true or false"),
        ("BABEL_DEFAULT_LOCALE", "de", "en, fr"),
        ("MAX_CONTENT_LENGTH", 1.5, "whole number of bytes"),
        ("SESSION_COOKIE_SAMESITE", "None", "Lax or Strict"),
        ("HOLE_SPOOL", "", "directory path"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(key: str, value: object, words: str) -> None:
    with pytest.raises(SettingsError, match=f"setting {key}: .*{words}"):
        create_app({"TESTING": True, key: value})
