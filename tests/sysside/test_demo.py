"""The shipped demo: its files, its database and every program, run for real."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import sqlite3
import stat
import subprocess
import time
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from sysside.demo import EXAMPLE_JOB, DemoPaths, init_demo
from sysside.demo import database as demo_database
from sysside.interpreter import shared_python

PROGRAMS = ("check_open", "authorize", "budget_12", "spending_csv", "ledger_csv", "yearend")
CATEGORIES = ("salaries", "supplies", "travel", "equipment")
TIMEOUT = 30


@pytest.fixture
def demo(tmp_path: Path) -> DemoPaths:
    return init_demo(tmp_path / "demo")


@contextlib.contextmanager
def database(paths: DemoPaths) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(paths.database)) as connection:
        yield connection


def query(paths: DemoPaths, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with database(paths) as connection:
        return connection.execute(sql, params).fetchall()


def demo_env(paths: DemoPaths, *, tripwire: bool = True) -> dict[str, str]:
    env = {"LANG": "C.UTF-8", "FIS_DB": str(paths.database)}
    if tripwire:
        env["FIS_TRIPWIRE"] = str(paths.tripwire_log)
    return env


def run(
    paths: DemoPaths,
    program: str,
    *args: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(paths.bin_dir / program), *args],
        input=stdin.encode(),
        env=demo_env(paths) if env is None else env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[bytes], program: str, status: int) -> str:
    """Check the failure convention: the status, one `program: reason` line, no output."""
    reason = result.stderr.decode()
    assert result.returncode == status, reason
    assert result.stdout == b""
    assert len(reason.splitlines()) == 1, reason
    assert reason.startswith(f"{program}: ")
    return reason


def cents(text: str) -> int:
    """Parse an amount such as `-1,234.56` or `1234.56` into cents."""
    match = re.fullmatch(r"(-?)([0-9,]+)\.([0-9]{2})", text)
    assert match, text
    value = int(match[2].replace(",", "")) * 100 + int(match[3])
    return -value if match[1] else value


def tripwire_records(paths: DemoPaths) -> list[dict[str, Any]]:
    if not paths.tripwire_log.exists():
        return []
    return [json.loads(line) for line in paths.tripwire_log.read_text().splitlines()]


# -- init_demo ---------------------------------------------------------------


def test_init_creates_every_part(tmp_path: Path) -> None:
    paths = init_demo(tmp_path / "not" / "yet" / "there")

    assert paths.directory == (tmp_path / "not" / "yet" / "there").resolve()
    assert paths.database.parent == paths.directory
    assert paths.jobs_file.parent == paths.directory
    assert paths.bin_dir.parent == paths.directory
    assert all(path.is_absolute() for path in (paths.database, paths.jobs_file, paths.bin_dir, paths.tripwire_log))
    tables = {row[0] for row in query(paths, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"instances", "accounts", "grants", "budget_lines", "transactions"}
    assert stat.S_IMODE(paths.jobs_file.stat().st_mode) == 0o644
    assert not paths.tripwire_log.exists()

    shebang = f"#!{shared_python()} -IS\n"
    sources = resources.files("sysside.demo.programs")
    assert sorted(path.name for path in paths.bin_dir.iterdir()) == sorted(PROGRAMS)
    for name in PROGRAMS:
        program = paths.bin_dir / name
        assert stat.S_IMODE(program.stat().st_mode) == 0o755, name
        source = sources.joinpath(f"{name}.py").read_text()
        assert program.read_text() == shebang + source


def test_second_run_keeps_the_database_and_rewrites_the_rest(demo: DemoPaths) -> None:
    with database(demo) as connection:
        connection.execute("INSERT INTO accounts VALUES ('12121212', 'Local fund', 'Music')")
        connection.commit()
    before = demo.database.stat()
    (demo.bin_dir / "check_open").write_text("#!/bin/false\n")
    (demo.bin_dir / "yearend").unlink()
    demo.jobs_file.write_text("[jobs]\n")

    again = init_demo(demo.directory)

    assert again == demo
    after = demo.database.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert query(demo, "SELECT name FROM accounts WHERE account = '12121212'") == [("Local fund",)]
    assert run(demo, "check_open", "DB01").returncode == 0
    assert (demo.bin_dir / "yearend").exists()
    assert set(tomllib.loads(demo.jobs_file.read_text())["jobs"]) == {
        "b12",
        "spending",
        "ledger",
        "yearend",
    }


def test_database_content_is_deterministic(tmp_path: Path) -> None:
    first = init_demo(tmp_path / "first")
    second = init_demo(tmp_path / "second")
    with database(first) as one, database(second) as other:
        assert list(one.iterdump()) == list(other.iterdump())


def test_database_holds_what_the_jobs_need(demo: DemoPaths) -> None:
    assert ("DB01", 1) in query(demo, "SELECT name, open FROM instances")
    accounts = [row[0] for row in query(demo, "SELECT account FROM accounts")]
    assert all(re.fullmatch(r"[0-9]{8}", account) for account in accounts)
    granted = {row[0] for row in query(demo, "SELECT account FROM grants WHERE user = 'web'")}
    assert "99999999" in accounts
    assert set(accounts) - granted == {"99999999"}
    lines = query(demo, "SELECT DISTINCT year, category FROM budget_lines")
    assert {year for year, _ in lines} == set(demo_database.BUDGET_YEARS)
    assert {category for _, category in lines} == set(CATEGORIES)
    dates = [row[0] for row in query(demo, "SELECT date FROM transactions")]
    assert 200 <= len(dates) <= 1000
    assert {date[:4] for date in dates} == {str(year) for year in demo_database.LEDGER_YEARS}


def test_example_job_names_a_granted_account_with_a_budget(demo: DemoPaths) -> None:
    name, fields = EXAMPLE_JOB
    assert name == "b12"
    rows = query(
        demo,
        "SELECT COUNT(*) FROM budget_lines JOIN grants USING (account) WHERE user = 'web' AND account = ? AND year = ?",
        (fields["account"], int(fields["year"])),
    )
    assert rows == [(len(CATEGORIES),)]


# -- the job map -------------------------------------------------------------

JOB_KEYS = {"title", "description", "timeout", "output", "filename", "max_output", "limits", "env", "fields", "steps"}
FIELD_KEYS = {
    "type",
    "required",
    "log",
    "secret",
    "leading_dash",
    "default",
    "min",
    "max",
    "regex",
    "places",
    "choices",
}
STEP_KEYS = {"run", "stdin", "cwd", "env"}
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_.]*)\}")


def load_map(paths: DemoPaths) -> dict[str, Any]:
    with paths.jobs_file.open("rb") as file:
        return tomllib.load(file)


def test_job_map_names_the_demo_by_absolute_paths(demo: DemoPaths) -> None:
    job_map = load_map(demo)
    assert set(job_map) == {"defaults", "jobs"}
    defaults = job_map["defaults"]
    assert set(defaults) == {"timeout", "max_output", "limits", "env"}
    assert defaults["env"]["FIS_DB"] == str(demo.database)
    assert defaults["env"]["FIS_TRIPWIRE"] == str(demo.tripwire_log)
    for name, job in job_map["jobs"].items():
        assert set(job) <= JOB_KEYS, name
        assert job["title"] and job["description"] and job["timeout"], name
        for field in job["fields"].values():
            assert set(field) <= FIELD_KEYS, name
        declared = set(job["fields"]) | {"job.id", "job.name"}
        for step in job["steps"]:
            assert set(step) <= STEP_KEYS, name
            program = demo.jobs_file.parent / step["run"][0]
            assert not Path(step["run"][0]).is_absolute()
            assert os.access(program, os.X_OK), program
            texts = [*step["run"][1:], step.get("stdin", "")]
            used = {used for text in texts for used in PLACEHOLDER.findall(text)}
            assert used <= declared, name
            # A placeholder in `run` fills a whole argv element.
            for element in step["run"]:
                assert not PLACEHOLDER.search(element) or PLACEHOLDER.fullmatch(element)
        assert set(PLACEHOLDER.findall(job.get("filename", ""))) <= declared


def test_job_map_interface(demo: DemoPaths) -> None:
    jobs = load_map(demo)["jobs"]
    assert {name: jobs[name]["title"] for name in jobs} == {
        "b12": "Budget report 12",
        "spending": "Spending by category",
        "ledger": "Ledger between two dates",
        "yearend": "Year-end close",
    }
    b12 = jobs["b12"]["fields"]
    assert b12["account"] == {"type": "digits", "min": 8, "max": 8, "required": True, "log": True}
    assert b12["year"] == {"type": "int", "min": 1990, "max": 2100, "required": True, "log": True}
    assert jobs["spending"]["fields"]["category"]["choices"] == ["all", *CATEGORIES]
    assert set(jobs["ledger"]["fields"]) == {"account", "start", "end"}
    assert set(jobs["yearend"]["fields"]) == {"year"}
    assert {name: job["output"] for name, job in jobs.items()} == {
        "b12": "text/plain",
        "spending": "text/csv",
        "ledger": "text/csv",
        "yearend": "text/plain",
    }
    assert [step["run"][0] for step in jobs["b12"]["steps"]] == [
        "bin/check_open",
        "bin/authorize",
        "bin/budget_12",
    ]


def test_job_map_quotes_awkward_paths(tmp_path: Path) -> None:
    paths = init_demo(tmp_path / 'odd "quoted" \\ dir\tname')
    env = load_map(paths)["defaults"]["env"]
    assert env["FIS_DB"] == str(paths.database)
    assert env["FIS_TRIPWIRE"] == str(paths.tripwire_log)


SAMPLE_JOBS = [
    EXAMPLE_JOB,
    ("spending", {"category": "all", "year": "2023"}),
    ("ledger", {"account": "10000003", "start": "2023-01-01", "end": "2025-12-31"}),
]


@pytest.mark.parametrize(("job_name", "fields"), SAMPLE_JOBS, ids=[job for job, _ in SAMPLE_JOBS])
def test_jobs_run_as_mapped(demo: DemoPaths, tmp_path: Path, job_name: str, fields: dict[str, str]) -> None:
    """Run a job's steps as the map spells them, from elsewhere, with only the map's env."""
    job_map = load_map(demo)
    env = job_map["defaults"]["env"]

    def fill(template: str) -> str:
        return PLACEHOLDER.sub(lambda match: fields[match[1]], template)

    output = b""
    for step in job_map["jobs"][job_name]["steps"]:
        argv = [str(demo.jobs_file.parent / step["run"][0]), *map(fill, step["run"][1:])]
        result = subprocess.run(
            argv,
            input=fill(step.get("stdin", "")).encode(),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, (argv, result.stderr)
        output = result.stdout
    assert output.count(b"\n") > 2
    assert not demo.tripwire_log.exists()


# -- check_open and authorize ------------------------------------------------


def test_check_open_accepts_the_open_instance(demo: DemoPaths) -> None:
    result = run(demo, "check_open", "DB01")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_check_open_refuses_closed_and_unknown_instances(demo: DemoPaths) -> None:
    closed = [row[0] for row in query(demo, "SELECT name FROM instances WHERE open = 0")]
    assert closed
    assert "closed" in assert_refused(run(demo, "check_open", closed[0]), "check_open", 1)
    assert_refused(run(demo, "check_open", "DB99"), "check_open", 1)
    assert_refused(run(demo, "check_open"), "check_open", 2)
    with database(demo) as connection:
        connection.execute("UPDATE instances SET open = 0 WHERE name = 'DB01'")
        connection.commit()
    assert_refused(run(demo, "check_open", "DB01"), "check_open", 1)


def test_programs_need_an_existing_database_and_never_create_one(demo: DemoPaths) -> None:
    assert_refused(run(demo, "check_open", "DB01", env={}), "check_open", 1)
    relative = {"FIS_DB": os.path.relpath(demo.database)}
    assert_refused(run(demo, "check_open", "DB01", env=relative), "check_open", 1)
    missing = demo.directory / "missing.sqlite"
    assert_refused(run(demo, "check_open", "DB01", env={"FIS_DB": str(missing)}), "check_open", 1)
    assert not missing.exists()


def test_authorize_allows_every_granted_account(demo: DemoPaths) -> None:
    granted = [row[0] for row in query(demo, "SELECT account FROM grants WHERE user = 'web'")]
    assert granted
    for account in granted:
        result = run(demo, "authorize", stdin=f"web\n{account}\n")
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b""), account


def test_authorize_denies_an_ungranted_account(demo: DemoPaths) -> None:
    assert query(demo, "SELECT 1 FROM accounts WHERE account = '99999999'") == [(1,)]
    reason = assert_refused(run(demo, "authorize", stdin="web\n99999999\n"), "authorize", 1)
    assert reason == "authorize: user web may not see account 99999999\n"
    assert_refused(run(demo, "authorize", stdin="nobody\n10000001\n"), "authorize", 1)
    assert_refused(run(demo, "authorize", stdin="web\n"), "authorize", 2)


# -- budget_12 ---------------------------------------------------------------

REPORT_LINE = re.compile(r"(salaries|supplies|travel|equipment|Total) +(\S+) +(\S+) +(\S+)")


def report_lines(text: str) -> dict[str, tuple[int, int, int]]:
    return {
        match[1]: (cents(match[2]), cents(match[3]), cents(match[4]))
        for match in map(REPORT_LINE.fullmatch, text.splitlines())
        if match
    }


def test_budget_12_reports_the_database_figures(demo: DemoPaths) -> None:
    account, year = EXAMPLE_JOB[1]["account"], EXAMPLE_JOB[1]["year"]
    result = run(demo, "budget_12", "--account", account, stdin=f"{year}\n")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()

    rows = query(
        demo,
        "SELECT category, budget, actual FROM budget_lines WHERE account = ? AND year = ?",
        (account, int(year)),
    )
    expected = {category: (budget, actual, budget - actual) for category, budget, actual in rows}
    budget = sum(row[1] for row in rows)
    actual = sum(row[2] for row in rows)
    expected["Total"] = (budget, actual, budget - actual)
    assert report_lines(text) == expected
    (name,) = query(demo, "SELECT name FROM accounts WHERE account = ?", (account,))[0]
    assert f"{account}  {name}" in text
    assert year in text
    assert not demo.tripwire_log.exists()


def test_budget_12_fails_cleanly_without_a_budget(demo: DemoPaths) -> None:
    assert_refused(run(demo, "budget_12", "--account", "10000001", stdin="1990\n"), "budget_12", 1)
    assert_refused(run(demo, "budget_12"), "budget_12", 2)
    assert not demo.tripwire_log.exists()


def test_budget_12_crashes_on_a_long_account(demo: DemoPaths) -> None:
    """Positive control: unchecked input reaches the fragile program and it breaks."""
    account = "1" * 40
    result = run(demo, "budget_12", "--account", account, stdin="2024\n")

    assert result.returncode == 139
    assert "Segmentation fault" in result.stderr.decode()
    with pytest.raises(UnicodeDecodeError):
        result.stdout.decode()
    (record,) = tripwire_records(demo)
    assert record["program"] == "budget_12"
    assert record["account"] == account
    assert record["account_length"] == len(account)
    assert record["odd"] == ["account is not 8 digits"]


def test_budget_12_runs_injected_sql(demo: DemoPaths) -> None:
    """Positive control: a quote in the account leaks every account's budget."""
    injection = "' OR '1'='1"
    result = run(demo, "budget_12", "--account", injection, stdin="2024\n")

    assert result.returncode == 0, result.stderr
    shown = set(re.findall(r"^Account: +([0-9]{8}) ", result.stdout.decode(), re.MULTILINE))
    everyone = {row[0] for row in query(demo, "SELECT account FROM budget_lines WHERE year = 2024")}
    assert shown == everyone
    assert "99999999" in shown  # the account web may not see
    (record,) = tripwire_records(demo)
    assert record["account"] == injection


def test_budget_12_logs_an_odd_year(demo: DemoPaths) -> None:
    result = run(demo, "budget_12", "--account", "10000001", stdin="2024 OR 1=1\n")
    assert result.returncode == 0, result.stderr
    (record,) = tripwire_records(demo)
    assert record["odd"] == ["year is not 4 digits"]
    assert record["year"] == "2024 OR 1=1"


def test_budget_12_misbehaves_without_a_tripwire_log(demo: DemoPaths) -> None:
    env = demo_env(demo, tripwire=False)
    result = run(demo, "budget_12", "--account", "9" * 30, stdin="2024\n", env=env)
    assert result.returncode == 139
    assert not demo.tripwire_log.exists()


# -- spending_csv and ledger_csv ---------------------------------------------


def csv_rows(result: subprocess.CompletedProcess[bytes]) -> list[list[str]]:
    assert result.returncode == 0, result.stderr
    return list(csv.reader(io.StringIO(result.stdout.decode(), newline="")))


@pytest.mark.parametrize("category", ["travel", "all"])
def test_spending_csv_matches_the_database(demo: DemoPaths, category: str) -> None:
    rows = csv_rows(run(demo, "spending_csv", "--category", category, "--year", "2023"))

    assert rows[0] == ["account", "name", "category", "budget", "actual"]
    got = {(row[0], row[1], row[2], cents(row[3]), cents(row[4])) for row in rows[1:]}
    expected = set(
        query(
            demo,
            "SELECT account, name, category, budget, actual FROM budget_lines JOIN accounts"
            " USING (account) WHERE year = 2023 AND (? = 'all' OR category = ?)",
            (category, category),
        )
    )
    assert got == expected
    assert len(rows) - 1 == len(expected)


def test_spending_csv_refuses_bad_arguments(demo: DemoPaths) -> None:
    assert_refused(run(demo, "spending_csv", "--category", "bribes", "--year", "2023"), "spending_csv", 2)
    assert_refused(run(demo, "spending_csv", "--category", "all", "--year", "23"), "spending_csv", 2)


def test_ledger_csv_matches_the_database(demo: DemoPaths) -> None:
    account, start, end = "10000001", "2024-03-01", "2025-02-28"
    rows = csv_rows(run(demo, "ledger_csv", "--account", account, "--start", start, "--end", end))

    assert rows[0] == ["date", "account", "category", "description", "amount"]
    got = [(row[0], row[1], row[2], row[3], cents(row[4])) for row in rows[1:]]
    expected = query(
        demo,
        "SELECT date, account, category, description, amount FROM transactions"
        " WHERE account = ? AND date >= ? AND date <= ? ORDER BY date, id",
        (account, start, end),
    )
    assert got == expected
    assert expected


def test_ledger_csv_refuses_an_end_before_the_start(demo: DemoPaths) -> None:
    result = run(demo, "ledger_csv", "--account", "10000001", "--start", "2024-02-01", "--end", "2024-01-31")
    reason = assert_refused(result, "ledger_csv", 2)
    assert reason == "ledger_csv: the end date is before the start date\n"


@pytest.mark.parametrize(
    ("account", "start"),
    [("1000000", "2024-01-01"), ("10000001", "2024-02-30"), ("10000001", "20240101")],
)
def test_ledger_csv_refuses_bad_arguments(demo: DemoPaths, account: str, start: str) -> None:
    result = run(demo, "ledger_csv", "--account", account, "--start", start, "--end", "2024-12-31")
    assert_refused(result, "ledger_csv", 2)


# -- yearend -----------------------------------------------------------------


def test_yearend_streams_slowly_and_adds_up(demo: DemoPaths) -> None:
    started = time.monotonic()
    with subprocess.Popen(
        [str(demo.bin_dir / "yearend"), "--year", "2025"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=demo_env(demo),
        start_new_session=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        header = [process.stdout.readline(), process.stdout.readline()]
        first_account = process.stdout.readline()
        # The rest is still to come: each account costs a pause.
        assert process.poll() is None
        rest = process.stdout.read()
        stderr = process.stderr.read()
        assert process.wait(timeout=TIMEOUT) == 0, stderr
    elapsed = time.monotonic() - started

    assert b"2025" in header[0]
    lines = [first_account.decode(), *rest.decode().splitlines()]
    totals = query(
        demo,
        "SELECT account, SUM(budget), SUM(actual) FROM budget_lines WHERE year = 2025"
        " GROUP BY account ORDER BY account",
    )
    assert len(lines) == len(totals) + 1
    for line, (account, budget, actual) in zip(lines, totals, strict=False):
        fields = line.split()
        assert fields[0] == account
        assert [cents(text) for text in fields[-3:]] == [budget, actual, budget - actual]
    budget = sum(row[1] for row in totals)
    actual = sum(row[2] for row in totals)
    total = lines[-1].split()
    assert total[0] == "Total"
    assert [cents(text) for text in total[-3:]] == [budget, actual, budget - actual]
    assert 0.3 * len(totals) <= elapsed <= 10
