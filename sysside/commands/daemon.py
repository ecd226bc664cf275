"""`hole daemon`: the listener in the foreground."""

import sys
from pathlib import Path

import click

from sysside import DaemonError
from sysside.audit import Log
from sysside.commands import HoleError, checked_wake_latency
from sysside.daemon import Daemon, prepare_spool
from sysside.jobmap import JobMapError, load_jobmap
from sysside.settings import Settings
from sysside.wakelatency import parse_setting

_DEFAULTS = Settings(spool=Path(), jobs_file=Path())


@click.command("daemon")
@click.option(
    "--spool", type=click.Path(path_type=Path), required=True, help="The spool directory shared with the web side."
)
@click.option(
    "--jobs", "jobs_file", type=click.Path(path_type=Path), required=True, help="The job map (TOML) to serve."
)
@click.option(
    "--max-jobs",
    type=click.IntRange(1, 4096),
    default=_DEFAULTS.max_jobs,
    show_default=True,
    help="Jobs that may run at once; more are answered busy.",
)
@click.option(
    "--max-input",
    type=click.IntRange(64, 16 * 1024 * 1024),
    default=_DEFAULTS.max_input,
    show_default=True,
    help="Largest input file accepted, in bytes.",
)
@click.option(
    "--stale-after",
    type=click.FloatRange(1.0),
    default=_DEFAULTS.stale_after,
    show_default=True,
    help="Seconds after which an abandoned job directory is removed.",
)
@click.option(
    "--sweep-interval",
    type=click.FloatRange(0.1),
    default=_DEFAULTS.sweep_interval,
    show_default=True,
    help="Seconds between sweeps for abandoned job directories.",
)
@click.option(
    "--web-uid", type=int, default=None, help="Owner required of job files (default: the owner of the spool's jobs/)."
)
@click.option(
    "--audit-log", type=click.Path(path_type=Path), default=None, help="Append audit records here instead of to stderr."
)
@click.option(
    "--cgroup",
    default=None,
    help="Control group (relative to the cgroup roots, owned by this user) for per-job memory and pids limits.",
)
@click.option(
    "--realtime/--no-realtime",
    default=_DEFAULTS.realtime,
    show_default=True,
    help="Run at the lowest real-time priority when allowed (steps always start at normal priority).",
)
@click.option(
    "--wake-latency",
    default="0",
    show_default=True,
    callback=checked_wake_latency,
    help="CPU wake-up latency in µs to ask of the kernel while jobs start, or `off` (see sysside/wakelatency.py).",
)
@click.option(
    "--wake-latency-fd", type=click.IntRange(3), default=None, hidden=True, help="An open /dev/cpu_dma_latency."
)
@click.option(
    "--create-spool/--no-create-spool",
    default=True,
    show_default=True,
    help="Create jobs/ and the daemon FIFO if missing.",
)
def daemon_command(
    spool: Path,
    jobs_file: Path,
    max_jobs: int,
    max_input: int,
    stale_after: float,
    sweep_interval: float,
    web_uid: int | None,
    audit_log: Path | None,
    create_spool: bool,
    cgroup: str | None,
    realtime: bool,
    wake_latency: str,
    wake_latency_fd: int | None,
) -> None:
    """Run the listener daemon in the foreground until SIGTERM or Ctrl-C.

    Logs and audit records go to stderr as JSON lines. SIGHUP reloads the
    job map (a map with problems is refused and the old one stays). The
    first SIGTERM lets running jobs end (each within its timeout); a second
    one stops them at once.
    """
    try:
        jobmap = load_jobmap(jobs_file)
    except JobMapError as exc:
        raise HoleError(str(exc)) from None
    if create_spool:
        try:
            for made in prepare_spool(spool):
                click.echo(f"created {made}", err=True)
        except OSError as exc:
            raise HoleError(f"cannot prepare spool {spool}: {exc}") from None
    settings = Settings(
        spool=spool,
        jobs_file=jobs_file,
        max_jobs=max_jobs,
        max_input=max_input,
        stale_after=stale_after,
        sweep_interval=sweep_interval,
        web_uid=web_uid,
        audit_file=audit_log,
        cgroup=cgroup,
        realtime=realtime,
        wake_latency=parse_setting(wake_latency),
        wake_latency_fd=wake_latency_fd,
    )
    audit_stream = None
    try:
        if audit_log is not None:
            audit_stream = open(audit_log, "a", encoding="utf-8")  # noqa: SIM115 (held for the daemon's life)
        Daemon(settings, jobmap, Log(sys.stderr, audit_stream)).run()
    except DaemonError as exc:
        raise HoleError(str(exc)) from None
    except OSError as exc:
        raise HoleError(f"the daemon failed: {exc}") from None
    finally:
        if audit_stream is not None:
            audit_stream.close()
