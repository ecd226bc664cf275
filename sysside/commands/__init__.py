"""The `hole` admin command's shared parts: its error and its context object.

Rules:
1. An expected failure raises HoleError: click prints "Error: ..." on
   stderr and exits 1. A traceback means a bug.
2. Results go to stdout, one per line; diagnostics go to stderr.
"""

from dataclasses import dataclass

import click

from sysside.wakelatency import parse_setting


class HoleError(click.ClickException):
    """An expected failure of an admin command, said in one line."""


@dataclass
class HoleContext:
    """What every subcommand receives: settings common to the whole command."""

    verbose: bool = False


pass_hole = click.make_pass_decorator(HoleContext, ensure=True)


def checked_wake_latency(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """--wake-latency's callback: the text as given (`off` or µs), refused here if it is neither."""
    try:
        parse_setting(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value
