"""ledger_csv --account ACCOUNT --start DATE --end DATE: one account's transactions, as CSV."""

import argparse
import contextlib
import csv
import datetime
import os
import pathlib
import re
import sqlite3
import sys
from typing import NoReturn

PROG = "ledger_csv"


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


def account_number(raw_account: str) -> str:
    if not re.fullmatch(r"[0-9]{8}", raw_account, re.ASCII):
        raise argparse.ArgumentTypeError(f"not an 8-digit account: {raw_account[:20]!r}")
    return raw_account


def iso_date(raw_date: str) -> datetime.date:
    # fromisoformat alone also takes forms such as 20240131; the ledger
    # stores YYYY-MM-DD, so accept exactly that.
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw_date, re.ASCII):
        with contextlib.suppress(ValueError):
            return datetime.date.fromisoformat(raw_date)
    raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {raw_date[:20]!r}")


def decimal(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    return f"{sign}{units}.{rest:02d}"


def main(argv: list[str]) -> int:
    parser = Parser(prog=PROG, description="The transactions of one account, as CSV.")
    parser.add_argument("--account", required=True, type=account_number, help="the account")
    parser.add_argument("--start", required=True, type=iso_date, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", required=True, type=iso_date, help="last day, YYYY-MM-DD")
    args = parser.parse_args(argv)
    account: str = args.account
    start: datetime.date = args.start
    end: datetime.date = args.end
    if end < start:
        fail("the end date is before the start date", 2)
    with contextlib.closing(connect()) as db:
        if db.execute("SELECT 1 FROM accounts WHERE account = ?", (account,)).fetchone() is None:
            fail(f"no account {account}")
        rows = db.execute(
            "SELECT date, account, category, description, amount FROM transactions"
            " WHERE account = ? AND date BETWEEN ? AND ? ORDER BY date, id",
            (account, start.isoformat(), end.isoformat()),
        ).fetchall()
    writer = csv.writer(sys.stdout)
    writer.writerow(("date", "account", "category", "description", "amount"))
    for date, row_account, category, description, amount in rows:
        writer.writerow((date, row_account, category, description, decimal(amount)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except sqlite3.Error as error:
        fail(f"database error: {error}")
