"""The demo's report stubs: their forms, their checks, and the job fields they build."""

import datetime
import tomllib
from pathlib import Path

import pytest
from flask import Flask

from webside import create_app
from webside.registry import Registry, Report

PROJECT_DIR = Path(__file__).resolve().parents[2]
STUBS_DIR = PROJECT_DIR / "stubs"
DEMO_JOBS = PROJECT_DIR / "sysside" / "demo" / "jobs.toml"

# For each report: a good submission and the job fields it must become.
GOOD = {
    "b12": ({"account": "10000001", "year": "2024"}, {"account": "10000001", "year": "2024"}),
    "spending": ({"category": "travel", "year": "2023"}, {"category": "travel", "year": "2023"}),
    "ledger": (
        {"account": "10000001", "start": "2024-01-01", "end": "2024-12-31"},
        {"account": "10000001", "start": "2024-01-01", "end": "2024-12-31"},
    ),
    "yearend": ({"year": "2025"}, {"year": "2025"}),
}

# Values each form must refuse: (report, field, value).
BAD = [
    ("b12", "account", ""),
    ("b12", "account", "1234567"),
    ("b12", "account", "123456789"),
    ("b12", "account", "1234567a"),
    ("b12", "account", "-1234567"),
    ("b12", "year", "1989"),
    ("b12", "year", "2101"),
    ("b12", "year", "20x4"),
    ("b12", "year", ""),
    ("spending", "category", "food"),
    ("spending", "category", ""),
    ("spending", "year", "999"),
    ("ledger", "account", "abcdefgh"),
    ("ledger", "start", "2024-02-30"),
    ("ledger", "start", "1999-12-31"),
    ("ledger", "end", "2100-01-01"),
    ("ledger", "end", "2023-12-31"),
    ("ledger", "end", ""),
    ("yearend", "year", "-2024"),
]


@pytest.fixture(scope="module")
def app() -> Flask:
    return create_app({"TESTING": True, "STUBS_DIR": str(STUBS_DIR), "WTF_CSRF_ENABLED": False})


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    registry = Registry.load(STUBS_DIR)
    assert registry.broken == {}
    return registry.reports


@pytest.mark.parametrize("name", sorted(GOOD))
def test_form_renders(app: Flask, name: str) -> None:
    page = app.test_client().get(f"/r/{name}")
    assert page.status_code == 200
    for field in GOOD[name][1]:
        assert f'name="{field}"' in page.get_data(as_text=True)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_input_makes_the_jobs_fields(app: Flask, reports: dict[str, Report], name: str) -> None:
    data, expected = GOOD[name]
    with app.test_request_context(f"/r/{name}", method="POST", data=data):
        form = reports[name].make_form()
        assert form.validate(), form.errors
        assert reports[name].prepare(form) == expected


@pytest.mark.parametrize(("name", "field", "value"), BAD)
def test_bad_input_is_refused(app: Flask, reports: dict[str, Report], name: str, field: str, value: str) -> None:
    data = {**GOOD[name][0], field: value}
    with app.test_request_context(f"/r/{name}", method="POST", data=data):
        form = reports[name].make_form()
        assert not form.validate()
        assert field in form.errors


@pytest.mark.parametrize("name", sorted(GOOD))
def test_fields_are_the_demo_job_maps(app: Flask, reports: dict[str, Report], name: str) -> None:
    jobs = tomllib.loads(DEMO_JOBS.read_text())["jobs"]
    report = reports[name]
    with app.test_request_context(f"/r/{name}"):
        form_fields = {field.name for field in report.make_form() if field.name != "csrf_token"}
    assert form_fields == set(jobs[report.job]["fields"])


def test_year_fields_start_at_this_year(app: Flask, reports: dict[str, Report]) -> None:
    this_year = datetime.date.today().year
    with app.test_request_context("/"):
        for name in ("b12", "spending", "yearend"):
            form = reports[name].make_form()
            assert form["year"].data == this_year
