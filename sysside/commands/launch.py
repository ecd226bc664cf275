"""`hole launch`: run the web side (or another program) in the jail, confined.

Used by `hole up` as root; it can be run by hand to start the jailed web
side under another supervisor. It stays outside the jail as the jail's
parent: it relays the jail's output to its own and passes signals on.
"""

import os
import sys
from pathlib import Path

import click

from sysside import DaemonError
from sysside.commands import HoleError
from sysside.launcher import LISTEN_FD, JailSpec, launch
from sysside.users import WEB_USER, lookup

# What the web side inside the jail may see of the launcher's environment.
PASSED_ENV = (
    "HOLE_SECRET_KEY",
    "HOLE_TIMEOUT",
    "HOLE_STREAM_GRACE",
    "HOLE_DEV",
    "HOLE_WEB_WORKERS",
    "HOLE_WEB_THREADS",
)
GUNICORN = ["/usr/bin/python3", "-I", "-B", "-m", "gunicorn", "-c", "python:webside.gunicorn_conf"]


def web_environment(outer: dict[str, str]) -> dict[str, str]:
    """The jailed web side's whole environment: fixed values and a short allow-list."""
    env = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        # The jail has no time-zone files.
        "TZ": "UTC",
        "HOME": "/nonexistent",
        "HOLE_SPOOL": "/var/spool/hole",
        "HOLE_STUBS_DIR": "/srv/hole/stubs",
    }
    env.update({name: outer[name] for name in PASSED_ENV if name in outer})
    return env


@click.command("launch", context_settings={"ignore_unknown_options": True})
@click.option("--jail", "jail_dir", type=click.Path(path_type=Path, file_okay=False), required=True, help="The jail.")
@click.option("--user", default=WEB_USER, show_default=True, help="The web side's user.")
@click.option("--listen-fd", type=int, default=None, help="An inherited listening socket, handed in as fd 3.")
@click.option("--cgroup", default=None, help="Control group (relative to the cgroup roots) the jail is put in.")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def launch_command(jail_dir: Path, user: str, listen_fd: int | None, cgroup: str | None, argv: tuple[str, ...]) -> None:
    """Run ARGV (default: the web side under gunicorn) in the jail, as USER, confined.

    Exits with the program's status.
    """
    account = lookup(user)
    if account is None:
        raise HoleError(f"no user {user!r}; `hole up` as root creates it")
    command = list(argv) or [*GUNICORN, "--bind", f"fd://{LISTEN_FD}", "--worker-tmp-dir", "/tmp"]  # noqa: S108 (the jail's private tmpfs)
    spec = JailSpec(
        root=jail_dir,
        user=account,
        argv=command,
        env=web_environment(dict(os.environ)),
        listen_fd=listen_fd,
        cgroup=cgroup,
    )
    try:
        status = launch(spec)
    except (DaemonError, OSError) as exc:
        raise HoleError(f"cannot launch the jail: {exc}") from None
    # A program killed by a signal exits as a shell reports it: 128 + the signal.
    sys.exit(128 - status if status < 0 else status)
