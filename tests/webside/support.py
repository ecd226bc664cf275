"""Helpers for the web side's tests."""

import warnings
from pathlib import Path

with warnings.catch_warnings():
    # WebOb, under WebTest, still imports the cgi module.
    warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
    import webtest

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


def write_stub(folder: Path, name: str, source: str) -> Path:
    """Put a stub file into `folder`, creating the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def main_text(page: "webtest.TestResponse") -> str:
    """The page's <main> as text, whitespace collapsed."""
    return " ".join(page.html.find("main").get_text().split())
