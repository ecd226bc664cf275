"""`hole submit`: one job through the hole, as the web side would send it."""

import sys
from pathlib import Path

import click

from hole import ProtocolError, Status
from sysside.commands import HoleError
from webside.client import HoleClient, SubmitError


def _parse_assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise click.BadParameter(f"{text!r} is not name=value")
    return name, value


@click.command("submit")
@click.option(
    "--spool", type=click.Path(path_type=Path), required=True, help="The spool directory of a running daemon."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the whole result.",
)
@click.argument("job")
@click.argument("fields", nargs=-1)
def submit_command(spool: Path, timeout: float, job: str, fields: tuple[str, ...]) -> None:
    """Submit JOB with FIELDS (name=value ...) and stream its result to stdout.

    Exits 0 when the job ends ok; otherwise prints the status on stderr and
    exits 1 (2 for a usage error).
    """
    values: dict[str, str] = {}
    for text in fields:
        name, value = _parse_assignment(text)
        if name in values:
            raise click.BadParameter(f"field {name!r} given twice")
        values[name] = value
    client = HoleClient(spool, timeout=timeout)
    try:
        running = client.submit(job, values)
    except (SubmitError, ProtocolError) as exc:
        raise HoleError(str(exc)) from None
    out = sys.stdout.buffer
    with running:
        for chunk in running.chunks():
            out.write(chunk)
            out.flush()
    status = running.status
    assert status is not None
    if status.status is not Status.OK:
        detail = f" (field {status.details['field']})" if status.details.get("field") else ""
        raise HoleError(f"{status.status.value}{detail}: {status.message}")
