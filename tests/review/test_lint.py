"""`hole jobs check`: each lint is triggered by a planted map, and good maps pass."""

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sysside.cli import main
from sysside.demo import DemoPaths
from tests.review.support import CLEAN, write
from webside.scaffold import scaffold_command

PROJECT_DIR = Path(__file__).resolve().parents[2]
NOBODY = 65534
DEFAULTS = """\
[defaults]
timeout = "10s"
limits = { cpu = "10s", memory = "1GB", open_files = 64, processes = 256, file_size = "16MB" }
"""
JOB = """
[jobs.t]
title = "T"
fields.x = { type = "digits", max = 8 }
steps = [ @STEP@ ]
"""
# Stand-ins: the lint goes by a program's name and never runs it.
PROGRAMS = ("report", "bash", "python3", "perl", "awk", "env", "nice")


def check(*args: str | Path | int) -> Result:
    return CliRunner().invoke(main, ["jobs", "check", *map(str, args)])


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in PROGRAMS:
        program = folder / name
        program.write_text("#!/bin/cat\n")
        program.chmod(0o755)
    return folder


def planted(tmp_path: Path, step: str, defaults: str = DEFAULTS, job: str = JOB) -> Path:
    return write(tmp_path, "jobs.toml", defaults + job.replace("@STEP@", step))


# (id, the step, where the problem must be reported, what it must say)
STEPS = [
    ("shell", '{ run = ["bin/bash", "bin/report"] }', "run[1]", "runs a shell (bash)"),
    ("python -c", '{ run = ["bin/python3", "-c", "print(1)"] }', "run[2]", "-c makes python3 run program text"),
    ("python on stdin", '{ run = ["bin/python3"], stdin = "{x}" }', "run[1]", "reads its program from standard input"),
    ("python -", '{ run = ["bin/python3", "-"], stdin = "{x}" }', "run[2]", "reads its program from standard input"),
    ("perl -ne", '{ run = ["bin/perl", "-ne", "print"] }', "run[2]", "-e makes perl run program text"),
    ("inline awk", '{ run = ["bin/awk", "{{print}}"] }', "run[2]", "is an inline awk program"),
    ("env sh", '{ run = ["bin/env", "-i", "/bin/sh", "bin/report"] }', "run[3]", "runs a shell (sh)"),
    ("env -S", '{ run = ["bin/env", "-S", "python3 -c 1"] }', "run[2]", "split a string into a command line"),
    (
        "nice python -c",
        '{ run = ["bin/nice", "-n", "5", "bin/python3", "-c", "1"] }',
        "run[5]",
        "-c makes python3 run program text",
    ),
    ("field into python", '{ run = ["bin/python3", "{x}"] }', "run[2]", "a field fills an argument of the interpreter"),
]


@pytest.mark.parametrize(("step", "where", "message"), [s[1:] for s in STEPS], ids=[s[0] for s in STEPS])
def test_shells_and_interpreters_on_program_text_are_errors(
    tmp_path: Path, bin_dir: Path, step: str, where: str, message: str
) -> None:
    result = check(planted(tmp_path, step), "--web-uid", NOBODY)
    assert result.exit_code == 1, result.output
    assert f"jobs.t.steps[1].{where}: " in result.stderr
    [line] = [line for line in result.stderr.splitlines() if f"steps[1].{where}:" in line]
    assert message in line


@pytest.mark.parametrize(
    "step",
    [
        '{ run = ["bin/report", "{x}"] }',
        '{ run = ["bin/python3", "-I", "bin/report", "-c", "{x}"] }',
        '{ run = ["bin/python3", "-W", "ignore", "-m", "json.tool"] }',
        '{ run = ["bin/awk", "-F", ",", "-f", "bin/report"] }',
        '{ run = ["bin/env", "LANG=C", "bin/report"] }',
    ],
)
def test_scripts_and_plain_programs_pass(tmp_path: Path, bin_dir: Path, step: str) -> None:
    result = check(planted(tmp_path, step), "--web-uid", NOBODY)
    assert result.exit_code == 0, result.output


def test_a_program_the_web_user_owns_is_an_error(tmp_path: Path, bin_dir: Path) -> None:
    result = check(planted(tmp_path, '{ run = ["bin/report"] }'), "--web-uid", os.getuid())
    assert result.exit_code == 1
    [line] = [line for line in result.stderr.splitlines() if "steps[1].run[1]" in line]
    assert f"could be changed by the web side's user: {bin_dir / 'report'} belongs to uid {os.getuid()}" in line


def test_a_program_anyone_may_write_is_an_error(tmp_path: Path, bin_dir: Path) -> None:
    (bin_dir / "report").chmod(0o757)
    result = check(planted(tmp_path, '{ run = ["bin/report"] }'), "--web-uid", NOBODY)
    assert result.exit_code == 1
    assert f"{bin_dir / 'report'} is writable by everyone" in result.stderr


def test_a_folder_anyone_may_write_is_an_error_unless_sticky(tmp_path: Path, bin_dir: Path) -> None:
    jobs = planted(tmp_path, '{ run = ["bin/report"] }')
    bin_dir.chmod(0o777)
    result = check(jobs, "--web-uid", NOBODY)
    assert result.exit_code == 1
    assert f"{bin_dir} is writable by everyone" in result.stderr
    bin_dir.chmod(0o1777)
    assert check(jobs, "--web-uid", NOBODY).exit_code == 0


@pytest.mark.root
def test_a_program_writable_by_the_web_users_group_is_an_error(tmp_path: Path, bin_dir: Path) -> None:
    program = bin_dir / "report"
    shutil.chown(program, group=NOBODY)
    program.chmod(0o775)
    result = check(planted(tmp_path, '{ run = ["bin/report"] }'), "--web-uid", NOBODY)
    assert result.exit_code == 1
    assert f"{program} is writable by its group, gid {NOBODY}" in result.stderr


def test_a_placeholder_naming_no_field_is_an_error(tmp_path: Path, bin_dir: Path) -> None:
    result = check(planted(tmp_path, '{ run = ["bin/report"], stdin = "{nope}" }'))
    assert result.exit_code == 1
    assert "jobs.t.steps[1].stdin: {nope} names no declared field" in result.stderr


def test_a_text_field_without_max_is_an_error(tmp_path: Path, bin_dir: Path) -> None:
    job = JOB.replace('{ type = "digits", max = 8 }', '{ type = "digits" }')
    result = check(planted(tmp_path, '{ run = ["bin/report"] }', job=job))
    assert result.exit_code == 1
    assert "jobs.t.fields.x.max: is required" in result.stderr


def test_a_job_without_a_timeout_is_an_error(tmp_path: Path, bin_dir: Path) -> None:
    defaults = DEFAULTS.replace('timeout = "10s"\n', "")
    result = check(planted(tmp_path, '{ run = ["bin/report"] }', defaults=defaults), "--web-uid", NOBODY)
    assert result.exit_code == 1
    assert "jobs.t.timeout: not set here or in [defaults]" in result.stderr
    job = JOB.replace('title = "T"', 'title = "T"\ntimeout = "5s"')
    assert check(planted(tmp_path, '{ run = ["bin/report"] }', defaults, job), "--web-uid", NOBODY).exit_code == 0


def test_a_job_without_limits_is_an_error(tmp_path: Path, bin_dir: Path) -> None:
    defaults = '[defaults]\ntimeout = "10s"\n'
    result = check(planted(tmp_path, '{ run = ["bin/report"] }', defaults=defaults), "--web-uid", NOBODY)
    assert result.exit_code == 1
    assert "jobs.t.limits: not set here or in [defaults]" in result.stderr


def test_a_limit_left_at_its_default_is_a_warning(tmp_path: Path, bin_dir: Path) -> None:
    defaults = '[defaults]\ntimeout = "10s"\nlimits = { cpu = "5s" }\n'
    result = check(planted(tmp_path, '{ run = ["bin/report"] }', defaults=defaults), "--web-uid", NOBODY)
    assert result.exit_code == 0, result.output
    assert "warning: jobs.t.limits: memory, open_files, processes, file_size left at the built-in default" in (
        result.stderr
    )
    assert "ok, 1 job(s), 1 warning(s)" in result.stdout


def test_fields_bounded_by_their_type_are_said_so(tmp_path: Path, bin_dir: Path) -> None:
    job = JOB.replace('fields.x = { type = "digits", max = 8 }', 'fields.x = { type = "int", min = 1, max = 12 }')
    result = check(planted(tmp_path, '{ run = ["bin/report"] }', job=job), "--web-uid", NOBODY)
    assert result.exit_code == 0, result.output
    assert "t: 1 step(s), timeout 10s; fields x:int (1 to 12, so at most 2 characters by its type)" in result.stdout


def test_stubs_are_compared_with_the_map(tmp_path: Path, bin_dir: Path) -> None:
    jobs = planted(tmp_path, '{ run = ["bin/report"], stdin = "{x}" }')
    stubs = tmp_path / "stubs"
    write(stubs, "t.py", CLEAN.replace('{"text": form.text.data or ""}', '{"x": "1", "text": "t"}'))
    write(stubs, "other.py", CLEAN)
    result = check(jobs, "--stubs", stubs, "--web-uid", NOBODY)
    assert result.exit_code == 1
    assert f"{stubs / 't.py'}:19: sends text, which job t does not declare" in result.stderr
    assert f"{stubs / 'other.py'}:1: the job map has no job other" in result.stderr
    (stubs / "other.py").unlink()
    write(stubs, "t.py", CLEAN.replace('{"text": form.text.data or ""}', "{}"))
    result = check(jobs, "--stubs", stubs, "--web-uid", NOBODY)
    assert result.exit_code == 0
    assert "warning: " in result.stderr
    assert "job t declares x, which prepare_input() never sends" in result.stderr


def test_the_demo_map_and_stubs_pass(demo: DemoPaths) -> None:
    result = check(demo.jobs_file, "--stubs", PROJECT_DIR / "stubs", "--web-uid", NOBODY)
    assert result.exit_code == 0, result.output
    assert f"{demo.jobs_file}: ok, 4 job(s)" in result.stdout
    assert "warning" not in result.stderr


def test_the_scaffolded_entry_passes(tmp_path: Path) -> None:
    made = CliRunner().invoke(
        scaffold_command, ["monthly", "--stubs-dir", str(tmp_path / "s"), "--tests-dir", str(tmp_path / "t")]
    )
    jobs = write(tmp_path, "jobs.toml", made.stdout)
    result = check(jobs, "--stubs", tmp_path / "s", "--web-uid", NOBODY)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
