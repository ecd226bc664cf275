"""yearend --year YEAR: the year-end close, one account at a time, slowly.

Slow on purpose: it stands for a long batch report, so the web side has a
job that is still running to show as "working" and to cancel. Each line is
flushed as soon as it is written, so the result streams.
"""

import argparse
import contextlib
import os
import pathlib
import re
import sqlite3
import sys
import time
from typing import NoReturn

PROG = "yearend"
PAUSE_SECONDS = 0.4


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        fail(message, 2)


def fail(reason: str, status: int = 1) -> NoReturn:
    print(f"{PROG}: {reason}", file=sys.stderr)
    sys.exit(status)


def connect() -> sqlite3.Connection:
    raw_path = os.environ.get("FIS_DB", "")
    if not os.path.isabs(raw_path):
        fail("FIS_DB must name the database by absolute path")
    try:
        return sqlite3.connect(f"{pathlib.Path(raw_path).as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        fail(f"cannot open {raw_path}: {error}")


def year_number(raw_year: str) -> int:
    if not re.fullmatch(r"[0-9]{4}", raw_year, re.ASCII):
        raise argparse.ArgumentTypeError(f"not a 4-digit year: {raw_year[:20]!r}")
    return int(raw_year)


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    return f"{sign}{units:,}.{rest:02d}"


def line(account: str, name: str, budget: int, actual: int) -> str:
    return f"{account:<8}  {name[:30]:<30}  {money(budget):>16}  {money(actual):>16}  {money(budget - actual):>16}"


def main(argv: list[str]) -> int:
    parser = Parser(prog=PROG, description="Year-end close of every account.")
    parser.add_argument("--year", required=True, type=year_number, help="the fiscal year")
    args = parser.parse_args(argv)
    year: int = args.year
    with contextlib.closing(connect()) as db:
        rows: list[tuple[str, str, int, int]] = db.execute(
            "SELECT a.account, a.name, SUM(b.budget), SUM(b.actual)"
            " FROM budget_lines AS b JOIN accounts AS a ON a.account = b.account"
            " WHERE b.year = ? GROUP BY a.account ORDER BY a.account",
            (year,),
        ).fetchall()
    if not rows:
        fail(f"no budget lines for {year}")
    print(f"FINANCIAL INFORMATION SYSTEM - YEAR-END CLOSE {year}", flush=True)
    print(f"{'Account':<8}  {'Name':<30}  {'Budget':>16}  {'Actual':>16}  {'Variance':>16}", flush=True)
    for account, name, budget, actual in rows:
        time.sleep(PAUSE_SECONDS)
        print(line(account, name, budget, actual), flush=True)
    print(line("Total", "", sum(row[2] for row in rows), sum(row[3] for row in rows)), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except sqlite3.Error as error:
        fail(f"database error: {error}")
    except BrokenPipeError:
        # The reader went away (the job was cancelled); say so once and
        # keep the interpreter from failing again on the final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        fail("the reader closed the output")
