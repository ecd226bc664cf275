"""Budget, actuals and variance of every account for one fiscal year, line by line.

A slow report (about five seconds) that prints each line as it goes, so
the page shows it working.
"""

import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

TITLE = _l("Year-end close")
DESCRIPTION = _l("Budget, actuals and variance of every account for one fiscal year, line by line.")


class YearEndForm(FlaskForm):
    """Only the year to close."""

    year = IntegerField(
        _l("Year"),
        default=lambda: datetime.date.today().year,
        validators=[InputRequired(), NumberRange(min=1990, max=2100)],
    )


def show_form() -> YearEndForm:
    return YearEndForm()


def prepare_input(form: YearEndForm) -> dict[str, str]:
    return {"year": str(form.year.data)}
