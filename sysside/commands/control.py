"""`hole start`, `hole stop`, `hole status`: the service in the background."""

import subprocess
import sys
import time
from pathlib import Path

import click

from sysside.commands import HoleError
from sysside.control import (
    last_audit,
    service_info,
    side_status,
    spool_fifo_present,
    stop_service,
)
from sysside.state import StateDir, default_state_dir

START_TIMEOUT = 120.0

state_option = click.option(
    "--state",
    type=click.Path(path_type=Path),
    default=None,
    help="The service's state folder (default: HOLE_STATE; /var/lib/hole as root; else ~/.local/state/hole).",
)


def _state(state: Path | None) -> StateDir:
    return StateDir((state or default_state_dir()).absolute())


@click.command("start", context_settings={"ignore_unknown_options": True})
@state_option
@click.argument("up_options", nargs=-1, type=click.UNPROCESSED)
def start_command(state: Path | None, up_options: tuple[str, ...]) -> None:
    """Start the service in the background (`hole up` options may follow).

    Returns once the web side answers, printing its URL; the service's own
    output goes to <state>/logs/service.log.
    """
    state_dir = _state(state)
    if side_status(state_dir, "supervisor").running:
        pid = side_status(state_dir, "supervisor").pid
        raise HoleError(f"already running (pid {pid}); `hole stop --state {state_dir.root}` first")
    state_dir.prepare()
    log_path = state_dir.log_file("service")
    (state_dir.run / "service.json").unlink(missing_ok=True)
    argv = [sys.executable, "-m", "sysside", "up", "--state", str(state_dir.root), *up_options]
    with open(log_path, "ab") as log:
        offset = log.tell()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while not service_info(state_dir):
        if process.poll() is not None or time.monotonic() > deadline:
            text = log_path.read_text(encoding="utf-8", errors="replace")[offset:]
            errors = [line for line in text.splitlines() if line.startswith("Error:")]
            reason = errors[-1].removeprefix("Error: ") if errors else f"see {log_path}"
            if process.poll() is None:
                process.terminate()
            raise HoleError(f"the service did not start: {reason}")
        time.sleep(0.1)
    info = service_info(state_dir)
    click.echo(f"started {info.get('url', '')} ({'jailed' if info.get('jailed') else 'NOT jailed'}; pid {process.pid})")
    click.echo(f"logs: {state_dir.logs}/")


@click.command("stop")
@state_option
@click.option(
    "--timeout", type=click.FloatRange(1), default=60.0, show_default=True, help="Seconds to wait before SIGKILL."
)
def stop_command(state: Path | None, timeout: float) -> None:
    """Stop the service: the web side first, then the daemon (running jobs end)."""
    state_dir = _state(state)
    done = stop_service(state_dir, timeout)
    for line in done:
        click.echo(line)
    if not done:
        click.echo("not running")


@click.command("status")
@state_option
def status_command(state: Path | None) -> None:
    """Say what runs and what is wrong; exit 0 when all is well, 3 when stopped, 1 when broken."""
    state_dir = _state(state)
    info = service_info(state_dir)
    sides = {name: side_status(state_dir, name) for name in ("supervisor", "daemon", "web")}
    problems: list[str] = []
    for name in ("daemon", "web"):
        side = sides[name]
        if side.running:
            click.echo(f"{name:7s} running, pid {side.pid}")
        elif side.stale_pid_file:
            click.echo(f"{name:7s} NOT running (stale pid file, pid {side.pid})")
            problems.append(f"the {name} side died")
        else:
            click.echo(f"{name:7s} not running")
    if info:
        click.echo(f"mode    {'jailed' if info.get('jailed') else 'NOT jailed'}")
        click.echo(f"url     {info.get('url', '?')}")
        spool = Path(str(info.get("spool", "")))
        present = spool_fifo_present(spool)
        click.echo(f"spool   {spool} (daemon FIFO {'present' if present else 'MISSING'})")
        if not present:
            problems.append("the daemon FIFO is missing from the spool")
        for layer, active in sorted(dict(info.get("layers", {})).items()):
            click.echo(f"layer   {layer}: {active}")
    audit = last_audit(state_dir)
    if audit:
        verdict = "clean" if audit.get("ok") else f"FAILED ({len(audit.get('problems', []))} problem(s))"
        click.echo(f"audit   {verdict} at {audit.get('when', '?')}")
        if not audit.get("ok") and info.get("jailed"):
            problems.append("the last jail audit failed")
    running = [n for n in ("daemon", "web") if sides[n].running]
    if not running and not problems:
        click.echo(f"stopped: start it with `hole start --state {state_dir.root}`", err=True)
        sys.exit(3)
    if len(running) < 2 and not problems:
        problems.append("only the " + running[0] + " side is running")
    if problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        click.echo(
            f"to fix: `hole stop --state {state_dir.root}`, then `hole start --state {state_dir.root}`", err=True
        )
        sys.exit(1)
