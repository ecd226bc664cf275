"""Budget and actuals of every account for one category, or all, in one fiscal year.

The result is CSV: the page shows it as a table, with a button to
download the file.
"""

import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField
from wtforms.validators import InputRequired, NumberRange

TITLE = _l("Spending by category")
DESCRIPTION = _l("Budget and actuals of every account for one category, or all, in one fiscal year.")


def categories() -> dict[str, str]:
    """The categories: the value the job receives, and the label shown (translated)."""
    return {
        "all": _("All categories"),
        "salaries": _("Salaries"),
        "supplies": _("Supplies"),
        "travel": _("Travel"),
        "equipment": _("Equipment"),
    }


class SpendingForm(FlaskForm):
    """A category and a year."""

    category = SelectField(_l("Category"), choices=categories, default="all", validators=[InputRequired()])
    year = IntegerField(
        _l("Year"),
        default=lambda: datetime.date.today().year,
        validators=[InputRequired(), NumberRange(min=1990, max=2100)],
    )


def show_form() -> SpendingForm:
    return SpendingForm()


def prepare_input(form: SpendingForm) -> dict[str, str]:
    return {"category": str(form.category.data), "year": str(form.year.data)}
