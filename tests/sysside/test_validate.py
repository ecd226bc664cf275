"""The sanitizer: each field type's accept and refuse cases, and validate_fields as a whole."""

import pytest

from sysside.fieldtypes import Rejection
from sysside.jobmap import JobSpec, load_jobmap
from sysside.validate import validate_fields
from tests.sysside.helpers import write_map

# Every field is passed to the program in argv except those named *_in,
# which only reach its stdin: the leading-dash rule is about argv.
FIELDS_MAP = """\
    [jobs.every]
    title = "Every type"
    fields.text = { type = "text", regex = "[A-Za-z ]+", min = 2, max = 20 }
    fields.code = { type = "text", regex = "[0-9]+", max = 40 }
    fields.dashy = { type = "text", regex = "[-a-z]+", max = 20, leading_dash = true }
    fields.text_in = { type = "text", regex = "[-a-z]+", max = 20 }
    fields.lines = { type = "lines", max = 100 }
    fields.codes = { type = "lines", regex = "[0-9]+", max = 100 }
    fields.digits = { type = "digits", min = 8, max = 8 }
    fields.ident = { type = "ident", max = 12 }
    fields.int = { type = "int", min = -5, max = 100 }
    fields.signed = { type = "int", min = -5, max = 100, leading_dash = true }
    fields.decimal = { type = "decimal", places = 2, min = 0, max = 1000 }
    fields.choice = { type = "choice", choices = ["all", "travel", "a b"] }
    fields.date = { type = "date", min = 2000-01-01, max = 2099-12-31 }
    fields.flag = { type = "flag" }
    fields.need = { type = "digits", max = 4, required = true }
    fields.user = { type = "ident", max = 12, default = "web" }
    steps = [
      { run = ["/bin/cat", "{text}", "{code}", "{dashy}", "{digits}", "{ident}", "{int}", "{signed}"] },
      { run = ["/bin/cat"], stdin = "{text_in}{lines}{codes}" },
      { run = ["/bin/cat", "{decimal}", "{choice}", "{date}", "{flag}", "{need}", "{user}"] },
    ]
    """


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> JobSpec:
    path = write_map(tmp_path_factory.mktemp("map") / "jobs.toml", FIELDS_MAP)
    return load_jobmap(path).jobs["every"]


def check(job: JobSpec, name: str, value: str | bytes) -> dict[str, str] | Rejection:
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    fields = {"need": b"1"} if name != "need" else {}
    return validate_fields(job, {**fields, name: raw})


ACCEPT = [
    ("text", "Hello world"),
    ("text", "ab"),
    ("code", "0123456789"),
    ("dashy", "-x"),
    ("dashy", "--all"),
    ("text_in", "-x"),
    ("lines", "one\ntwo\tthree"),
    ("lines", "\n\n"),
    ("lines", "café ☕"),
    ("codes", "1\n22\n333"),
    ("digits", "12345678"),
    ("digits", "00000000"),
    ("ident", "ab-c.d_e"),
    ("ident", "9lives"),
    ("ident", "A"),
    ("int", "0"),
    ("int", "42"),
    ("int", "100"),
    ("signed", "-5"),
    ("signed", "-1"),
    ("decimal", "0"),
    ("decimal", "12.5"),
    ("decimal", "12.34"),
    ("decimal", "1000"),
    ("decimal", "1000.00"),
    ("choice", "all"),
    ("choice", "a b"),
    ("date", "2024-02-29"),
    ("date", "2000-01-01"),
    ("date", "2099-12-31"),
    ("flag", "yes"),
    ("flag", "no"),
]


@pytest.mark.parametrize(("name", "value"), ACCEPT)
def test_accepts(job: JobSpec, name: str, value: str) -> None:
    checked = check(job, name, value)
    assert not isinstance(checked, Rejection), checked
    assert checked[name] == value


REFUSE = [
    ("text", "Hello1", "pattern"),
    ("text", "a", "too_short"),
    ("text", "a" * 21, "too_long"),
    ("text", "Hello\tworld", "control_char"),
    ("code", "12 34", "pattern"),
    ("code", "12;rm -rf /", "pattern"),
    ("code", "١٢٣", "pattern"),  # Arabic-Indic digits are digits, but not [0-9]
    ("text_in", "-X", "pattern"),
    ("lines", "a\rb", "control_char"),
    ("lines", "a\x1b[31mb", "control_char"),
    ("lines", "a\x00b", "control_char"),
    ("lines", "x" * 101, "too_long"),
    ("codes", "1\n2a", "pattern"),
    ("codes", "1\n", "pattern"),
    ("digits", "1234567", "too_short"),
    ("digits", "123456789", "too_long"),
    ("digits", "1234567a", "not_digits"),
    ("digits", "1234 678", "not_digits"),
    ("digits", "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18", "not_digits"),  # fullwidth digits
    ("digits", "-1234567", "leading_dash"),
    ("ident", "-abc", "leading_dash"),
    ("ident", ".hidden", "not_ident"),
    ("ident", "_x", "not_ident"),
    ("ident", "a b", "not_ident"),
    ("ident", "a/b", "not_ident"),
    ("ident", "ünï", "not_ident"),
    ("int", "007", "not_int"),
    ("int", "+7", "not_int"),
    ("int", "4.0", "not_int"),
    ("int", "1e2", "not_int"),
    ("int", " 7", "not_int"),
    ("int", "0x1f", "invalid"),  # longer than any value in range
    ("int", "1_0", "not_int"),
    ("int", "101", "out_of_range"),
    ("int", "-1", "leading_dash"),
    ("signed", "-6", "out_of_range"),
    ("signed", "-07", "not_int"),
    ("decimal", "12.345", "not_decimal"),
    ("decimal", ".5", "not_decimal"),
    ("decimal", "5.", "not_decimal"),
    ("decimal", "01.5", "not_decimal"),
    ("decimal", "+1.5", "not_decimal"),
    ("decimal", "1e3", "not_decimal"),
    ("decimal", "12,34", "not_decimal"),
    ("decimal", "NaN", "not_decimal"),
    ("decimal", "1000.01", "out_of_range"),
    ("choice", "ALL", "not_choice"),
    ("choice", "all ", "not_choice"),
    ("choice", "trave", "not_choice"),
    ("date", "2023-02-29", "not_date"),
    ("date", "2024-02-30", "not_date"),
    ("date", "2024-04-31", "not_date"),
    ("date", "2024-13-01", "not_date"),
    ("date", "2024-00-10", "not_date"),
    ("date", "2024-1-01", "not_date"),
    ("date", "20240101", "not_date"),
    ("date", "2024-01-01T00:00", "invalid"),
    ("date", "1999-12-31", "out_of_range"),
    ("date", "2100-01-01", "out_of_range"),
    ("date", "\uff12\uff10\uff12\uff14-01-01", "not_date"),
    ("flag", "YES", "not_flag"),
    ("flag", "true", "invalid"),
    ("flag", "1", "not_flag"),
]


@pytest.mark.parametrize(("name", "value", "code"), REFUSE)
def test_refuses(job: JobSpec, name: str, value: str, code: str) -> None:
    checked = check(job, name, value)
    assert isinstance(checked, Rejection), checked
    assert (checked.field, checked.code) == (name, code)
    assert repr(name) in checked.message


@pytest.mark.parametrize(
    ("char", "code_point"),
    [
        ("\x00", "U+0000"),
        ("\n", "U+000A"),
        ("\r", "U+000D"),
        ("\t", "U+0009"),
        ("\x1b", "U+001B"),
        ("\x7f", "U+007F"),
        ("\x85", "U+0085"),
        ("\u202e", "U+202E"),  # right-to-left override
        ("\u200b", "U+200B"),  # zero width space
        ("\u2028", "U+2028"),  # line separator
        ("\u2029", "U+2029"),  # paragraph separator
        ("\ufeff", "U+FEFF"),
    ],
)
def test_control_characters_refused(job: JobSpec, char: str, code_point: str) -> None:
    for name in ("text", "choice", "ident", "text_in"):
        checked = check(job, name, f"ab{char}cd")
        assert isinstance(checked, Rejection), (name, checked)
        assert checked.code == "control_char"
        assert checked.params == {"char": code_point}
    in_lines = check(job, "lines", f"ab{char}cd")
    if char in "\n\t":
        assert not isinstance(in_lines, Rejection)
    else:
        assert isinstance(in_lines, Rejection) and in_lines.code == "control_char"


def test_unanchored_regex_trick_refused(job: JobSpec) -> None:
    # re.match("[0-9]+", ...) or a pattern ending in "$" would pass these:
    # a valid prefix, a newline, then the payload.
    for value in ("123\n; rm -rf /", "123\n", "123$(reboot)"):
        checked = check(job, "code", value)
        assert isinstance(checked, Rejection), value
    # In a lines field each line must match whole, the last one too.
    checked = check(job, "codes", "123\n456; rm -rf /")
    assert isinstance(checked, Rejection)
    assert (checked.code, checked.params) == ("pattern", {"line": 2})


def test_leading_dash_only_matters_in_argv(job: JobSpec) -> None:
    assert job.fields["text"].in_argv and job.fields["dashy"].in_argv
    assert not job.fields["text_in"].in_argv and not job.fields["lines"].in_argv
    refused = check(job, "int", "-3")
    assert isinstance(refused, Rejection) and refused.code == "leading_dash"
    accepted = check(job, "signed", "-3")
    assert not isinstance(accepted, Rejection) and accepted["signed"] == "-3"


def test_unknown_field(job: JobSpec) -> None:
    checked = validate_fields(job, {"need": b"1", "nosuch": b"x"})
    assert isinstance(checked, Rejection)
    assert (checked.field, checked.code) == ("nosuch", "unknown_field")


def test_missing_required(job: JobSpec) -> None:
    for fields in ({}, {"need": b""}, {"text": b"Hello"}):
        checked = validate_fields(job, fields)
        assert isinstance(checked, Rejection)
        assert (checked.field, checked.code) == ("need", "required")


def test_optional_fields_take_default_or_empty(job: JobSpec) -> None:
    checked = validate_fields(job, {"need": b"12"})
    assert not isinstance(checked, Rejection)
    assert checked["user"] == "web"
    assert checked["text"] == "" and checked["int"] == "" and checked["date"] == ""
    assert set(checked) == set(job.fields)
    explicit = validate_fields(job, {"need": b"12", "user": b"alice"})
    assert not isinstance(explicit, Rejection) and explicit["user"] == "alice"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        b"abc\x80",
        b"\xc0\xaf",  # overlong "/"
        b"\xe0\x80\xaf",  # overlong "/"
        b"\xed\xa0\x80",  # a UTF-16 surrogate
        b"\xf4\x90\x80\x80",  # past U+10FFFF
        b"caf\xc3",  # cut short
    ],
)
def test_invalid_utf8_refused(job: JobSpec, raw: bytes) -> None:
    for name in ("text", "lines", "choice"):
        checked = check(job, name, raw)
        assert isinstance(checked, Rejection)
        assert (checked.field, checked.code) == (name, "encoding")


def test_first_refusal_is_reported_and_nothing_is_half_checked(job: JobSpec) -> None:
    checked = validate_fields(job, {"need": b"12", "int": b"007", "flag": b"maybe"})
    assert isinstance(checked, Rejection)
    assert checked.field == "int"
