"""The figures of one `hole bench` run as tables (text or Markdown), targets, and JSON.

Rules:
1. Everything shown is read from the figures mapping (suite.py rule 1);
   nothing is measured or computed here but ratios for display.
2. A target whose figure is missing (a row not run) shows "n/a", never PASS.
"""

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sysside.bench.stats import markdown_table, table

Figures = Mapping[str, float]
Rows = list[list[str]]


def jail_note(jailed: bool, as_root: bool) -> str:
    """Which product was measured, in one line."""
    if jailed:
        return "jailed: yes (the web side served from the jail)"
    if as_root:
        return "jailed: no (--unjailed)"
    return "jailed: no (run as root with the jail to measure jailed)"


@dataclass(frozen=True)
class Goal:
    """A target from the issue: what it asks, the figure it reads, and the test."""

    label: str
    key: str
    met: Callable[[float], bool]
    unit: str = ""


GOALS = (
    Goal("hole overhead p50 < 0.5 ms (over posix_spawn)", "hole.overhead_p50_ms", lambda v: v < 0.5, " ms"),
    Goal("hole overhead p99 < 2 ms (over posix_spawn)", "hole.overhead_p99_ms", lambda v: v < 2.0, " ms"),
    Goal("product req/s at 16 clients >= naive", "http.product_rps_ratio_c16", lambda v: v >= 1.0, " x naive"),
    Goal(
        "product p50 at 1 client within 0.5 ms of naive",
        "http.product_p50_over_naive_c1_ms",
        lambda v: v <= 0.5,
        " ms over",
    ),
    Goal("HTTP rows: no error answer (busy pages aside)", "http.errors", lambda v: v == 0),
    Goal("HTTP rows: no busy answer, up to 32 clients", "http.busy", lambda v: v == 0),
    Goal("overload: no request lost", "overload.lost", lambda v: v == 0),
    Goal("overload: no request hung past its deadline", "overload.hung", lambda v: v == 0),
    Goal("overload: busy answer p99 < 50 ms", "overload.busy_p99_ms", lambda v: v < 50.0, " ms"),
    Goal("overload: no zombie left", "overload.zombies", lambda v: v == 0),
    Goal("overload: daemon RSS growth < 1 MB", "overload.daemon_rss_growth_mb", lambda v: v < 1.0, " MB"),
    Goal("stream: web worker peak RSS growth < 20 MB", "stream.worker_rss_growth_mb", lambda v: v < 20.0, " MB"),
    Goal("peer: product req/s at 16 clients > webhook", "webhook.product_rps_ratio_c16", lambda v: v > 1.0, " x"),
    Goal("peer: product p99 at 16 clients < webhook", "webhook.product_p99_ratio_c16", lambda v: v < 1.0, " x"),
)


def with_totals(figures: Figures) -> dict[str, float]:
    """The figures and the sums the goals read: failed, busy and error answers over all HTTP loads."""
    total = dict(figures)
    total["http.failed"] = sum(v for k, v in figures.items() if "_failed_c" in k or k.startswith("webhook.failed_c"))
    total["http.busy"] = sum(v for k, v in figures.items() if "busy_c" in k and k.startswith(("http.", "webhook.")))
    total["http.errors"] = total["http.failed"] - total["http.busy"]
    return total


def verdicts(figures: Figures) -> list[tuple[Goal, str, str]]:
    """Each goal with the figure as shown and PASS, MISS or n/a."""
    found = []
    for goal in GOALS:
        value = figures.get(goal.key)
        if value is None or math.isnan(value):
            found.append((goal, "n/a", "n/a"))
            continue
        shown = f"{value:.0f}" if value.is_integer() else f"{value:.3g}"
        found.append((goal, shown + goal.unit, "PASS" if goal.met(value) else "MISS"))
    return found


def sections(figures: Figures) -> list[tuple[str, Rows, str]]:
    """(title, table rows, note under it) for each row group that was measured."""
    found: list[tuple[str, Rows, str]] = []
    if "hole.hole_p50_ms" in figures:
        found.append(_hole(figures))
    concurrencies = sorted({int(k.rsplit("_c", 1)[1]) for k in figures if k.startswith("http.naive_rps_c")})
    if concurrencies:
        found.append(_http(figures, concurrencies))
    if "overload.requests" in figures:
        found.append(_overload(figures))
    if "stream.worker_rss_growth_mb" in figures:
        found.append(_stream(figures))
    goals = [[goal.label, shown, verdict] for goal, shown, verdict in verdicts(figures)]
    found.append(("Targets", [["target", "measured", "verdict"], *goals], ""))
    return found


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _x(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _hole(f: Figures) -> tuple[str, Rows, str]:
    base50, base99 = f["hole.direct_p50_ms"], f["hole.direct_p99_ms"]
    rows = [["three-step job, per job", "p50 ms", "p99 ms", "p50 x baseline", "p99 x baseline"]]
    for name, key in (
        ("1. direct, subprocess.run (baseline)", "direct"),
        ("   direct, posix_spawn", "spawn"),
        ("   direct, the daemon's spawner", "daemon_spawner"),
        ("2. through the hole (hole submit)", "hole"),
    ):
        p50, p99 = f[f"hole.{key}_p50_ms"], f[f"hole.{key}_p99_ms"]
        rows.append([name, _ms(p50), _ms(p99), _x(p50 / base50), _x(p99 / base99)])
    note = (
        f"The hole's overhead over posix_spawn: p50 {f['hole.overhead_p50_ms']:+.3f} ms,"
        f" p99 {f['hole.overhead_p99_ms']:+.3f} ms; over subprocess.run: p50"
        f" {f['hole.overhead_vs_subprocess_p50_ms']:+.3f} ms; over the daemon's own spawner, run directly: p50"
        f" {f['hole.overhead_vs_daemon_spawner_p50_ms']:+.3f} ms. Daemon RSS {f['hole.daemon_rss_start_mb']:.1f} MB"
        f" after warm-up, {f['hole.daemon_rss_growth_mb']:+.2f} MB after {f['hole.rss_jobs']:.0f} jobs."
    )
    if "hole.daemon_cpu_ms" in f:
        note += (
            f" CPU per job through the hole: daemon {f['hole.daemon_cpu_ms']:.3f} ms, client"
            f" {f['hole.client_cpu_ms']:.3f} ms; posix_spawn's own loop {f['hole.spawn_self_cpu_ms']:.3f} ms"
            " (the steps' CPU is not counted)."
        )
    return ("The hole alone (rows 1 and 2)", rows, note)


def _http(f: Figures, concurrencies: Sequence[int]) -> tuple[str, Rows, str]:
    rows = [["server", "clients", "req/s", "p50 ms", "p99 ms", "req/s x naive", "p50 x naive", "p99 x naive", "failed"]]
    servers = [("naive Flask + subprocess.run (3)", "http.naive_"), ("product, report form (4)", "http.product_")]
    if any(k.startswith("webhook.rps_c") for k in f):
        servers.append(("webhook (peer)", "webhook."))
    for c in concurrencies:
        base_rps, base50, base99 = f[f"http.naive_rps_c{c}"], f[f"http.naive_p50_c{c}_ms"], f[f"http.naive_p99_c{c}_ms"]
        for name, prefix in servers:
            rps, p50, p99 = f[f"{prefix}rps_c{c}"], f[f"{prefix}p50_c{c}_ms"], f[f"{prefix}p99_c{c}_ms"]
            failed = _failed(f, prefix, c)
            ratios = [_x(rps / base_rps), _x(p50 / base50), _x(p99 / base99)]
            rows.append([name, str(c), f"{rps:.0f}", _ms(p50), _ms(p99), *ratios, failed])
    note = (
        "Each load is wrk for the same time, POSTing the same three fields; req/s counts only answers that held"
        " the job's output. The product's daemon had"
        f" {f.get('http.product_max_jobs', math.nan):.0f} job slots."
    )
    return ("HTTP: rows 3 and 4, the peer, and cost growth with clients (row 6)", rows, note)


def _failed(f: Figures, prefix: str, c: int) -> str:
    """The count of failed answers, and what they were when there were any: "12 (10 busy, 500: 2)"."""
    total = f[f"{prefix}failed_c{c}"]
    if not total:
        return "0"
    parts: list[str] = []
    suffix = f"_c{c}"
    for key, value in sorted(f.items()):
        if not key.startswith(prefix) or not key.endswith(suffix) or not value:
            continue
        what = key.removeprefix(prefix).removesuffix(suffix)
        if what == "busy":
            parts.insert(0, f"{value:.0f} busy")
        elif what.startswith("status"):
            parts.append(f"{what.removeprefix('status')}: {value:.0f}")
        elif what in ("errors", "wrong"):
            parts.append(f"{value:.0f} {'no answer' if what == 'errors' else 'wrong body'}")
    return f"{total:.0f} ({', '.join(parts)})"


def _overload(f: Figures) -> tuple[str, Rows, str]:
    other = f["overload.other"]
    rows = [
        ["overload", "value"],
        ["clients / job slots", f"{f['overload.clients']:.0f} / {f['overload.max_jobs']:.0f}"],
        ["requests answered in time", f"{f['overload.ok'] + f['overload.busy'] + other:.0f}"],
        ["  with the result / busy page / other", f"{f['overload.ok']:.0f} / {f['overload.busy']:.0f} / {other:.0f}"],
        ["lost / hung", f"{f['overload.lost']:.0f} / {f['overload.hung']:.0f}"],
        ["busy answer p50 / p99 ms", f"{_ms(f['overload.busy_p50_ms'])} / {_ms(f['overload.busy_p99_ms'])}"],
        ["result p50 / p99 ms", f"{_ms(f['overload.ok_p50_ms'])} / {_ms(f['overload.ok_p99_ms'])}"],
        [
            "daemon RSS before / after",
            f"{f['overload.daemon_rss_start_mb']:.1f} / {f['overload.daemon_rss_end_mb']:.1f} MB",
        ],
        ["zombies left", f"{f['overload.zombies']:.0f}"],
    ]
    note = (
        f"{f['overload.seconds']:.0f} s of back-to-back POSTs of a job that sleeps 50 ms; each request's deadline"
        f" is the job's timeout plus a margin ({f['overload.deadline_s']:.0f} s)."
    )
    return ("Overload (row 5)", rows, note)


def _stream(f: Figures) -> tuple[str, Rows, str]:
    prefix, suffix = "stream.product_p50_", "_ms"
    sizes = [k.removeprefix(prefix).removesuffix(suffix) for k in f if k.startswith(prefix) and k.endswith(suffix)]
    rows = [["output size", "naive p50 ms", "product p50 ms", "x naive"]]
    for size in sizes:
        rows.append(
            [
                size.upper().replace("K", " KB").replace("M", " MB"),
                _ms(f[f"stream.naive_p50_{size}_ms"]),
                _ms(f[f"stream.product_p50_{size}_ms"]),
                _x(f[f"stream.product_p50_ratio_{size}"]),
            ]
        )
    note = (
        f"Web worker peak RSS (VmHWM): product {f['stream.worker_peak_rss_mb']:.1f} MB,"
        f" {f['stream.worker_rss_growth_mb']:+.1f} MB over the row;"
        f" naive {f['stream.naive_worker_peak_rss_mb']:.1f} MB,"
        f" {f['stream.naive_worker_rss_growth_mb']:+.1f} MB (it holds the output whole). One client, wrk;"
        f" failed answers: {f['stream.failed']:.0f}."
    )
    return ("Output size (row 6): the result streams", rows, note)


def text(figures: Figures, header: Sequence[str]) -> str:
    """The report for a terminal."""
    parts = list(header)
    for title, rows, note in sections(with_totals(figures)):
        parts += ["", title, table(rows)]
        if note:
            parts.append(note)
    return "\n".join(parts) + "\n"


def markdown(figures: Figures, header: Sequence[str]) -> str:
    """The report as Markdown, for docs/benchmarks.md."""
    parts = [line + "  " for line in header]
    for title, rows, note in sections(with_totals(figures)):
        parts += ["", f"### {title}", "", markdown_table(rows)]
        if note:
            parts += ["", note]
    return "\n".join(parts) + "\n"


def as_json(figures: Figures, jailed: bool, about: Mapping[str, object]) -> str:
    """The figures, `jailed` and `about` (the run and the machine) as JSON.

    A figure that could not be measured (a percentile of no samples) is null.
    """
    document: dict[str, object] = {"jailed": jailed, **about}
    for key, value in sorted(with_totals(figures).items()):
        document[key] = None if math.isnan(value) else round(value, 4)
    return json.dumps(document, indent=2) + "\n"


BEGIN = "<!-- hole bench: begin -->"
END = "<!-- hole bench: end -->"


def splice(document: str, generated: str) -> str:
    """`document` with the text between its BEGIN and END markers replaced by `generated`.

    A document without both markers is replaced whole, the markers added,
    so that the prose around the tables survives the next run.
    """
    block = f"{BEGIN}\n{generated}{END}\n"
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        return "# Benchmarks\n\n" + block
    return document[:start] + block + document[end + len(END) :].removeprefix("\n")
