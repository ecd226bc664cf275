"""Field types: the allow-list of what a job's field may hold.

Rules:
1. There is no type that accepts anything. Each type below says exactly
   what it accepts, and every pattern is matched against the whole value
   (fullmatch), never searched for.
2. Lengths are checked before patterns, so no pattern ever runs on a value
   longer than its field allows.
3. A refusal names the field, a machine word for the reason (the web side
   translates it) and the values its message uses.
"""

import dataclasses
import datetime
import decimal
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

TYPES = ("text", "lines", "digits", "ident", "int", "decimal", "choice", "date", "flag")
# Types whose `min`/`max` bound the length; the others bound the value.
LENGTH_TYPES = frozenset({"text", "lines", "digits", "ident"})

_DIGITS_RE = re.compile(r"[0-9]+")
_IDENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Canonical decimal integers only: "007" and "+7" are ambiguous spellings
# of 7 that a program downstream might read differently.
_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]{0,18})")
_FRACTION_RE = re.compile(r"[0-9]{1,10}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Unicode categories never allowed: controls, format characters (bidi
# overrides, zero-width joiners) and the line and paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a job was refused before anything ran."""

    field: str
    code: str
    message: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One declared field of a job, as the map states it."""

    name: str
    type: str
    required: bool = False
    default: str | None = None
    min: Any = None
    max: Any = None
    regex: re.Pattern[str] | None = None
    choices: tuple[str, ...] = ()
    places: int = 2
    log: bool = False
    secret: bool = False
    leading_dash: bool = False
    in_argv: bool = False

    @property
    def max_length(self) -> int:
        """The longest value this field can ever hold, in characters."""
        if self.type in LENGTH_TYPES:
            return int(self.max)
        if self.type == "int":
            return max(len(str(self.min)), len(str(self.max)))
        if self.type == "decimal":
            return max(len(str(self.min)), len(str(self.max))) + 1 + self.places
        if self.type == "choice":
            return max(len(c) for c in self.choices)
        if self.type == "date":
            return 10
        return 3


def check_value(spec: FieldSpec, value: str) -> Rejection | None:
    """Check one decoded, non-empty value against its field; None if it passes."""
    if len(value) > spec.max_length:
        if spec.type in LENGTH_TYPES:
            return _refuse(spec, "too_long", f"is longer than {spec.max_length} characters", max=spec.max_length)
        return _refuse(spec, "invalid", "is not a valid value")
    bad = _first_control_character(value, allow_lines=spec.type == "lines")
    if bad is not None:
        code_point = f"U+{ord(bad):04X}"
        return _refuse(spec, "control_char", f"contains a control character ({code_point})", char=code_point)
    if spec.in_argv and value.startswith("-") and not spec.leading_dash:
        return _refuse(spec, "leading_dash", "must not start with '-'")
    checker = _CHECKERS[spec.type]
    return checker(spec, value)


def _first_control_character(value: str, allow_lines: bool) -> str | None:
    if value.isascii():
        for match in _ASCII_CONTROL_RE.finditer(value):
            if not (allow_lines and match[0] in "\n\t"):
                return match[0]
        return None
    for char in value:
        if allow_lines and char in "\n\t":
            continue
        if unicodedata.category(char) in _BAD_CATEGORIES:
            return char
    return None


def _refuse(spec: FieldSpec, code: str, words: str, **params: Any) -> Rejection:
    return Rejection(spec.name, code, f"field {spec.name!r} {words}", params)


def _check_length(spec: FieldSpec, value: str) -> Rejection | None:
    if spec.min is not None and len(value) < spec.min:
        return _refuse(spec, "too_short", f"needs at least {spec.min} characters", min=spec.min)
    return None


def _check_text(spec: FieldSpec, value: str) -> Rejection | None:
    assert spec.regex is not None
    if not spec.regex.fullmatch(value):
        return _refuse(spec, "pattern", "does not have the expected form")
    return _check_length(spec, value)


def _check_lines(spec: FieldSpec, value: str) -> Rejection | None:
    if spec.regex is not None:
        for number, line in enumerate(value.split("\n"), 1):
            if not spec.regex.fullmatch(line):
                return _refuse(spec, "pattern", f"line {number} does not have the expected form", line=number)
    return _check_length(spec, value)


def _check_digits(spec: FieldSpec, value: str) -> Rejection | None:
    if not _DIGITS_RE.fullmatch(value):
        return _refuse(spec, "not_digits", "must contain digits only")
    return _check_length(spec, value)


def _check_ident(spec: FieldSpec, value: str) -> Rejection | None:
    if not _IDENT_RE.fullmatch(value):
        return _refuse(spec, "not_ident", "must be letters, digits, '.', '_' or '-', starting with a letter or digit")
    return _check_length(spec, value)


def _check_range(spec: FieldSpec, number: Any) -> Rejection | None:
    if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
        return _refuse(
            spec, "out_of_range", f"must be between {spec.min} and {spec.max}", min=str(spec.min), max=str(spec.max)
        )
    return None


def _check_int(spec: FieldSpec, value: str) -> Rejection | None:
    if not _INT_RE.fullmatch(value):
        return _refuse(spec, "not_int", "must be a whole number")
    return _check_range(spec, int(value))


def _check_decimal(spec: FieldSpec, value: str) -> Rejection | None:
    whole, _, fraction = value.partition(".")
    bad_fraction = "." in value and (not _FRACTION_RE.fullmatch(fraction) or len(fraction) > spec.places)
    if not _INT_RE.fullmatch(whole) or bad_fraction:
        return _refuse(spec, "not_decimal", f"must be a number with at most {spec.places} decimals", places=spec.places)
    return _check_range(spec, decimal.Decimal(value))


def _check_choice(spec: FieldSpec, value: str) -> Rejection | None:
    if value not in spec.choices:
        return _refuse(spec, "not_choice", "is not one of the allowed choices", choices=list(spec.choices))
    return None


def _check_date(spec: FieldSpec, value: str) -> Rejection | None:
    if not _DATE_RE.fullmatch(value):
        return _refuse(spec, "not_date", "must be a date written YYYY-MM-DD")
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        return _refuse(spec, "not_date", "is not a date that exists")
    return _check_range(spec, day)


def _check_flag(spec: FieldSpec, value: str) -> Rejection | None:
    if value not in ("yes", "no"):
        return _refuse(spec, "not_flag", "must be yes or no")
    return None


_CHECKERS = {
    "text": _check_text,
    "lines": _check_lines,
    "digits": _check_digits,
    "ident": _check_ident,
    "int": _check_int,
    "decimal": _check_decimal,
    "choice": _check_choice,
    "date": _check_date,
    "flag": _check_flag,
}
