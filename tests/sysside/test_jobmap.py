"""Loading the job map: a good map loads whole, a bad one is refused with every problem located."""

import datetime
import decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from sysside.cli import main
from sysside.demo import DemoPaths
from sysside.jobmap import JobMapError, Limits, load_jobmap
from tests.sysside.helpers import toml_str, write_map, write_script

GOOD_MAP = """\
    [defaults]
    timeout = "30s"
    max_output = "16MB"
    limits = { cpu = "30s", memory = "1GB", open_files = 64 }
    env = { LANG = "C.UTF-8" }

    [jobs.report]
    title = "A report"
    description = "Every field type once."
    timeout = "500ms"
    output = "text/csv"
    filename = "report-{account}-{year}.csv"
    max_output = "1MB"
    limits = { cpu = "5s" }
    env = { TZ = "UTC" }
    fields.account = { type = "digits", min = 8, max = 8, required = true, log = true }
    fields.year = { type = "int", min = 1990, max = 2100, required = true }
    fields.name = { type = "text", regex = "[A-Za-z ]+", max = 40 }
    fields.notes = { type = "lines", max = 1000 }
    fields.user = { type = "ident", max = 32, default = "web" }
    fields.amount = { type = "decimal", places = 2, min = 0, max = 1000.5 }
    fields.kind = { type = "choice", choices = ["a", "b"] }
    fields.day = { type = "date", min = 2000-01-01, max = "2099-12-31" }
    fields.final = { type = "flag" }
    fields.pin = { type = "digits", max = 6, secret = true }
    steps = [
      { run = ["bin/prog", "--account", "{account}"], stdin = "{year}\\n{name}\\n{{literal}}\\n" },
      { run = ["/bin/cat"], stdin = "{job.id} {job.name}\\n", env = { STEP = "2" } },
    ]

    [jobs.plain]
    title = "Plain"
    steps = [{ run = ["/bin/cat"] }]
    """


@pytest.fixture
def map_dir(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_script(bin_dir, "prog", "print('hi')\n")
    (bin_dir / "not_executable").write_text("data\n")
    (bin_dir / "not_executable").chmod(0o644)
    return tmp_path


def problems_of(map_dir: Path, text: str) -> list[str]:
    path = write_map(map_dir / "jobs.toml", text)
    with pytest.raises(JobMapError) as caught:
        load_jobmap(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    return caught.value.problems


def one_job(body: str) -> str:
    """A map with one job `r` whose body is `body` (fields and steps included)."""
    return '[jobs.r]\ntitle = "R"\n' + body


def test_good_map_loads(map_dir: Path) -> None:
    jobmap = load_jobmap(write_map(map_dir / "jobs.toml", GOOD_MAP))
    assert sorted(jobmap.jobs) == ["plain", "report"]
    report = jobmap.jobs["report"]
    assert report.title == "A report"
    assert report.timeout == 0.5
    assert report.max_output == 1024**2
    assert report.output == "text/csv"
    # Job limits merge over the defaults, which merge over the built-ins.
    assert report.limits == Limits(cpu=5.0, memory=1024**3, open_files=64, processes=1024, file_size=256 * 1024**2)
    assert report.env == {"LANG": "C.UTF-8", "TZ": "UTC"}
    assert list(report.fields) == [
        "account", "year", "name", "notes", "user", "amount", "kind", "day", "final", "pin"
    ]  # fmt: skip
    assert report.fields["account"].in_argv and report.fields["account"].log
    assert not report.fields["year"].in_argv
    assert report.fields["pin"].secret
    assert report.fields["amount"].max == decimal.Decimal("1000.5")
    assert report.fields["day"].min == datetime.date(2000, 1, 1)
    assert report.fields["day"].max == datetime.date(2099, 12, 31)
    assert report.fields["user"].default == "web"
    first, second = report.steps
    # A relative program is found beside the map, never on PATH.
    assert first.program == str(map_dir.resolve() / "bin" / "prog")
    values = {"account": "12345678", "year": "2024", "name": "X", "job.id": "0" * 32, "job.name": "report"}
    assert [t.render(values) for t in first.argv] == ["bin/prog", "--account", "12345678"]
    assert first.stdin is not None and first.stdin.render(values) == "2024\nX\n{literal}\n"
    assert second.env == {"STEP": "2"}
    assert report.filename is not None and report.filename.render(values) == "report-12345678-2024.csv"
    plain = jobmap.jobs["plain"]
    assert plain.timeout == 30.0 and plain.max_output == 16 * 1024**2 and plain.fields == {}


@pytest.mark.parametrize(
    ("body", "where", "words"),
    [
        ('fields.a = { type = "digits", max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\ntitel = "x"\n',
         "jobs.r.titel", "unknown key"),
        ('fields.a = { type = "digits", max = 3, requierd = true }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.requierd", "unknown key"),
        ('fields.a = { type = "flag", max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.max", "unknown key"),
        ('steps = [{ run = ["/bin/cat"], stdn = "x" }]\n', "jobs.r.steps[1].stdn", "unknown key"),
        ('limits = { cpus = "1s" }\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.limits.cpus", "unknown key"),
        ('fields.a = { type = "string", max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.type", "is not a field type"),
        ('fields.a = { max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.fields.a.type", "is not a field type"),
        ('fields.a = { type = "text", max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.regex", "is required"),
        ('fields.a = { type = "text", regex = "[a-z]+" }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.max", "is required"),
        ('fields.a = { type = "digits" }\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.fields.a.max", "is required"),
        ('fields.a = { type = "int", min = 1 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.max", "is required"),
        ('fields.a = { type = "text", regex = "[a-z", max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.regex", "not a valid pattern"),
        ('fields.a = { type = "choice" }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.choices", "is required"),
        ('fields.a = { type = "choice", choices = ["x", "x"] }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.choices", "duplicates"),
        ('steps = [{ run = ["/bin/cat", "{nope}"] }]\n', "jobs.r.steps[1].run[2]", "{nope} names no declared field"),
        ('steps = [{ run = ["/bin/cat"], stdin = "{nope}\\n" }]\n',
         "jobs.r.steps[1].stdin", "{nope} names no declared field"),
        ('filename = "x-{nope}.txt"\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.filename", "{nope} names no declared field"),
        ('steps = [{ run = ["/bin/cat", "{session.user}"] }]\n',
         "jobs.r.steps[1].run[2]", "sessions are not available"),
        ('fields.a = { type = "digits", max = 3 }\nsteps = [{ run = ["/bin/cat", "--a={a}"] }]\n',
         "jobs.r.steps[1].run[2]", "whole argv element"),
        ('fields.a = { type = "digits", max = 3 }\nsteps = [{ run = ["/bin/cat", "x", "{a}{a}"] }]\n',
         "jobs.r.steps[1].run[3]", "whole argv element"),
        ('steps = [{ run = ["/bin/cat", "{"] }]\n', "jobs.r.steps[1].run[2]", "lone '{'"),
        ('steps = [{ run = ["bin/not_executable"] }]\n', "jobs.r.steps[1].run[1]", "is not an executable file"),
        ('steps = [{ run = ["bin/missing"] }]\n', "jobs.r.steps[1].run[1]", "is not an executable file"),
        ('steps = [{ run = ["bin"] }]\n', "jobs.r.steps[1].run[1]", "is not an executable file"),
        ('steps = [{ run = ["{prog}"] }]\n', "jobs.r.steps[1].run[1]", "must be a literal path"),
        ('steps = [{ run = [] }]\n', "jobs.r.steps[1].run", "non-empty list"),
        ('steps = [{ run = "/bin/cat" }]\n', "jobs.r.steps[1].run", "non-empty list"),
        ("steps = []\n", "jobs.r.steps", "is required"),
        ("", "jobs.r.steps", "is required"),
        ('steps = [{ run = ["/bin/cat"], cwd = "tmp" }]\n', "jobs.r.steps[1].cwd", "absolute path"),
        ('timeout = "fast"\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.timeout", "expected a duration"),
        ('timeout = "-1s"\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.timeout", "expected a duration"),
        ("timeout = 0\nsteps = [{ run = [\"/bin/cat\"] }]\n", "jobs.r.timeout", "must be positive"),
        ('max_output = "lots"\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.max_output", "expected a size"),
        ('max_output = "1.5MB"\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.max_output", "expected a size"),
        ('limits = { memory = "1TB" }\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.limits.memory", "expected a size"),
        ('limits = { cpu = "soon" }\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.limits.cpu", "expected a duration"),
        ("limits = { open_files = -1 }\nsteps = [{ run = [\"/bin/cat\"] }]\n",
         "jobs.r.limits.open_files", "positive integer"),
        ('fields.a = { type = "digits", min = 5, max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a", "min is larger than max"),
        ('fields.a = { type = "int", min = 5, max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a", "min is larger than max"),
        ('fields.a = { type = "date", min = 2020-01-01, max = 2019-01-01 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a", "min is later than max"),
        ('fields.a = { type = "date", min = "2020-02-30" }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.min", "must be a date"),
        ('fields.a = { type = "digits", max = -1 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.max", "must be a length"),
        ('fields.a = { type = "digits", max = 100000 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.max", "at most 65536"),
        ('fields.a = { type = "int", min = 1, max = 2.5 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.max", "must be a number"),
        ('fields.a = { type = "decimal", places = 11, min = 0, max = 1 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.places", "0 to 10"),
        ('fields.a = { type = "digits", max = 3, secret = true, log = true }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a", "a secret field cannot also be logged"),
        ('fields.a = { type = "digits", max = 3, required = "yes" }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.required", "true or false"),
        ('fields.a = { type = "digits", max = 3, default = "abc" }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.default", "digits only"),
        ('fields.a = { type = "digits", max = 3, default = "1234" }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.default", "longer than 3"),
        ('fields.a = { type = "int", min = 1, max = 9, default = "10" }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.default", "is not a valid value"),
        ('fields.a = { type = "int", min = 1, max = 20, default = "25" }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.default", "between 1 and 20"),
        ('fields.a = { type = "digits", max = 3, default = 5 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.a.default", "must be a string"),
        ('fields.a = { type = "text", regex = ".+", max = 9, default = "-x" }\n'
         'steps = [{ run = ["/bin/cat", "{a}"] }]\n',
         "jobs.r.fields.a.default", "must not start with '-'"),
        ('fields.A = { type = "digits", max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.fields.A", "a field name is"),
        ('output = "plain"\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.output", "is not a media type"),
        ('filename = "a/{x}"\nfields.x = { type = "digits", max = 3 }\nsteps = [{ run = ["/bin/cat"] }]\n',
         "jobs.r.filename", "only letters"),
        ('env = { "BAD-NAME" = "x" }\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.env.BAD-NAME", "environment"),
    ],
)  # fmt: skip
def test_each_problem_is_located(map_dir: Path, body: str, where: str, words: str) -> None:
    problems = problems_of(map_dir, one_job(body))
    assert any(p.startswith(f"{where}: ") and words in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[jobs.r]\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.title: is required"),
        ('[jobs.r]\ntitle = 5\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.r.title: must be a string, not int"),
        ("[jobs.r]\ntitle = \"R\"\n", "jobs.r.steps: is required"),
        ("jobs.r = 5\n", "jobs.r: must be a table"),
        ('[jobs.R]\ntitle = "x"\nsteps = [{ run = ["/bin/cat"] }]\n', "jobs.R: a job name is"),
        ("[jobs]\n", "jobs: the map declares no jobs"),
        ('[defaults]\ntimeout = "1s"\n', "jobs: the map declares no jobs"),
        ('[defaults]\ntimout = "1s"\n[jobs.r]\ntitle = "x"\nsteps = [{ run = ["/bin/cat"] }]\n',
         "defaults.timout: unknown key"),
        ('[defaults]\ntimeout = "later"\n[jobs.r]\ntitle = "x"\nsteps = [{ run = ["/bin/cat"] }]\n',
         "defaults.timeout: expected a duration"),
        ('[extra]\n[jobs.r]\ntitle = "x"\nsteps = [{ run = ["/bin/cat"] }]\n', "(top level).extra: unknown key"),
        ("jobs = 5\n", "jobs: must be a table"),
        ("[jobs.r\n", "(top level)"),
    ],
)  # fmt: skip
def test_map_level_problems(map_dir: Path, text: str, expected: str) -> None:
    problems = problems_of(map_dir, text)
    if expected == "(top level)":
        assert len(problems) == 1 and problems[0].startswith("not valid TOML"), problems
    else:
        assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_is_listed_at_once(map_dir: Path) -> None:
    problems = problems_of(
        map_dir,
        """\
        [jobs.a]
        fields.x = { type = "digits" }
        steps = [{ run = ["/bin/cat", "{y}"] }]

        [jobs.b]
        title = "B"
        timeout = "soon"
        steps = [{ run = ["bin/missing"] }]
        """,
    )
    wheres = sorted(p.split(": ", 1)[0] for p in problems)
    assert wheres == [
        "jobs.a.fields.x.max", "jobs.a.steps[1].run[2]", "jobs.a.title", "jobs.b.steps[1].run[1]", "jobs.b.timeout"
    ]  # fmt: skip


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JobMapError) as caught:
        load_jobmap(tmp_path / "nope.toml")
    assert caught.value.problems == ["cannot read the file: No such file or directory"]


def test_absolute_program_and_paths_with_braces(map_dir: Path) -> None:
    # A program path is literal; a brace in it would otherwise be read as a
    # placeholder, so the map refuses it rather than guess.
    odd = map_dir / "bin" / "odd{x}"
    write_script(map_dir / "bin", "odd{x}", "print('hi')\n")
    problems = problems_of(map_dir, one_job(f"steps = [{{ run = [{toml_str(odd)}] }}]\n"))
    assert problems == ["jobs.r.steps[1].run[1]: the program must be a literal path"]


def test_hole_jobs_check_good_map(demo: DemoPaths) -> None:
    # A uid given, so the check that needs one is not skipped with a note.
    result = CliRunner().invoke(main, ["jobs", "check", str(demo.jobs_file), "--web-uid", "65534"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{demo.jobs_file}: ok, 4 job(s)"
    assert (
        "b12: 3 step(s), timeout 10s; fields account:digits (at most 8 characters), "
        "year:int (1990 to 2100, so at most 4 characters by its type)"
    ) in lines
    assert sorted(line.split(":")[0] for line in lines[:-1]) == ["b12", "ledger", "spending", "yearend"]
    assert result.stderr == ""


def test_hole_jobs_check_bad_map(map_dir: Path) -> None:
    path = write_map(
        map_dir / "jobs.toml",
        """\
        [jobs.r]
        titel = "R"
        fields.a = { type = "text", max = 3 }
        steps = [{ run = ["bin/not_executable", "--a={a}"] }]
        """,
    )
    result = CliRunner().invoke(main, ["jobs", "check", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == f"Error: {path}: 5 problem(s)"
    problem_lines = lines[:-1]
    assert len(problem_lines) == 5, lines
    # {a} is declared (with a problem of its own), so it is not also
    # reported as naming no field.
    wheres = sorted(line.split(": ")[1] for line in problem_lines)
    assert wheres == [
        "jobs.r.fields.a.regex", "jobs.r.steps[1].run[1]", "jobs.r.steps[1].run[2]", "jobs.r.titel", "jobs.r.title"
    ]  # fmt: skip
    assert all(line.startswith(f"{path}: jobs.r.") for line in problem_lines)
