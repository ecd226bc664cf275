"""Every transaction of one account from a start date to an end date, both included.

The result is CSV: the page shows it as a table, with a button to
download the file.
"""

import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import InputRequired, Regexp, ValidationError

TITLE = _l("Ledger between two dates")
DESCRIPTION = _l("Every transaction of one account from a start date to an end date, both included.")

# The ledger's dates must fall in this range (the job map says the same).
FIRST_DAY = datetime.date(2000, 1, 1)
LAST_DAY = datetime.date(2099, 12, 31)


def _in_range(day: datetime.date | None) -> None:
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(_l("Enter a date from 2000-01-01 to 2099-12-31."))


class LedgerForm(FlaskForm):
    """An account and a date range; the end may not come before the start."""

    account = StringField(
        _l("Account"),
        description=_l("The account number: 8 digits."),
        validators=[
            InputRequired(),
            Regexp(r"[0-9]{8}\Z", message=_l("Enter the 8 digits of the account number.")),
        ],
    )
    start = DateField(_l("From"), description=_l("The first day, as YYYY-MM-DD."), validators=[InputRequired()])
    end = DateField(_l("To"), description=_l("The last day, as YYYY-MM-DD."), validators=[InputRequired()])

    def validate_start(self, field: DateField) -> None:
        _in_range(field.data)

    def validate_end(self, field: DateField) -> None:
        _in_range(field.data)
        if self.start.data is not None and field.data is not None and field.data < self.start.data:
            raise ValidationError(_l("The last day cannot come before the first."))


def show_form() -> LedgerForm:
    return LedgerForm()


def prepare_input(form: LedgerForm) -> dict[str, str]:
    start = form.start.data
    end = form.end.data
    # Validation made sure both dates are there.
    assert start is not None
    assert end is not None
    return {"account": form.account.data or "", "start": start.isoformat(), "end": end.isoformat()}
