"""Helpers for the web side's tests."""

import warnings
from pathlib import Path

with warnings.catch_warnings():
    # WebOb, under WebTest, still imports the cgi module.
    warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
    import webtest

from webside.approval import approval_of, load_manifest, manifest_path, manifest_text
from webside.registry import NAME_RE

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEMO_STUBS = PROJECT_DIR / "stubs"

TestApp = webtest.TestApp

# A minimal working stub: one text field, sent as it is.
GOOD_STUB = '''
"""A small report for tests."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired

TITLE = "Echo"


class EchoForm(FlaskForm):
    text = StringField("Text", validators=[InputRequired()])


def show_form() -> EchoForm:
    return EchoForm()


def prepare_input(form: EchoForm) -> dict[str, str]:
    return {"text": form.text.data or ""}
'''


def write_stub(folder: Path, name: str, source: str, *, approved: bool = True) -> Path:
    """Put a stub file into `folder`, creating the folder; approve it as written unless told not to.

    Only approved stubs are served, so a stub a test means to serve is
    recorded in the folder's manifest, as `hole review NAME --approve` would.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    if approved and NAME_RE.fullmatch(name):
        approve_as_is(path)
    return path


def approve_as_is(path: Path) -> None:
    """Record the stub at `path` as approved with its current content."""
    manifest = load_manifest(path.parent)
    approval = approval_of(path.stem, path.read_bytes(), "tests", "2026-01-01T00:00:00Z", ())
    manifest_path(path.parent).write_text(manifest_text(manifest.with_approval(approval)), encoding="utf-8")


def main_text(page: "webtest.TestResponse") -> str:
    """The page's <main> as text, whitespace collapsed."""
    return " ".join(page.html.find("main").get_text().split())
