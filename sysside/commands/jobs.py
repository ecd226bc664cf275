"""`hole jobs`: the job map's checks."""

from pathlib import Path

import click

from sysside.commands import HoleError
from sysside.jobmap import JobMapError, load_jobmap


@click.group("jobs")
def jobs_group() -> None:
    """Check and inspect the job map."""


@jobs_group.command("check")
@click.argument("jobs_file", type=click.Path(path_type=Path))
def check_command(jobs_file: Path) -> None:
    """Check JOBS_FILE; print each problem with its location and exit 1 if any."""
    try:
        jobmap = load_jobmap(jobs_file)
    except JobMapError as exc:
        for problem in exc.problems:
            click.echo(f"{exc.path}: {problem}", err=True)
        raise HoleError(f"{jobs_file}: {len(exc.problems)} problem(s)") from None
    for name, spec in sorted(jobmap.jobs.items()):
        fields = ", ".join(f"{f.name}:{f.type}" for f in spec.fields.values())
        click.echo(f"{name}: {len(spec.steps)} step(s); fields {fields or '(none)'}")
    click.echo(f"{jobs_file}: ok, {len(jobmap.jobs)} job(s)")
