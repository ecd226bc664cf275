"""`hole bench`: every row, measured in one run, as one flat mapping of figures.

Rules:
1. Each figure is named `<row>.<what>` with its unit in the name (`_ms`,
   `_mb`, `_rps`); the table and the JSON are both made from this mapping,
   so they never disagree.
2. A request rate counts only answers that held the job's output; busy
   pages, error pages and failures are counted beside it (`*_failed_*`),
   never in it.
3. Loads that compare run back to back at each concurrency (baseline,
   product, peer), so noise on a shared machine falls on all of them.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sysside.bench import holecost, overload, procs, servers, stream, targets, workload, wrk
from sysside.bench.stats import percentile
from webside import gunicorn_conf

CONCURRENCIES = (1, 2, 4, 8, 16, 32)
# The sweep must measure cost, not the daemon's refusals: a job slot for
# every thread the web side has.
SWEEP_MAX_JOBS = gunicorn_conf.workers * gunicorn_conf.threads
OVERLOAD_MAX_JOBS = 4
OVERLOAD_FACTOR = 4
# A request may take the job's timeout and this much more before it is hung.
DEADLINE_MARGIN = 5.0
MB = 1024.0

Note = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """How long and how much each row measures."""

    seconds: int = 10
    concurrencies: tuple[int, ...] = CONCURRENCIES
    hole_samples: int = 2000
    hole_rss_jobs: int = 10000
    sizes: tuple[str, ...] = tuple(workload.SIZES)
    jailed: bool = False
    # The daemons' --wake-latency (µs, or "off"); the bench holds the same
    # request for every row (sysside/wakelatency.py).
    wake_latency: str = "0"

    @classmethod
    def quick(cls, seconds: int = 2) -> "Plan":
        return cls(seconds=seconds, hole_samples=300, hole_rss_jobs=1000)


def run(plan: Plan, note: Note) -> dict[str, float]:
    """Measure every row; return the figures."""
    figures: dict[str, float] = {}
    note(f"rows 1-2: {plan.hole_samples} jobs each way, then the daemon's memory over {plan.hole_rss_jobs} jobs")
    figures.update(
        holecost.measure(
            samples=plan.hole_samples, rss_jobs=plan.hole_rss_jobs, wake_latency=plan.wake_latency
        ).figures()
    )
    with workload.temporary() as work:
        with servers.running(
            work, max_jobs=SWEEP_MAX_JOBS, jailed=plan.jailed, echo=note, wake_latency=plan.wake_latency
        ) as running:
            figures.update(_http(plan, running, note))
        figures.update(_overload(plan, work, note))
    return figures


def _http(plan: Plan, running: servers.Servers, note: Note) -> dict[str, float]:
    figures: dict[str, float] = {"http.product_max_jobs": float(running.product.max_jobs)}
    fields = workload.FIELDS
    loaded = {
        "naive": targets.plain("naive", running.naive.port, "/bench3", fields, workload.OUTPUT.decode()),
        "product": targets.product(
            running.product.port, workload.REPORTS["bench3"], fields, workload.PRODUCT_MARK, workload.BUSY_MARK
        ),
    }
    if running.peer is not None:
        loaded["webhook"] = targets.plain("webhook", running.peer.port, "/hooks/bench3", fields, "gamma\n")
    for target in loaded.values():
        targets.check(target)
        wrk.run(target, 4, 1)  # warm-up: templates, imports, caches

    note(f"row 6 (sizes): {', '.join(plan.sizes)} at one client, {plan.seconds} s each")
    figures.update(_stream(plan, running))

    for connections in plan.concurrencies:
        clients = "1 client" if connections == 1 else f"{connections} clients"
        note(f"rows 3, 4 and the peer: {clients}, {plan.seconds} s each")
        for name, target in loaded.items():
            load = wrk.run(target, connections, plan.seconds)
            prefix = "webhook." if name == "webhook" else f"http.{name}_"
            figures[f"{prefix}rps_c{connections}"] = (load.requests - load.failed) / load.seconds
            figures[f"{prefix}p50_c{connections}_ms"] = load.p50_ms
            figures[f"{prefix}p99_c{connections}_ms"] = load.p99_ms
            figures[f"{prefix}failed_c{connections}"] = float(load.failed)
            figures.update(_failures(prefix, connections, load))
        naive_rps = figures[f"http.naive_rps_c{connections}"]
        product_rps = figures[f"http.product_rps_c{connections}"]
        figures[f"http.product_rps_ratio_c{connections}"] = _ratio(product_rps, naive_rps)
        figures[f"http.product_p50_over_naive_c{connections}_ms"] = (
            figures[f"http.product_p50_c{connections}_ms"] - figures[f"http.naive_p50_c{connections}_ms"]
        )
        if "webhook" in loaded:
            figures[f"webhook.product_rps_ratio_c{connections}"] = _ratio(
                product_rps, figures[f"webhook.rps_c{connections}"]
            )
            figures[f"webhook.product_p99_ratio_c{connections}"] = _ratio(
                figures[f"http.product_p99_c{connections}_ms"], figures[f"webhook.p99_c{connections}_ms"]
            )
    figures["http.product_zombies"] = float(len(_zombies(running.product)))
    return figures


def _failures(prefix: str, connections: int, load: wrk.Load) -> dict[str, float]:
    """What the failed answers of a load were: busy pages, other statuses by code, no answer, a wrong body."""
    found = {f"{prefix}busy_c{connections}": float(load.busy)}
    for code, count in load.statuses.items():
        found[f"{prefix}status{code}_c{connections}"] = float(count)
    if load.errors:
        found[f"{prefix}errors_c{connections}"] = float(load.errors)
    if load.wrong:
        found[f"{prefix}wrong_c{connections}"] = float(load.wrong)
    return found


def _stream(plan: Plan, running: servers.Servers) -> dict[str, float]:
    product_big = targets.product(running.product.port, workload.REPORTS["big"], {"size": "1k"}, "")
    naive_big = targets.plain("naive", running.naive.port, "/big", {"size": "1k"}, workload.LINE.decode())
    # The last line of every file, then the end of the page's <pre>: the
    # whole output arrived and the page was finished.
    product_expect = workload.LINE.decode()[-6:] + "</pre>"
    sizes = dict.fromkeys(plan.sizes, product_expect)
    measured = stream.measure(
        product_big, naive_big, sizes, running.product.workers, running.naive.workers, plan.seconds
    )
    figures: dict[str, float] = {}
    failed = 0
    for sized in measured.sized:
        figures[f"stream.product_p50_{sized.size}_ms"] = sized.product.p50_ms
        figures[f"stream.naive_p50_{sized.size}_ms"] = sized.naive.p50_ms
        figures[f"stream.product_p50_ratio_{sized.size}"] = _ratio(sized.product.p50_ms, sized.naive.p50_ms)
        failed += sized.product.failed + sized.naive.failed
    figures["stream.failed"] = float(failed)
    figures["stream.worker_peak_rss_mb"] = measured.product_hwm_after_kb / MB
    figures["stream.worker_rss_growth_mb"] = measured.product_growth_kb / MB
    figures["stream.naive_worker_peak_rss_mb"] = measured.naive_hwm_after_kb / MB
    figures["stream.naive_worker_rss_growth_mb"] = measured.naive_growth_kb / MB
    return figures


def _overload(plan: Plan, work: workload.Workload, note: Note) -> dict[str, float]:
    with servers.product(work, "state", OVERLOAD_MAX_JOBS, plan.jailed, note, plan.wake_latency) as product:
        clients = OVERLOAD_FACTOR * product.max_jobs
        deadline = workload.SLOW_TIMEOUT + DEADLINE_MARGIN
        target = targets.product(
            product.port, workload.REPORTS["slow"], {"first": "alpha"}, "alpha\n</pre>", workload.BUSY_MARK
        )
        targets.check(target)
        # Warm-up at the job limit: no busy answers yet, every path loaded.
        overload.offer(target, workload.BUSY_MARK, product.max_jobs, 1.0, deadline)
        rss_start = procs.status_kb(product.daemon_pid, "VmRSS")
        note(f"row 5: {clients} clients against {product.max_jobs} job slots for {plan.seconds} s")
        tally = overload.offer(target, workload.BUSY_MARK, clients, plan.seconds, deadline)
        rss_end = procs.status_kb(product.daemon_pid, "VmRSS")
        zombies = _zombies(product)
    return {
        "overload.max_jobs": float(product.max_jobs),
        "overload.clients": float(clients),
        "overload.seconds": float(plan.seconds),
        "overload.deadline_s": deadline,
        "overload.requests": float(tally.requests),
        "overload.ok": float(tally.ok),
        "overload.busy": float(tally.busy),
        "overload.other": float(sum(tally.other.values())),
        "overload.lost": float(tally.lost),
        "overload.hung": float(tally.hung),
        "overload.ok_p50_ms": percentile(tally.ok_ms, 0.5),
        "overload.ok_p99_ms": percentile(tally.ok_ms, 0.99),
        "overload.busy_p50_ms": percentile(tally.busy_ms, 0.5),
        "overload.busy_p99_ms": percentile(tally.busy_ms, 0.99),
        "overload.daemon_rss_start_mb": rss_start / MB,
        "overload.daemon_rss_end_mb": rss_end / MB,
        "overload.daemon_rss_growth_mb": (rss_end - rss_start) / MB,
        "overload.zombies": float(len(zombies)),
    }


def _zombies(product: servers.Product, settle: float = 2.0) -> list[int]:
    """Unreaped processes under the daemon and gunicorn, after up to `settle` s for the last exits."""
    roots = {product.daemon_pid, product.web_pid}
    deadline = time.monotonic() + settle
    while (found := procs.zombies(roots)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else math.nan
