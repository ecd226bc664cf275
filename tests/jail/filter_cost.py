"""What a system call costs under each seccomp filter: none, the deny list, the jail's allow list.

Run by hand (as root or not; loading a filter needs only no_new_privs):

    .venv/bin/python -m tests.jail.filter_cost [--rounds N]

Each filter is loaded in a forked child of its own (a filter cannot be
taken off), which times a loop of `os.getppid()`, a call with no work in
the kernel, and reports the best of several rounds: the best, because on a
shared machine noise only ever adds. The figure includes Python's own call
overhead, the same under every filter, so the differences are the filters'.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import time

from sysside.seccomp import deny_list_filter, jail_filter

CALLS = 200_000
TRIES = 7
PR_SET_NO_NEW_PRIVS = 38
KINDS = ("none", "deny list", "allow list")


def _time_calls() -> float:
    call = os.getppid
    best = float("inf")
    for _ in range(TRIES):
        start = time.perf_counter_ns()
        for _ in range(CALLS):
            call()
        best = min(best, (time.perf_counter_ns() - start) / CALLS)
    return best


def nanoseconds_per_call(kind: str) -> float:
    """Time a call in a child under the filter `kind`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            if kind != "none":
                ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
                (deny_list_filter() if kind == "deny list" else jail_filter()).load()
            os.write(write_end, f"{_time_calls():.1f}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        text = answer.read()
    os.waitpid(pid, 0)
    return float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the three filters, interleaved")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(args.rounds):
        for kind in KINDS:
            figures[kind].append(nanoseconds_per_call(kind))
    bpf = {"deny list": len(deny_list_filter().export_bpf()) // 8, "allow list": len(jail_filter().export_bpf()) // 8}
    base = statistics.median(figures["none"])
    print(f"{'filter':<11} {'BPF insns':>9} {'ns/call (median of best)':>25} {'over none':>10}")
    for kind in KINDS:
        median = statistics.median(figures[kind])
        print(f"{kind:<11} {bpf.get(kind, 0):>9} {median:>25.1f} {median - base:>+10.1f}")


if __name__ == "__main__":
    main()
