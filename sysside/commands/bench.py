"""`hole bench`: benchmark commands that print figures measured in one run."""

import json
import sys

import click

from sysside.bench import holecost
from sysside.bench.stats import table


@click.group("bench")
def bench_group() -> None:
    """Measure what the hole costs; every figure is measured in the same run."""


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
def hole_command(samples: int, rss_jobs: int, as_json: bool) -> None:
    """A trivial three-step job, run directly and through a running daemon.

    The direct runs use the same argv, stdin and && semantics, with
    subprocess.run and with posix_spawn (the daemon's own spawn path); the
    hole's overhead is its time minus the posix_spawn time.
    """
    click.echo(f"timing {samples} jobs each way, then {rss_jobs} jobs for the daemon's memory...", err=True)
    cost = holecost.measure(samples=samples, rss_jobs=rss_jobs)
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
        _row("through the hole", figures["hole.hole_p50_ms"], figures["hole.hole_p99_ms"], spawn_p50, spawn_p99),
    ]
    click.echo(table(rows))
    click.echo(
        f"hole overhead: p50 {figures['hole.overhead_p50_ms']:+.3f} ms, p99 {figures['hole.overhead_p99_ms']:+.3f} ms"
        " (targets: under 0.5 and 2 ms);"
        f" against subprocess.run: p50 {figures['hole.overhead_vs_subprocess_p50_ms']:+.3f} ms"
    )
    click.echo(
        f"daemon RSS: {figures['hole.daemon_rss_start_mb']:.1f} MB after warm-up,"
        f" {figures['hole.daemon_rss_end_mb']:.1f} MB after {int(figures['hole.rss_jobs'])} jobs"
        f" ({figures['hole.daemon_rss_growth_mb']:+.2f} MB)"
    )


def _row(name: str, p50: float, p99: float, base50: float, base99: float) -> list[str]:
    return [name, f"{p50:.3f}", f"{p99:.3f}", f"{p50 / base50:.2f}", f"{p99 / base99:.2f}"]
