"""The registry: good stubs are served, broken ones are left out and named in the log."""

import logging
from pathlib import Path

import pytest

from tests.webside.conftest import AppFactory
from tests.webside.support import DEMO_STUBS, GOOD_STUB, TestApp, write_stub
from webside.registry import Registry

BROKEN = {
    "syntax": ("def show_form(:\n", "syntax error on line 1"),
    "no_prepare": (GOOD_STUB.replace("def prepare_input", "def prepare_inputs"), "no prepare_input() function"),
    "no_form": (GOOD_STUB.replace("def show_form", "def make_form"), "no show_form() function"),
    "raises": ("raise ValueError('no database here')\n", "ValueError: no database here"),
    "bad_import": ("import no_such_module_anywhere\n", "ModuleNotFoundError"),
    "bad_job": (GOOD_STUB + "\nJOB = 'Not A Job'\n", "JOB must be a job name"),
    "empty_title": (GOOD_STUB.replace('TITLE = "Echo"', 'TITLE = "  "'), "TITLE must be"),
    "two_line_description": (GOOD_STUB + '\nDESCRIPTION = "one\\ntwo"\n', "DESCRIPTION must be one line"),
    "Upper": (GOOD_STUB, "the file name must match"),
}


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    folder = tmp_path / "stubs"
    write_stub(folder, "echo", GOOD_STUB)
    for name, (source, _reason) in BROKEN.items():
        write_stub(folder, name, source)
    write_stub(folder, "_helper", "raise SystemExit('never imported')\n")
    (folder / "notes.txt").write_text("not a stub")
    return folder


def test_broken_stubs_are_left_out_with_the_reason(stubs: Path) -> None:
    registry = Registry.load(stubs)
    assert set(registry.reports) == {"echo"}
    assert {Path(path).stem for path in registry.broken} == set(BROKEN)
    for path, reason in registry.broken.items():
        assert BROKEN[Path(path).stem][1] in reason


def test_app_starts_and_logs_each_broken_stub(
    make_app: AppFactory, stubs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(STUBS_DIR=str(stubs))
    logged = [r.getMessage() for r in caplog.records if r.name == app.logger.name]
    for name, (_source, reason) in BROKEN.items():
        [line] = [m for m in logged if f"{stubs / name}.py" in m]
        assert "left out" in line
        assert reason in line
    client = TestApp(app)
    assert [a["href"] for a in client.get("/").html.select("ul.reports a")] == ["/r/echo"]
    client.get("/r/no_prepare", status=404)


def test_title_description_and_job_come_from_the_stub(tmp_path: Path) -> None:
    source = GOOD_STUB.replace('"""A small report for tests."""', '"""First line.\n\nMore text."""')
    write_stub(tmp_path, "echo", source + "\nJOB = 'other_job'\n")
    write_stub(tmp_path, "described", GOOD_STUB + '\nDESCRIPTION = "Said by the stub."\n')
    write_stub(
        tmp_path, "year_end", GOOD_STUB.replace('TITLE = "Echo"\n', "").replace('"""A small report for tests."""', "")
    )
    reports = Registry.load(tmp_path).reports
    assert (reports["echo"].title, reports["echo"].description, reports["echo"].job) == (
        "Echo",
        "First line.",
        "other_job",
    )
    assert reports["described"].description == "Said by the stub."
    assert (reports["year_end"].title, reports["year_end"].description, reports["year_end"].job) == (
        "Year end",
        "",
        "year_end",
    )


def test_same_name_in_two_folders_stays_two_reports(tmp_path: Path) -> None:
    write_stub(tmp_path / "a", "echo", GOOD_STUB)
    write_stub(tmp_path / "b", "echo", GOOD_STUB.replace('TITLE = "Echo"', 'TITLE = "Echo B"'))
    first = Registry.load(tmp_path / "a").reports["echo"]
    second = Registry.load(tmp_path / "b").reports["echo"]
    assert (first.title, second.title) == ("Echo", "Echo B")


def test_missing_folder_gives_no_reports(tmp_path: Path) -> None:
    registry = Registry.load(tmp_path / "missing")
    assert (registry.reports, registry.broken) == ({}, {})


def test_demo_stubs_all_load() -> None:
    registry = Registry.load(DEMO_STUBS)
    assert registry.broken == {}
    assert {name: r.job for name, r in registry.reports.items()} == {
        "b12": "b12",
        "ledger": "ledger",
        "spending": "spending",
        "yearend": "yearend",
    }
