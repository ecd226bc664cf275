"""The `hole` admin command: one group, one module per subcommand.

Subcommands are imported only when run, so that `hole daemon` carries no
more code than the daemon needs: its memory size is part of what every
spawned step costs.
"""

import importlib

import click

from sysside.commands import HoleContext

# name -> (module, attribute, one-line help for the listing)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "daemon": ("sysside.commands.daemon", "daemon_command", "Run the listener daemon in the foreground."),
    "submit": ("sysside.commands.submit", "submit_command", "Submit a job and stream its result to stdout."),
    "jail": ("sysside.commands.jail", "jail_group", "Build, fix the permissions of, and audit the web side's jail."),
    "launch": ("sysside.commands.launch", "launch_command", "Run the web side in the jail, confined (used by up)."),
    "jobs": ("sysside.commands.jobs", "jobs_group", "Check and inspect the job map."),
    "demo": ("sysside.commands.demo", "demo_group", "The demo: a small Financial Information System."),
    "bench": ("sysside.commands.bench", "bench_group", "Measure what the hole costs."),
    "review": ("sysside.commands.review", "review_command", "Review report stubs and approve them."),
    "up": ("sysside.commands.up", "up_command", "Set up and run the whole service in the foreground."),
    "start": ("sysside.commands.control", "start_command", "Start the service in the background."),
    "stop": ("sysside.commands.control", "stop_command", "Stop the service."),
    "status": ("sysside.commands.control", "status_command", "Say what runs and what is wrong (LSB exit codes)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command = getattr(importlib.import_module(entry[0]), entry[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing uses the short help kept here, so `hole --help` does
        # not import every subcommand.
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup)
@click.version_option(package_name="hole-in-the-chroot")
@click.pass_context
def main(ctx: click.Context) -> None:
    """hole-in-the-chroot: run fragile system programs from a browser, safely.

    The web side lives in a chroot jail; jobs reach the programs outside only
    through a small named-pipe hole to the listener daemon.
    """
    ctx.obj = HoleContext()
