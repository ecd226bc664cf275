"""`hole jobs`: the job map's checks."""

import tomllib
from pathlib import Path

import click

from sysside.commands import HoleError
from sysside.jobmap import JobMapError, load_jobmap
from sysside.review.findings import JobFields
from sysside.review.lint import describe, lint, web_user
from sysside.review.states import review_stub
from webside.approval import Manifest, stub_files


@click.group("jobs")
def jobs_group() -> None:
    """Check and inspect the job map."""


@jobs_group.command("check")
@click.argument("jobs_file", type=click.Path(path_type=Path))
@click.option(
    "--stubs",
    "stubs_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also compare the map with the report stubs in this folder: their jobs and the fields they send.",
)
@click.option(
    "--web-uid",
    type=int,
    help="The web side's uid, for the check that no program is writable by it.  [default: the user holeweb's]",
)
def check_command(jobs_file: Path, stubs_dir: Path | None, web_uid: int | None) -> None:
    """Check JOBS_FILE; print each problem with its location and exit 1 if any.

    \b
    Beyond what the daemon checks when it loads the map, it also checks
    against this host: no step's program (or a folder above it) is
    writable by the web side's user; no step runs a shell, or an
    interpreter on program text (python -c, perl -e, an inline awk
    program) or on its standard input; every job has a timeout and
    limits, its own or in [defaults]. With --stubs, each stub's job must
    be in the map and declare every field the stub sends. Warnings (a
    limit left at its default, a job no stub uses, a check skipped) are
    shown and do not fail the check.
    """
    try:
        jobmap = load_jobmap(jobs_file)
    except JobMapError as exc:
        for refusal in exc.problems:
            click.echo(f"{exc.path}: {refusal}", err=True)
        raise HoleError(f"{jobs_file}: {len(exc.problems)} problem(s)") from None
    with open(jobs_file, "rb") as handle:
        raw = tomllib.load(handle)
    web, skipped = web_user(web_uid)
    if skipped is not None:
        click.echo(f"{jobs_file}: note: {skipped}", err=True)
    reviews = None
    if stubs_dir is not None:
        fields = JobFields(str(jobs_file), {name: frozenset(spec.fields) for name, spec in jobmap.jobs.items()})
        reviews = [review_stub(path, Manifest({}), fields) for path in stub_files(stubs_dir)]
    problems = lint(jobmap, raw, web, reviews)
    for spec in sorted(jobmap.jobs.values(), key=lambda s: s.name):
        click.echo(describe(spec))
    for problem in problems:
        click.echo(f"{jobs_file}: {problem}", err=True)
    errors = sum(1 for p in problems if p.error)
    if errors:
        raise HoleError(f"{jobs_file}: {errors} problem(s)")
    warnings = len(problems) - errors
    click.echo(f"{jobs_file}: ok, {len(jobmap.jobs)} job(s)" + (f", {warnings} warning(s)" if warnings else ""))
