"""`hole up`: the one command a newcomer runs."""

import os
import pwd
import time
from pathlib import Path

import click

from sysside import DaemonError, jailed
from sysside.commands import HoleError, checked_wake_latency
from sysside.control import clear_service_info, write_service_info
from sysside.daemon import prepare_spool
from sysside.demo import init_demo
from sysside.service import Interrupted, Service, ServiceConfig, bind_listener
from sysside.state import StateDir, default_state_dir

BANNER = """\
  NOT JAILED: the web side runs as {user} with this user's full access to
  the machine. This mode is for trying the product and for development;
  run `hole up` as root (without --unjailed) to serve from the jail."""
PROJECT_STUBS = Path(__file__).resolve().parent.parent.parent / "stubs"


@click.command("up")
@click.option(
    "--state",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for all the service makes (default: HOLE_STATE; /var/lib/hole as root; else ~/.local/state/hole).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--jobs",
    "jobs_file",
    type=click.Path(path_type=Path),
    default=None,
    help=(
        "Job map to serve (default: the demo's, written afresh in the state folder at each start;"
        " to change it, copy it into the same folder and pass the copy)."
    ),
)
@click.option(
    "--stubs",
    "stubs_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of report stubs (default: the project's stubs/).",
)
@click.option("--unjailed", is_flag=True, help="Run the web side without the jail, even as root (development).")
@click.option(
    "--dev", is_flag=True, help="Also serve stubs that are not approved (development only; said on every page)."
)
@click.option(
    "--wake-latency",
    default="0",
    show_default=True,
    callback=checked_wake_latency,
    help="CPU wake-up latency in µs the daemon asks of the kernel while jobs start, or `off` (root only).",
)
def up_command(
    state: Path | None,
    host: str,
    port: int,
    jobs_file: Path | None,
    stubs_dir: Path | None,
    unjailed: bool,
    dev: bool,
    wake_latency: str,
) -> None:
    """Set up and run the whole service in the foreground; Ctrl-C stops it.

    Makes the demo in the state folder (its database is kept from one start
    to the next; its programs and job map are written afresh), starts the
    job daemon and the web side, and prints the URL. As root the web side
    runs in the jail, which holds approved stubs only: --dev, which also
    serves stubs not yet approved, needs --unjailed there.
    """
    state_dir = StateDir((state or default_state_dir()).absolute())
    try:
        # The port first: it is the likeliest failure, and it must be
        # reported before anything is made or started.
        listener = bind_listener(host, port)
    except DaemonError as exc:
        raise HoleError(str(exc)) from None
    jail_it = os.geteuid() == 0 and not unjailed
    if jail_it and dev:
        listener.close()
        raise HoleError(
            "--dev serves stubs that are not approved, and the jail holds approved stubs only:"
            " add --unjailed to try them as root"
        )
    try:
        jobs_file = _prepare(state_dir, jobs_file, unjailed=not jail_it)
        setup = None
        if jail_it:
            try:
                setup = jailed.prepare(state_dir, stubs_dir or PROJECT_STUBS, lambda line: click.echo(line, err=True))
            except (DaemonError, OSError) as exc:
                raise HoleError(f"cannot serve from the jail: {exc}") from None
    except BaseException:
        listener.close()
        raise
    service = Service(
        ServiceConfig(
            state=state_dir,
            jobs_file=jobs_file,
            host=host,
            port=port,
            stubs_dir=stubs_dir,
            dev=dev,
            jailed=setup,
            wake_latency=wake_latency,
        )
    )
    try:
        with service.catching_signals():
            try:
                service.start(listener)
            except Interrupted:
                click.echo("stopped", err=True)
                return
            except DaemonError as exc:
                raise HoleError(str(exc)) from None
            except OSError as exc:
                raise HoleError(f"cannot start: {exc}") from None
            try:
                _announce(service, state_dir, jobs_file)
                service.serve_until_signal()
            except DaemonError as exc:
                raise HoleError(str(exc)) from None
            finally:
                # Already done by serve_until_signal(), but not if _announce() failed:
                # no side may outlive this command.
                service.stop()
                clear_service_info(state_dir)
    finally:
        if setup is not None:
            # The spool's mount and the control groups live outside the
            # state folder: a stopped service leaves neither behind.
            for problem in jailed.release(setup):
                click.echo(f"warning: {problem}", err=True)
    click.echo("stopped", err=True)


def _prepare(state_dir: StateDir, jobs_file: Path | None, unjailed: bool = True) -> Path:
    """Make the state folder, the demo (unless a job map is given) and the spool; return the job map."""
    try:
        state_dir.prepare()
    except DaemonError as exc:
        raise HoleError(f"{exc}; fix it or choose another with --state") from None
    try:
        if jobs_file is None:
            demo = state_dir.demo
            if not (demo / "jobs.toml").exists():
                click.echo(f"making the demo in {demo}", err=True)
            jobs_file = init_demo(demo).jobs_file
        # As root the spool is the jail's (made with it); else it is here.
        for made in prepare_spool(state_dir.spool) if unjailed else []:
            click.echo(f"created {made}", err=True)
    except DaemonError as exc:
        raise HoleError(str(exc)) from None
    except OSError as exc:
        raise HoleError(f"cannot start: {exc}") from None
    return jobs_file


def _announce(service: Service, state_dir: StateDir, jobs_file: Path) -> None:
    state_dir.write_pid("supervisor", os.getpid())
    setup = service.config.jailed
    record = {
        "url": service.url,
        "jailed": False,
        "spool": str(service.config.spool),
        "jobs": str(jobs_file),
        "started": time.time(),
    }
    if setup is not None:
        record.update(jailed.service_record(setup))
    write_service_info(state_dir, record)
    user = pwd.getpwuid(os.geteuid()).pw_name
    click.echo("hole-in-the-chroot is up")
    if setup is None:
        click.echo(BANNER.format(user=user))
    else:
        click.echo(f"  jailed   web side in {setup.jail} as {setup.web.name}; daemon as {setup.sys_user.name}")
        for layer, what in setup.layers.items():
            click.echo(f"  layer    {layer}: {what}")
    ready = next((side.event("daemon.ready") for side in service.sides if side.name == "daemon"), None)
    if ready is not None:
        click.echo(
            f"  daemon   pid {ready.get('pid')}, {ready.get('scheduling')} priority,"
            f" steps started by {ready.get('spawner')}; CPU wake latency: {ready.get('wake_latency')}"
        )
    click.echo(f"  web      {service.url}")
    click.echo(f"  jobs     {jobs_file}")
    click.echo(f"  spool    {service.config.spool}")
    click.echo(f"  logs     {state_dir.logs}/")
    click.echo("Press Ctrl-C to stop.", err=True)
