"""The `scaffold` command: start a new report with a stub, its test and its job-map entry.

Rules:
1. It writes two files and prints one TOML block; nothing else changes.
   The job-map entry goes to stdout (so it can be redirected to a file),
   what was written and what to do next go to stderr.
2. It never overwrites a file unless told to with --force.
3. Its output depends only on its arguments (see webside.skeleton).
"""

from __future__ import annotations

import keyword
import os
import re
from pathlib import Path
from string import Template

import click

from webside import skeleton
from webside.settings import PROJECT_DIR

# A report name is a job name (hole/request.py) and a Python module name.
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
STUBS_DIR_VARS = ["HOLE_STUBS_DIR", "STUBS_DIR"]


def _check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or keyword.iskeyword(name):
        raise click.ClickException(
            f"invalid report name {name[:80]!r}: use a lower-case letter, then lower-case letters, digits "
            "or _, at most 63 in all, and not a Python keyword (for example: budget_summary)"
        )
    return name


def _title(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def _form_class(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "Form"


def render(name: str, stubs_dir: Path, tests_dir: Path) -> tuple[str, str, str]:
    """The stub, the test and the job-map entry for report `name`."""
    test_path = tests_dir / f"test_{name}.py"
    values = {
        "name": name,
        "title": _title(name),
        "form": _form_class(name),
        "stubs_dir": os.path.relpath(stubs_dir.resolve(), tests_dir.resolve()),
        "test_path": _from_project(test_path),
    }
    return (
        Template(skeleton.STUB).substitute(values),
        Template(skeleton.TEST).substitute(values),
        Template(skeleton.JOB_ENTRY).substitute(values),
    )


def _from_project(path: Path) -> str:
    """`path` relative to the project if it is inside, else its name: never where scaffold ran."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(PROJECT_DIR))
    except ValueError:
        return resolved.name


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it is inside it, for messages."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)


@click.command(name="scaffold")
@click.argument("name")
@click.option(
    "--stubs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=STUBS_DIR_VARS,
    default=PROJECT_DIR / "stubs",
    show_default="from $HOLE_STUBS_DIR or $STUBS_DIR, else the project's stubs/",
    help="Folder of report stubs to write NAME.py into.",
)
@click.option(
    "--tests-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=PROJECT_DIR / "tests" / "stubs",
    show_default="the project's tests/stubs/",
    help="Folder to write the stub's test, test_NAME.py, into.",
)
@click.option("--force", is_flag=True, help="Overwrite NAME.py and test_NAME.py if they exist.")
def scaffold_command(name: str, stubs_dir: Path, tests_dir: Path, force: bool) -> None:
    """Start a new report called NAME.

    \b
    It writes three things:
      1. STUBS_DIR/NAME.py, the report's stub: a form with one example field
         of each common kind (text, digits, a number, a choice, a date, a
         yes/no switch), each with the checks it needs;
      2. TESTS_DIR/test_NAME.py, a test that the form shows, that good input
         becomes the right job fields, and that bad input is refused;
      3. on standard output, the job-map entry for the report, with the same
         fields and one step that prints them back.

    \b
    Then:
      - Edit the two functions in NAME.py. show_form() returns the form;
        prepare_input(form) turns the checked form into the job's fields,
        one string per field. Keep the example fields you need, delete the
        others, and change the test's VALID, EXPECTED and BAD to match.
      - Run the test: pytest TESTS_DIR/test_NAME.py
      - Add the printed entry to a copy of the job map (in the map's own
        folder) and try the report in a browser: hole up --dev --jobs COPY
        (as root add --unjailed; it prints the address; the report is
        /r/NAME, marked as not yet approved).
      - Ask the webmaster to add the entry to the real job map, with the
        real programs in its steps, and to approve the stub: no report is
        served until both are done.

    \b
    NAME is a lower-case letter, then lower-case letters, digits or _ (at
    most 63): it is the report's address, its file name and its job name.
    """
    _check_name(name)
    stub_path = stubs_dir / f"{name}.py"
    test_path = tests_dir / f"test_{name}.py"
    if not force:
        for path in (stub_path, test_path):
            if path.exists() or path.is_symlink():
                raise click.ClickException(
                    f"{_shown(path)} already exists; choose another name, or pass --force to overwrite it"
                )
    stub, test, entry = render(name, stubs_dir, tests_dir)
    try:
        stubs_dir.mkdir(parents=True, exist_ok=True)
        tests_dir.mkdir(parents=True, exist_ok=True)
        stub_path.write_text(stub, encoding="utf-8")
        test_path.write_text(test, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {exc.filename}: {exc.strerror}") from None
    click.echo(f"wrote {_shown(stub_path)}", err=True)
    click.echo(f"wrote {_shown(test_path)}", err=True)
    click.echo(
        f"next: edit {_shown(stub_path)}, run pytest {_shown(test_path)}, add this entry to the job map:", err=True
    )
    click.echo(entry, nl=False)


def main() -> None:
    """Console-script entry point."""
    scaffold_command(prog_name="scaffold")
