"""Placeholder templates: parsed once, rendered literally."""

import pytest

from sysside.templates import Template, TemplateError, parse_template


def test_parts_and_names() -> None:
    template = parse_template("web\n{account}\n{year}")
    assert template.parts == ((False, "web\n"), (True, "account"), (False, "\n"), (True, "year"))
    assert template.names == {"account", "year"}
    assert template.render({"account": "10000001", "year": "2024"}) == "web\n10000001\n2024"


def test_value_is_inserted_once_and_literally() -> None:
    # A value that looks like a placeholder must stay that text, or a user
    # could read another field (or the job id) into their own.
    template = parse_template("{a}-{b}")
    assert template.render({"a": "{b}", "b": "{{job.id}}"}) == "{b}-{{job.id}}"


def test_double_braces_are_literal() -> None:
    template = parse_template("{{year}} is {year}; }}{{")
    assert template.parts == ((False, "{year} is "), (True, "year"), (False, "; }{"))
    assert template.names == {"year"}
    assert template.render({"year": "2024"}) == "{year} is 2024; }{"


def test_job_names() -> None:
    template = parse_template("{job.name}/{job.id}")
    assert template.names == {"job.name", "job.id"}
    assert template.render({"job.name": "b12", "job.id": "ab"}) == "b12/ab"


def test_single_placeholder() -> None:
    assert parse_template("{account}").is_single_placeholder
    assert not parse_template("--account={account}").is_single_placeholder
    assert not parse_template("{a}{b}").is_single_placeholder
    assert not parse_template("plain").is_single_placeholder
    assert parse_template("") == Template(())


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{", "lone '{'"),
        ("}", "lone '}'"),
        ("a{b", "lone '{'"),
        ("a}b", "lone '}'"),
        ("{a}}", "lone '}'"),
        ("{}", "is not a field name"),
        ("{Year}", "is not a field name"),
        ("{a b}", "is not a field name"),
        ("{1a}", "is not a field name"),
        ("{job.other}", "is not a field name"),
        ("{job}x{a.b}", r"\{a\.b\} is not a field name"),
        ("{session.user}", "sessions are not available"),
        ("{" + "a" * 64 + "}", "is not a field name"),
    ],
)
def test_bad_templates(source: str, words: str) -> None:
    with pytest.raises(TemplateError, match=words):
        parse_template(source)
