"""Planted stubs and maps for the review's tests."""

from pathlib import Path

from click.testing import CliRunner, Result

from sysside.commands.review import review_command

# A stub that does only what a stub should: one field, sent as it is.
CLEAN = '''"""Echo one line of text."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length

TITLE = "Echo"


class EchoForm(FlaskForm):
    text = StringField("Text", validators=[InputRequired(), Length(max=20)])


def show_form() -> EchoForm:
    return EchoForm()


def prepare_input(form: EchoForm) -> dict[str, str]:
    return {"text": form.text.data or ""}
'''

# A job map whose one job, echo, takes exactly CLEAN's field.
ECHO_JOBS = """\
[defaults]
timeout = "10s"
limits = { cpu = "10s", memory = "1GB", open_files = 64, processes = 256, file_size = "16MB" }

[jobs.echo]
title = "Echo"
fields.text = { type = "text", regex = "[ -~]*", max = 20, required = true }
steps = [{ run = ["/bin/cat"], stdin = "{text}\\n" }]
"""


def review(*args: str | Path) -> Result:
    """Run `hole review` with these arguments."""
    return CliRunner().invoke(review_command, [str(a) for a in args])


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
