"""Budget against actuals, by category, for one account and fiscal year.

Runs the Financial Information System's budget report 12: it checks that
the database is open, that the web side may read the account, and prints
the budget, the actuals and the variance of each category.
"""

import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, NumberRange, Regexp

TITLE = _l("Budget report 12")
DESCRIPTION = _l("Budget against actuals, by category, for one account and fiscal year.")


class B12Form(FlaskForm):
    """The account and the year; the job map checks both again."""

    account = StringField(
        _l("Account"),
        description=_l("The account number: 8 digits."),
        validators=[
            InputRequired(),
            Regexp(r"[0-9]{8}\Z", message=_l("Enter the 8 digits of the account number.")),
        ],
    )
    year = IntegerField(
        _l("Year"),
        default=lambda: datetime.date.today().year,
        validators=[InputRequired(), NumberRange(min=1990, max=2100)],
    )


def show_form() -> B12Form:
    return B12Form()


def prepare_input(form: B12Form) -> dict[str, str]:
    return {"account": form.account.data or "", "year": str(form.year.data)}
