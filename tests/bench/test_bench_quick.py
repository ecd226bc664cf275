"""`hole bench` in a very short run: every row measures real servers and the figures make sense.

The numbers themselves depend on the machine; what is checked is that
each row ran against real processes, that every answer counted held the
job's output, and that the JSON carries the keys kept for comparison.
"""

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from sysside.bench import procs, report, servers, suite, targets, workload, wrk
from sysside.commands.bench import bench_group

# The keys promised for comparison over time (docs/benchmarks.md).
KEPT_KEYS = (
    "hole.direct_p50_ms",
    "hole.overhead_p50_ms",
    "hole.overhead_p99_ms",
    "http.naive_rps_c16",
    "http.product_rps_c16",
    "http.product_p50_c1_ms",
    "http.naive_p50_c1_ms",
    "webhook.rps_c16",
    "overload.lost",
    "overload.hung",
    "overload.busy_p99_ms",
    "stream.worker_rss_growth_mb",
    "jailed",
)

SHORT = suite.Plan(seconds=1, concurrencies=(1, 16), hole_samples=50, hole_rss_jobs=100, sizes=("1k", "10m"))


@pytest.fixture(scope="module")
def figures() -> dict[str, float]:
    return suite.run(SHORT, lambda line: None)


def test_json_has_the_kept_keys(figures: dict[str, float]) -> None:
    document = json.loads(report.as_json(figures, jailed=False, about={"quick": True}))
    assert [key for key in KEPT_KEYS if key not in document] == []
    assert document["jailed"] is False


def test_latencies_and_rates_are_measured(figures: dict[str, float]) -> None:
    for key in (
        "hole.direct_p50_ms",
        "hole.hole_p50_ms",
        "http.naive_rps_c16",
        "http.product_rps_c16",
        "http.product_rps_c1",
        "http.product_p50_c1_ms",
        "http.product_p99_c16_ms",
        "http.naive_p50_c1_ms",
        "webhook.rps_c16",
        "webhook.p99_c16_ms",
        "stream.product_p50_10m_ms",
        "stream.naive_p50_10m_ms",
    ):
        assert figures[key] > 0, key
    # Each percentile pair is ordered, and the hole's fastest job cannot beat
    # the fastest direct spawn of the same steps by far (minimums, because
    # load on the machine during one block would skew a median).
    assert figures["http.product_p99_c16_ms"] >= figures["http.product_p50_c16_ms"]
    assert figures["hole.hole_min_ms"] > 0.8 * figures["hole.spawn_min_ms"]
    # Where the hole's time goes: the daemon and the client each spend
    # some CPU on every job (read to the nanosecond, so never 0).
    assert figures["hole.daemon_cpu_ms"] > 0
    assert figures["hole.client_cpu_ms"] > 0
    assert figures["hole.spawn_self_cpu_ms"] > 0


def test_ratios_are_computed_from_the_figures(figures: dict[str, float]) -> None:
    ratio = figures["http.product_rps_ratio_c16"]
    assert ratio == pytest.approx(figures["http.product_rps_c16"] / figures["http.naive_rps_c16"])
    assert figures["webhook.product_rps_ratio_c16"] == pytest.approx(
        figures["http.product_rps_c16"] / figures["webhook.rps_c16"]
    )
    assert figures["http.product_p50_over_naive_c1_ms"] == pytest.approx(
        figures["http.product_p50_c1_ms"] - figures["http.naive_p50_c1_ms"]
    )
    assert not math.isnan(figures["stream.product_p50_ratio_10m"])


def test_every_answer_held_the_output(figures: dict[str, float]) -> None:
    for connections in SHORT.concurrencies:
        assert figures[f"http.naive_failed_c{connections}"] == 0
        assert figures[f"webhook.failed_c{connections}"] == 0
        # The product may answer busy when its daemon's job slots are full;
        # anything else would be an error page.
        assert figures[f"http.product_failed_c{connections}"] == figures[f"http.product_busy_c{connections}"]
    assert figures["stream.failed"] == 0
    assert report.with_totals(figures)["http.errors"] == 0


def test_overload_loses_nothing_and_leaves_nothing(figures: dict[str, float]) -> None:
    assert figures["overload.clients"] == 4 * figures["overload.max_jobs"]
    assert figures["overload.lost"] == 0
    assert figures["overload.hung"] == 0
    assert figures["overload.other"] == 0
    assert figures["overload.zombies"] == 0
    assert figures["overload.ok"] > 0
    # Four times more clients than slots: some must have been turned away.
    assert figures["overload.busy"] > 0
    assert figures["overload.busy_p99_ms"] < 1000 * figures["overload.deadline_s"]


def test_the_result_streams(figures: dict[str, float]) -> None:
    # 10 MB went through a worker; streamed, its peak barely moves, while
    # the naive baseline, which holds the output whole, grows by about that.
    assert figures["stream.worker_rss_growth_mb"] < 20
    assert figures["stream.naive_worker_rss_growth_mb"] > 5


def test_report_shows_every_row_and_target(figures: dict[str, float]) -> None:
    text = report.text(figures, ["header"])
    for title in ("The hole alone", "HTTP", "Overload", "Output size", "Targets"):
        assert title in text
    assert "CPU per job through the hole: daemon" in text
    verdicts = {goal.key: verdict for goal, _, verdict in report.verdicts(report.with_totals(figures))}
    assert set(verdicts.values()) <= {"PASS", "MISS"}
    assert verdicts["overload.lost"] == "PASS"


def test_markdown_keeps_the_prose_around_the_tables() -> None:
    document = f"# Benchmarks\n\nintro\n\n{report.BEGIN}\nold\n{report.END}\n\nafter\n"
    spliced = report.splice(document, "new\n")
    assert spliced == f"# Benchmarks\n\nintro\n\n{report.BEGIN}\nnew\n{report.END}\n\nafter\n"
    assert report.BEGIN in report.splice("", "new\n")


def test_the_command_keeps_its_subcommand() -> None:
    result = CliRunner().invoke(bench_group, ["hole", "--samples", "10", "--rss-jobs", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hole.hole_p50_ms"] > 0


@pytest.mark.root
def test_the_jailed_product_is_measured() -> None:
    # As root `hole bench` serves the product from the jail, as `hole up` does.
    with workload.temporary() as work, servers.product(work, "state", jailed=True, echo=lambda line: None) as product:
        assert product.jailed
        target = targets.product(product.port, workload.REPORTS["bench3"], workload.FIELDS, workload.PRODUCT_MARK)
        targets.check(target)
        load = wrk.run(target, 4, 1)
        assert load.requests > 0
        assert load.failed == 0
        # gunicorn runs below the launcher; its workers are still found and read.
        workers = product.workers()
        assert len(workers) >= 1
        assert all(procs.status_kb(pid, "VmHWM") > 0 for pid in workers)
    assert str(work.root) not in Path("/proc/mounts").read_text()
