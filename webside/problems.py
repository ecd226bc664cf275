"""What a failed job means to the user: an HTTP status and words in their language.

Rules:
1. Every job status has an entry; the sys side's English message is shown
   only as a detail, or when no translation fits.
2. A rejection's reason is translated by its code, filled with its params;
   an unknown code, or params that do not fit, fall back to the English
   message so nothing is lost.
3. Nothing here is markup: templates escape every string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hole import Status, StatusRecord
from webside.i18n import _


@dataclass(frozen=True, slots=True)
class Problem:
    """A failure as shown: status code, heading, sentence, and details."""

    code: int
    title: str
    text: str
    detail: str = ""
    field: str = ""  # rejected: the name of the refused field


def rejection_reason(details: Mapping[str, Any], english: str) -> str:
    """The reason a field was refused, in words, from the code and params."""
    code = details.get("code")
    params = details.get("params")
    params = params if isinstance(params, dict) else {}
    make = _REASONS.get(code) if isinstance(code, str) else None
    if make is None:
        return english
    try:
        return make(params)
    except (KeyError, TypeError, ValueError):
        return english


_REASONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "required": lambda p: _("a value is required."),
    "unknown_field": lambda p: _("the report service does not know this field."),
    "encoding": lambda p: _("the value is not valid text."),
    "too_long": lambda p: _("at most %(max)s characters are allowed.", max=p["max"]),
    "too_short": lambda p: _("at least %(min)s characters are needed.", min=p["min"]),
    "invalid": lambda p: _("this is not a valid value."),
    "control_char": lambda p: _("the value contains a control character (%(char)s).", char=p["char"]),
    "leading_dash": lambda p: _("the value must not start with “-”."),
    "pattern": lambda p: (
        _("line %(line)s does not have the expected form.", line=p["line"])
        if "line" in p
        else _("the value does not have the expected form.")
    ),
    "not_digits": lambda p: _("only digits are allowed."),
    "not_ident": lambda p: _("use letters, digits, “.”, “_” or “-”, starting with a letter or digit."),
    "out_of_range": lambda p: _("the value must be between %(min)s and %(max)s.", min=p["min"], max=p["max"]),
    "not_int": lambda p: _("enter a whole number."),
    "not_decimal": lambda p: _("enter a number with at most %(places)s decimals.", places=p["places"]),
    "not_choice": lambda p: _("choose one of the listed values."),
    "not_date": lambda p: _("enter a date that exists, written YYYY-MM-DD."),
    "not_flag": lambda p: _("the value must be yes or no."),
}


def explain(record: StatusRecord, label: str = "") -> Problem:
    """The Problem for a job that did not end well; `label` names a rejected field."""
    details = record.details
    status = record.status
    if status is Status.REJECTED:
        field = details.get("field", "")
        field = field if isinstance(field, str) else ""
        reason = rejection_reason(details, record.message)
        if field:
            text = _(
                "The report service refused the field “%(field)s”: %(reason)s", field=label or field, reason=reason
            )
        else:
            text = _("The report service refused the request: %(reason)s", reason=reason)
        return Problem(422, _("Check the form"), text, field=field)
    if status is Status.STEP_FAILED:
        return Problem(502, _("The report failed"), _step_failed(details), detail=record.message)
    if status is Status.TIMEOUT:
        seconds = details.get("seconds")
        if isinstance(seconds, int | float):
            text = _(
                "The report took longer than %(seconds)s seconds and was stopped. "
                "Try a smaller request, or try again later.",
                seconds=f"{seconds:g}",
            )
        else:
            text = _("The report took too long and was stopped. Try a smaller request, or try again later.")
        return Problem(504, _("The report timed out"), text)
    if status is Status.BUSY:
        return Problem(
            503,
            _("The report service is busy"),
            _("Too many reports are running right now. Try again in a minute."),
        )
    if status is Status.UNKNOWN_JOB:
        return Problem(
            500,
            _("This report is not set up"),
            _("This report is not configured on the server. Tell the webmaster."),
            detail=record.message,
        )
    if status is Status.TOO_LARGE:
        limit = details.get("limit")
        if isinstance(limit, int):
            text = _("The report's output passed its limit of %(limit)s bytes and was cut short.", limit=limit)
        else:
            text = _("The report's output passed its size limit and was cut short.")
        return Problem(502, _("The report is too large"), text)
    if status is Status.INTERRUPTED:
        return Problem(
            502,
            _("The report was interrupted"),
            _("The report was stopped before it finished. Try again."),
            detail=record.message,
        )
    # INTERNAL_ERROR, BAD_REQUEST, and OK (never passed here by the views).
    return Problem(
        500,
        _("The report service failed"),
        _("The report service could not run this report. Try again later; if it keeps failing, tell the webmaster."),
        detail=record.message,
    )


def _step_failed(details: Mapping[str, Any]) -> str:
    step = details.get("step")
    program = details.get("program", "")
    if not isinstance(step, int):
        return _("One of the report's programs failed.")
    if isinstance(details.get("signal"), int):
        return _(
            "Step %(step)s of the report (%(program)s) was killed by signal %(signal)s.",
            step=step,
            program=program,
            signal=details["signal"],
        )
    if isinstance(details.get("exit"), int):
        return _(
            "Step %(step)s of the report (%(program)s) failed with exit status %(exit)s.",
            step=step,
            program=program,
            exit=details["exit"],
        )
    return _("Step %(step)s of the report (%(program)s) failed.", step=step, program=program)


def unavailable(message: str, daemon_down: bool) -> Problem:
    """The Problem for a job the hole could not even carry (503)."""
    if daemon_down:
        return Problem(
            503,
            _("The report service is not running"),
            _("The report service is not running. Try again later."),
            detail=message,
        )
    return Problem(
        503, _("The report service is unavailable"), _("The job could not be sent: try again later."), detail=message
    )
