"""`hole demo`: the shipped Financial Information System sample."""

import shlex
from pathlib import Path

import click

from sysside.commands import HoleError
from sysside.demo import EXAMPLE_JOB, init_demo


@click.group("demo")
def demo_group() -> None:
    """The demo: a small Financial Information System on the sys side."""


@demo_group.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
def init_command(directory: Path) -> None:
    """Create the demo in DIRECTORY: database, programs and jobs.toml.

    Re-running keeps an existing database and rewrites the rest.
    """
    try:
        paths = init_demo(directory)
    except OSError as exc:
        raise HoleError(f"cannot create the demo in {directory}: {exc}") from None
    click.echo(f"database  {paths.database}")
    click.echo(f"programs  {paths.bin_dir}")
    click.echo(f"job map   {paths.jobs_file}")
    click.echo(f"tripwire  {paths.tripwire_log}")
    job, fields = EXAMPLE_JOB
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in fields.items())
    click.echo("try it, with a daemon running on SPOOL:")
    click.echo(f"  hole daemon --spool SPOOL --jobs {shlex.quote(str(paths.jobs_file))} &")
    click.echo(f"  hole submit --spool SPOOL {job} {assignments}")
