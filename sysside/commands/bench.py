"""`hole bench`: benchmark commands that print figures measured in one run."""

import dataclasses
import datetime
import json
import os
import sys
from pathlib import Path

import click

from sysside import DaemonError, wakelatency
from sysside.bench import holecost, machine, report, servers, suite
from sysside.bench.stats import table
from sysside.bench.targets import TargetError
from sysside.bench.wrk import WrkError
from sysside.commands import HoleError, checked_wake_latency
from sysside.spawn import spawner_name
from sysside.wakelatency import parse_setting

# Both bench commands take it alike.
WAKE_LATENCY_OPTION = click.option(
    "--wake-latency",
    default="0",
    show_default=True,
    callback=checked_wake_latency,
    help="CPU wake-up latency in µs held for every row and given to the daemons, or `off`: the machine as it is.",
)


@click.group("bench", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead of the tables.")
@click.option("--quick", is_flag=True, help="Run every row for a few seconds only (for CI).")
@click.option(
    "--duration",
    type=click.IntRange(1, 3600),
    default=None,
    help="Seconds of load per measurement (default: 10, or 2 with --quick).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the tables as Markdown to this file, between its `hole bench` markers if it has them.",
)
@click.option("--unjailed", is_flag=True, help="Measure the product without the jail, even as root.")
@WAKE_LATENCY_OPTION
@click.pass_context
def bench_group(
    ctx: click.Context,
    as_json: bool,
    quick: bool,
    duration: int | None,
    out: Path | None,
    unjailed: bool,
    wake_latency: str,
) -> None:
    """Measure what the hole costs; every figure is measured in the same run.

    Without a subcommand, sets everything up on loopback (a temporary spool,
    the daemon, gunicorn with the web side, a naive Flask baseline and the
    webhook peer) and prints every row of the benchmark with its baseline
    and targets. As root the product is served from the jail, as `hole up`
    serves it (built, audited and launched in the benchmark's folder).
    """
    if ctx.invoked_subcommand is not None:
        return
    jailed = os.geteuid() == 0 and not unjailed
    plan = suite.Plan.quick(duration or 2) if quick else suite.Plan(seconds=duration or 10)
    latency = parse_setting(wake_latency)
    plan = dataclasses.replace(plan, jailed=jailed, wake_latency=wake_latency)
    jail_note = report.jail_note(jailed, as_root=os.geteuid() == 0)
    click.echo(jail_note, err=True)
    started = datetime.datetime.now(datetime.UTC)
    before = machine.describe()
    try:
        with wakelatency.requested(latency) as latency_note:
            click.echo(f"CPU wake latency: {latency_note}", err=True)
            figures = suite.run(plan, lambda line: click.echo(line, err=True))
    except (DaemonError, servers.BenchSetupError, TargetError, WrkError) as exc:
        raise HoleError(str(exc)) from None
    after = machine.describe()
    header = [
        f"hole bench{' --quick' if quick else ''}: {started:%Y-%m-%d %H:%M} UTC, {plan.seconds} s per load",
        f"machine: {before['cpu']}, {before['cpus']} CPUs, {before['memory']}, {before['kernel']},"
        f" Python {before['python']}",
        f"load average (1, 5, 15 min): {before['load']} before, {after['load']} after",
        f"cgroup2 favordynmods: {after['favordynmods']}; step spawner: {after['spawner']}",
        f"CPU wake latency: {latency_note}; idle driver: {after['idle']}",
        jail_note,
    ]
    if as_json:
        about = {"quick": quick, "seconds": plan.seconds, "date": started.isoformat(), "machine": before}
        sys.stdout.write(report.as_json(figures, jailed, about))
    else:
        click.echo(report.text(figures, header), nl=False)
    if out is not None:
        existing = out.read_text(encoding="utf-8") if out.exists() else ""
        out.write_text(report.splice(existing, report.markdown(figures, header)), encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@bench_group.command("hole")
@click.option(
    "--samples", type=click.IntRange(10), default=2000, show_default=True, help="Jobs timed per way of running."
)
@click.option(
    "--rss-jobs",
    type=click.IntRange(0),
    default=10000,
    show_default=True,
    help="Jobs run before the daemon's RSS is read again.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead of a table.")
@WAKE_LATENCY_OPTION
def hole_command(samples: int, rss_jobs: int, as_json: bool, wake_latency: str) -> None:
    """A trivial three-step job, run directly and through a running daemon.

    The direct runs use the same argv, stdin and && semantics, with
    subprocess.run, with os.posix_spawn and with the daemon's own spawner;
    the hole's overhead is its time minus the posix_spawn time.
    """
    click.echo(f"timing {samples} jobs each way, then {rss_jobs} jobs for the daemon's memory...", err=True)
    with wakelatency.requested(parse_setting(wake_latency)) as latency_note:
        click.echo(f"CPU wake latency: {latency_note}", err=True)
        cost = holecost.measure(samples=samples, rss_jobs=rss_jobs, wake_latency=wake_latency)
    figures = cost.figures()
    if as_json:
        json.dump({k: round(v, 4) for k, v in figures.items()}, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return
    spawn_p50, spawn_p99 = figures["hole.spawn_p50_ms"], figures["hole.spawn_p99_ms"]
    rows = [
        ["three-step job", "p50 ms", "p99 ms", "p50 x spawn", "p99 x spawn"],
        _row(
            "direct, subprocess.run", figures["hole.direct_p50_ms"], figures["hole.direct_p99_ms"], spawn_p50, spawn_p99
        ),
        _row("direct, posix_spawn", spawn_p50, spawn_p99, spawn_p50, spawn_p99),
        _row(
            "direct, daemon's spawner",
            figures["hole.daemon_spawner_p50_ms"],
            figures["hole.daemon_spawner_p99_ms"],
            spawn_p50,
            spawn_p99,
        ),
        _row("through the hole", figures["hole.hole_p50_ms"], figures["hole.hole_p99_ms"], spawn_p50, spawn_p99),
    ]
    click.echo(table(rows))
    click.echo(
        f"hole overhead: p50 {figures['hole.overhead_p50_ms']:+.3f} ms, p99 {figures['hole.overhead_p99_ms']:+.3f} ms"
        " (targets: under 0.5 and 2 ms);"
        f" against subprocess.run: p50 {figures['hole.overhead_vs_subprocess_p50_ms']:+.3f} ms;"
        f" against the daemon's spawner ({spawner_name()}): p50"
        f" {figures['hole.overhead_vs_daemon_spawner_p50_ms']:+.3f} ms"
    )
    click.echo(
        f"CPU per job: daemon {figures['hole.daemon_cpu_ms']:.3f} ms + client {figures['hole.client_cpu_ms']:.3f} ms"
        f" through the hole; {figures['hole.spawn_self_cpu_ms']:.3f} ms for posix_spawn's own loop"
        " (the steps' CPU is not counted)"
    )
    click.echo(
        f"daemon RSS: {figures['hole.daemon_rss_start_mb']:.1f} MB after warm-up,"
        f" {figures['hole.daemon_rss_end_mb']:.1f} MB after {int(figures['hole.rss_jobs'])} jobs"
        f" ({figures['hole.daemon_rss_growth_mb']:+.2f} MB)"
    )


def _row(name: str, p50: float, p99: float, base50: float, base99: float) -> list[str]:
    return [name, f"{p50:.3f}", f"{p99:.3f}", f"{p50 / base50:.2f}", f"{p99 / base99:.2f}"]
