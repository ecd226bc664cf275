"""Output size: latency as a result grows, and what it does to a web worker's memory.

The product streams a result (webside/results.py, rule 2): its workers'
peak RSS must not grow with the output. The naive baseline gathers the
output whole, so its workers show what not streaming costs.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sysside.bench import procs, wrk
from sysside.bench.targets import Target


@dataclass(frozen=True)
class Sized:
    """One output size's loads, for the product and for the baseline."""

    size: str
    product: wrk.Load
    naive: wrk.Load


@dataclass(frozen=True)
class Stream:
    sized: list[Sized]
    product_hwm_before_kb: int
    product_hwm_after_kb: int
    product_growth_kb: int
    naive_hwm_after_kb: int
    naive_growth_kb: int


Workers = Callable[[], list[int]]


def measure(
    product: Target,
    naive: Target,
    sizes: dict[str, str],
    product_workers: Workers,
    naive_workers: Workers,
    seconds: int,
) -> Stream:
    """Load each size (field value -> expected text) in turn, one client; read the workers' peaks around it all."""
    product_before = _peaks(product_workers())
    naive_before = _peaks(naive_workers())
    sized = []
    for size, product_expect in sizes.items():
        fields = {"size": size}
        product_load = wrk.run(product.with_fields(fields, product_expect), 1, seconds)
        naive_load = wrk.run(naive.with_fields(fields, naive.expect), 1, seconds)
        sized.append(Sized(size, product_load, naive_load))
    product_after = _peaks(product_workers())
    naive_after = _peaks(naive_workers())
    return Stream(
        sized,
        max(product_before.values(), default=0),
        max(product_after.values(), default=0),
        _growth(product_before, product_after),
        max(naive_after.values(), default=0),
        _growth(naive_before, naive_after),
    )


def _peaks(pids: list[int]) -> dict[int, int]:
    return {pid: procs.status_kb(pid, "VmHWM") for pid in pids}


def _growth(before: dict[int, int], after: dict[int, int]) -> int:
    """The largest rise of one worker's peak RSS; a worker that was replaced counts from zero."""
    return max((peak - before.get(pid, 0) for pid, peak in after.items()), default=0)
