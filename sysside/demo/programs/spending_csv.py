"""spending_csv --category CAT --year YEAR: budget and actuals of every account, as CSV."""

import argparse
import contextlib
import csv
import os
import pathlib
import re
import sqlite3
import sys
from typing import NoReturn

PROG = "spending_csv"
CATEGORIES = ("salaries", "supplies", "travel", "equipment")


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


def decimal(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    return f"{sign}{units}.{rest:02d}"


def main(argv: list[str]) -> int:
    parser = Parser(prog=PROG, description="Spending by category, as CSV.")
    parser.add_argument("--category", required=True, choices=("all", *CATEGORIES), help="one category, or all of them")
    parser.add_argument("--year", required=True, type=year_number, help="the fiscal year")
    args = parser.parse_args(argv)
    category: str = args.category
    year: int = args.year
    with contextlib.closing(connect()) as db:
        rows = db.execute(
            "SELECT a.account, a.name, b.category, b.budget, b.actual"
            " FROM budget_lines AS b JOIN accounts AS a ON a.account = b.account"
            " WHERE b.year = ? AND (? = 'all' OR b.category = ?)",
            (year, category, category),
        ).fetchall()
    rank = {name: index for index, name in enumerate(CATEGORIES)}
    rows.sort(key=lambda row: (row[0], rank[row[2]]))
    writer = csv.writer(sys.stdout)
    writer.writerow(("account", "name", "category", "budget", "actual"))
    for account, name, row_category, budget, actual in rows:
        writer.writerow((account, name, row_category, decimal(budget), decimal(actual)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except sqlite3.Error as error:
        fail(f"database error: {error}")
