"""`scaffold`: the stub, its test and the job-map entry it writes, and what it refuses."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sysside.jobmap import load_jobmap
from tests.webside.support import PROJECT_DIR
from webside import create_app
from webside.registry import Registry
from webside.scaffold import scaffold_command

BIN = Path(sys.executable).parent
NAME = "budget_summary"


def scaffold(*args: str) -> Result:
    return CliRunner().invoke(scaffold_command, list(args))


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "stubs", tmp_path / "tests"


@pytest.fixture
def made(dirs: tuple[Path, Path]) -> Result:
    stubs, tests = dirs
    result = scaffold(NAME, "--stubs-dir", str(stubs), "--tests-dir", str(tests))
    assert result.exit_code == 0, result.output
    return result


def test_writes_the_stub_and_its_test(dirs: tuple[Path, Path], made: Result) -> None:
    stubs, tests = dirs
    assert sorted(p.name for p in stubs.iterdir()) == [f"{NAME}.py"]
    assert sorted(p.name for p in tests.iterdir()) == [f"test_{NAME}.py"]
    assert f"wrote {stubs / NAME}.py" in made.stderr


def test_stub_loads_with_the_documented_functions(dirs: tuple[Path, Path], made: Result) -> None:
    registry = Registry.load(dirs[0], dev=True)
    assert registry.broken == {}
    assert registry.reports[NAME].title == "Budget summary"


def test_stub_is_not_approved_so_not_served_outside_dev(dirs: tuple[Path, Path], made: Result) -> None:
    assert not (dirs[0] / "approved.json").exists()
    registry = Registry.load(dirs[0])
    assert registry.reports == {}
    assert list(registry.refused) == [str(dirs[0] / f"{NAME}.py")]


def test_printed_entry_matches_the_stubs_fields(dirs: tuple[Path, Path], made: Result) -> None:
    entry = tomllib.loads(made.stdout)["jobs"][NAME]
    app = create_app({"TESTING": True, "STUBS_DIR": str(dirs[0]), "HOLE_DEV": True})
    with app.test_request_context():
        form = app.extensions["hole_registry"].reports[NAME].make_form()
        form_fields = {field.name for field in form if field.name != "csrf_token"}
    assert set(entry["fields"]) == form_fields
    assert entry["fields"]["account"] == {"type": "digits", "min": 8, "max": 8, "required": True}
    assert entry["fields"]["year"] == {"type": "int", "min": 1990, "max": 2100, "required": True}
    [step] = entry["steps"]
    assert step["run"] == ["/bin/cat"]
    for field in form_fields:
        assert f"{field}: {{{field}}}\n" in step["stdin"]


def test_printed_entry_is_a_valid_job_map(tmp_path: Path, made: Result) -> None:
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(made.stdout)
    jobmap = load_jobmap(jobs_file)
    assert NAME in jobmap.jobs


def test_generated_test_passes(dirs: tuple[Path, Path], made: Result) -> None:
    result = subprocess.run(
        [BIN / "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(dirs[1]), str(dirs[1])],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_generated_test_fails_when_the_stub_breaks_its_rules(dirs: tuple[Path, Path], made: Result) -> None:
    stub = dirs[0] / f"{NAME}.py"
    stub.write_text(stub.read_text().replace("Length(max=20)", "Length(max=30)"))
    result = subprocess.run(
        [BIN / "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(dirs[1]), str(dirs[1])],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "test_bad_input_is_refused[reference-xxxxxxxxxxxxxxxxxxxxx]" in result.stdout


def test_generated_files_pass_ruff_and_mypy(dirs: tuple[Path, Path], made: Result) -> None:
    files = [str(dirs[0] / f"{NAME}.py"), str(dirs[1] / f"test_{NAME}.py")]
    # From the project folder, so they are checked with the project's settings.
    for argv in (["ruff", "check", *files], ["ruff", "format", "--check", *files]):
        result = subprocess.run(
            [BIN / argv[0], *argv[1:]], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
    env = {**os.environ, "MYPYPATH": str(PROJECT_DIR / "typings")}
    result = subprocess.run(
        [BIN / "mypy", "--strict", "--no-incremental", *files],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_output_is_deterministic(tmp_path: Path) -> None:
    outputs = []
    for run in ("one", "two"):
        stubs, tests = tmp_path / run / "stubs", tmp_path / run / "tests"
        result = scaffold(NAME, "--stubs-dir", str(stubs), "--tests-dir", str(tests))
        outputs.append((result.stdout, (stubs / f"{NAME}.py").read_text(), (tests / f"test_{NAME}.py").read_text()))
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("name", ["Budget", "1report", "my-report", "my report", "class", "a" * 64, "", "é"])
def test_refuses_names_that_are_not_module_names(dirs: tuple[Path, Path], name: str) -> None:
    stubs, tests = dirs
    result = scaffold(name, "--stubs-dir", str(stubs), "--tests-dir", str(tests))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: invalid report name")
    assert len(result.stderr.splitlines()) == 1
    assert not stubs.exists()
    assert not tests.exists()


def test_refuses_to_overwrite_unless_forced(dirs: tuple[Path, Path], made: Result) -> None:
    stubs, tests = dirs
    stub = stubs / f"{NAME}.py"
    stub.write_text("# my work\n")
    result = scaffold(NAME, "--stubs-dir", str(stubs), "--tests-dir", str(tests))
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert "--force" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert stub.read_text() == "# my work\n"
    forced = scaffold(NAME, "--stubs-dir", str(stubs), "--tests-dir", str(tests), "--force")
    assert forced.exit_code == 0
    assert "def show_form()" in stub.read_text()


def test_refuses_when_only_the_test_exists(dirs: tuple[Path, Path]) -> None:
    stubs, tests = dirs
    tests.mkdir(parents=True)
    (tests / "test_other.py").write_text("# someone's test\n")
    result = scaffold("other", "--stubs-dir", str(stubs), "--tests-dir", str(tests))
    assert result.exit_code == 1
    assert not (stubs / "other.py").exists()


def test_stubs_dir_from_the_environment(tmp_path: Path) -> None:
    stubs, tests = tmp_path / "env-stubs", tmp_path / "tests"
    result = CliRunner(env={"HOLE_STUBS_DIR": str(stubs)}).invoke(
        scaffold_command, ["envreport", "--tests-dir", str(tests)]
    )
    assert result.exit_code == 0, result.output
    assert (stubs / "envreport.py").exists()


def test_help_reads_like_a_tutorial() -> None:
    result = subprocess.run([BIN / "scaffold", "--help"], capture_output=True, text=True, check=True)
    text = " ".join(result.stdout.split())
    for words in (
        "Usage: scaffold [OPTIONS] NAME",
        "show_form() returns the form",
        "prepare_input(form) turns the checked form into the job's fields",
        "pytest TESTS_DIR/test_NAME.py",
        "hole up",
        "Ask the webmaster to add the entry",
        "approve the stub",
        "--force",
    ):
        assert words in text
