"""The text `scaffold` writes: a report stub, its test, and its job-map entry.

Rules:
1. The three must agree field for field: the form's checks, the test's
   good and bad values, and the job map's types say the same thing.
2. Placeholders are string.Template's: $name (the report), $title, $form
   (the form class), $stubs_dir (the stub folder, seen from the test).
3. The output depends on those values only, so it is the same every run.
"""

STUB = '''\
"""$title: say in one line what this report shows (the report list shows this line).

Then say, for the webmaster who approves this file, what the report reads
and about how long it takes.

Fill in two functions: show_form() builds the form the user fills in, and
prepare_input(form) turns the checked form into the job's fields, one
string per field. Every field here must have a field of the same name and
the same rules in the job's entry in the job map: the web side checks
first, for the user's sake, and the job map checks again before anything
runs. Delete the example fields you do not need, here, in the test and in
the job-map entry.
"""

import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Regexp

# The report's name on the report list and at the top of its page.
TITLE = _l("$title")
# One line under it, on the list and the form (translated, unlike the
# docstring's first line, which is shown when there is no DESCRIPTION).
DESCRIPTION = _l("$title: what this report shows, in one line.")


class $form(FlaskForm):
    """What the user fills in, in the order shown."""

    # Free text, like PIC X(20): at most 20 characters, and the Regexp
    # says which ones. The job map's `regex` and `max` must say the same.
    reference = StringField(
        _l("Reference"),
        description=_l("Letters, digits, spaces, dots and dashes; at most 20."),
        validators=[
            InputRequired(),
            Length(max=20),
            Regexp(
                r"[A-Za-z0-9][A-Za-z0-9 .-]*\\Z",
                message=_l("Start with a letter or digit; then letters, digits, spaces, dots and dashes."),
            ),
        ],
    )
    # Digits only, like PIC 9(8): exactly 8 of them.
    account = StringField(
        _l("Account"),
        description=_l("The account number: 8 digits."),
        validators=[
            InputRequired(),
            Regexp(r"[0-9]{8}\\Z", message=_l("Enter the 8 digits of the account number.")),
        ],
    )
    # A whole number between two limits. It starts at this year.
    year = IntegerField(
        _l("Year"),
        default=lambda: datetime.date.today().year,
        validators=[InputRequired(), NumberRange(min=1990, max=2100)],
    )
    # One value from a fixed list, like an 88 level: on each line, the
    # program receives the value on the left, the user reads the one on
    # the right. (A lambda, so the labels are in the user's language.)
    category = SelectField(
        _l("Category"),
        choices=lambda: {"all": _("All"), "salaries": _("Salaries"), "travel": _("Travel")},
        validators=[InputRequired()],
    )
    # A calendar date; the program receives it as YYYY-MM-DD.
    start = DateField(_l("Start date"), validators=[InputRequired()])
    # A yes/no switch; the program receives "yes" or "no".
    detail = BooleanField(_l("Show detail lines"))


def show_form() -> $form:
    """The form: empty at first, filled from the request when it is posted."""
    return $form()


def prepare_input(form: $form) -> dict[str, str]:
    """The job's fields, each as a string, from a form that passed its checks."""
    # InputRequired() made sure these are filled in.
    assert form.year.data is not None
    assert form.start.data is not None
    return {
        "reference": form.reference.data or "",
        "account": form.account.data or "",
        "year": str(form.year.data),
        "category": str(form.category.data),
        "start": form.start.data.isoformat(),
        "detail": "yes" if form.detail.data else "no",
    }
'''

TEST = '''\
"""The $name report's stub: its form shows, checks its input, and builds the job's fields.

When you change a field in the stub, change VALID, EXPECTED and BAD here.
Run: pytest $test_path
"""

from pathlib import Path

import pytest
from flask import Flask

from webside import create_app
from webside.registry import Registry, Report

STUBS_DIR = (Path(__file__).parent / "$stubs_dir").resolve()
NAME = "$name"

# A good submission, as the browser sends it...
VALID = {
    "reference": "Q3 review",
    "account": "10000001",
    "year": "2024",
    "category": "travel",
    "start": "2024-01-31",
    "detail": "y",
}
# ...and the job's fields that prepare_input() must make of it.
EXPECTED = {
    "reference": "Q3 review",
    "account": "10000001",
    "year": "2024",
    "category": "travel",
    "start": "2024-01-31",
    "detail": "yes",
}
# Values the form must refuse: (field, value).
BAD = [
    ("reference", ""),
    ("reference", "-starts with a dash"),
    ("reference", "x" * 21),
    ("reference", "semi;colon"),
    ("account", "1234567"),
    ("account", "123456789"),
    ("account", "1234567x"),
    ("year", "1989"),
    ("year", "2101"),
    ("year", "twenty"),
    ("category", "equipment"),
    ("start", "2024-02-30"),
    ("start", "31/01/2024"),
]


# HOLE_DEV (dev=True) serves the stub before the webmaster has approved it,
# and again each time it changes: a real site serves only approved stubs.
@pytest.fixture
def app() -> Flask:
    return create_app({"TESTING": True, "STUBS_DIR": str(STUBS_DIR), "WTF_CSRF_ENABLED": False, "HOLE_DEV": True})


@pytest.fixture
def report() -> Report:
    return Registry.load(STUBS_DIR, dev=True).reports[NAME]


def test_form_shows_every_field(app: Flask) -> None:
    page = app.test_client().get(f"/r/{NAME}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for field in EXPECTED:
        assert f'name="{field}"' in html


def test_good_input_makes_the_jobs_fields(app: Flask, report: Report) -> None:
    with app.test_request_context(f"/r/{NAME}", method="POST", data=VALID):
        form = report.make_form()
        assert form.validate(), form.errors
        assert report.prepare(form) == EXPECTED


def test_unticked_flag_is_no(app: Flask, report: Report) -> None:
    data = {key: value for key, value in VALID.items() if key != "detail"}
    with app.test_request_context(f"/r/{NAME}", method="POST", data=data):
        form = report.make_form()
        assert form.validate(), form.errors
        assert report.prepare(form)["detail"] == "no"


@pytest.mark.parametrize(("field", "value"), BAD)
def test_bad_input_is_refused(app: Flask, report: Report, field: str, value: str) -> None:
    with app.test_request_context(f"/r/{NAME}", method="POST", data={**VALID, field: value}):
        form = report.make_form()
        assert not form.validate()
        assert field in form.errors
'''

JOB_ENTRY = """\
# The job-map entry for the $name report (see docs/jobmap.md). The webmaster
# adds it to the job map, checks it with `hole jobs check FILE`, and approves
# the stub with `hole review $name --approve`. Its fields match the stub's form exactly; its one step prints
# them back, so the report works as soon as the entry is in. Replace the
# step with the real programs.
[jobs.$name]
title = "$title"
description = "Say in one line what this report shows."
output = "text/plain"
timeout = "30s"
limits = { cpu = "30s", memory = "1GB", open_files = 64, processes = 256, file_size = "64MB" }
fields.reference = { type = "text", regex = "[A-Za-z0-9][A-Za-z0-9 .-]*", max = 20, required = true }
fields.account = { type = "digits", min = 8, max = 8, required = true }
fields.year = { type = "int", min = 1990, max = 2100, required = true }
fields.category = { type = "choice", choices = ["all", "salaries", "travel"], required = true }
fields.start = { type = "date", required = true }
fields.detail = { type = "flag", required = true }
steps = [
  { run = ["/bin/cat"], stdin = \"\"\"\\
reference: {reference}
account: {account}
year: {year}
category: {category}
start: {start}
detail: {detail}
\"\"\" },
]
"""
