"""budget_12 --account ACCOUNT, year on stdin: the budget report for one account and year.

THIS PROGRAM IS FRAGILE ON PURPOSE. It stands for the legacy report
program without source that the hole exists to protect: it trusts its
input. An account longer than its 16-character buffer "crashes" it (a fake
segmentation fault, garbage on stdout, exit 139), and its SQL is built by
string formatting, so a quote in the account or anything but digits in
the year rewrites the query (`' OR '1'='1` reports every account). Do not
fix it: the tests show that the job map's checks keep such input away.

Before misbehaving it appends one JSON line to the tripwire log named by
FIS_TRIPWIRE (if set) for any account that is not exactly 8 digits or year
that is not exactly 4 digits. A test that sends hostile input through the
daemon asserts the log stays empty; one that runs this program directly
shows it fills.
"""

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import re
import sqlite3
import sys
from typing import NoReturn

PROG = "budget_12"
ACCOUNT_BUFFER = 16
TRIPWIRE_VALUE_MAX = 200
CATEGORIES = ("salaries", "supplies", "travel", "equipment")
RULE = f"{'-' * 10}  {'-' * 15}  {'-' * 15}  {'-' * 15}"

Row = tuple[str, str, str, str, int, int]


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


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    return f"{sign}{units:,}.{rest:02d}"


def odd_input(account: str, year: str) -> list[str]:
    odd = []
    if not re.fullmatch(r"[0-9]{8}", account, re.ASCII):
        odd.append("account is not 8 digits")
    if not re.fullmatch(r"[0-9]{4}", year, re.ASCII):
        odd.append("year is not 4 digits")
    return odd


def record_tripwire(account: str, year: str, odd: list[str]) -> None:
    path = os.environ.get("FIS_TRIPWIRE")
    if not path:
        return
    record = {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "program": PROG,
        "pid": os.getpid(),
        "odd": odd,
        "account": account[:TRIPWIRE_VALUE_MAX],
        "account_length": len(account),
        "year": year[:TRIPWIRE_VALUE_MAX],
        "year_length": len(year),
    }
    # ensure_ascii keeps the record one line of ASCII whatever the input holds.
    line = json.dumps(record, ensure_ascii=True) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line.encode("ascii"))
        finally:
            os.close(fd)
    except OSError as error:
        # An instrument that fails silently would pass every test that
        # expects it to stay quiet.
        fail(f"cannot write the tripwire log {path}: {error.strerror}")


def crash(account: str) -> NoReturn:
    """Behave as the C original did after copying a long account into char[16]."""
    sys.stdout.write("FINANCIAL INFORMATION SYSTEM - BUDGET REPORT 12\nAccount:    ")
    sys.stdout.flush()
    raw = account.encode("utf-8", "surrogateescape")
    smashed = bytes(byte ^ 0x5A for byte in raw[ACCOUNT_BUFFER : ACCOUNT_BUFFER + 64])
    sys.stdout.buffer.write(raw[:ACCOUNT_BUFFER] + b"\x00\xde\xad\xbe\xef" + smashed + b"\xff\xfe")
    sys.stdout.buffer.flush()
    print("Segmentation fault (core dumped)", file=sys.stderr)
    sys.exit(139)


def fetch(account: str, year: str) -> list[Row]:
    # Injectable on purpose (see the module docstring).
    query = (
        "SELECT a.account, a.name, a.department, b.category, b.budget, b.actual"  # noqa: S608
        " FROM budget_lines AS b JOIN accounts AS a ON a.account = b.account"
        f" WHERE b.account = '{account}' AND b.year = {year}"
    )
    with contextlib.closing(connect()) as db:
        rows: list[Row] = db.execute(query).fetchall()
    rank = {category: index for index, category in enumerate(CATEGORIES)}
    return sorted(rows, key=lambda row: (row[0], rank.get(row[3], len(rank))))


def print_section(rows: list[Row], year: str) -> None:
    account, name, department = rows[0][:3]
    print("FINANCIAL INFORMATION SYSTEM - BUDGET REPORT 12")
    print(f"Account:     {account}  {name}")
    print(f"Department:  {department}")
    print(f"Fiscal year: {year}")
    print()
    print(f"{'Category':<10}  {'Budget':>15}  {'Actual':>15}  {'Variance':>15}")
    print(RULE)
    for _, _, _, category, budget, actual in rows:
        print(f"{category:<10}  {money(budget):>15}  {money(actual):>15}  {money(budget - actual):>15}")
    print(RULE)
    budget = sum(row[4] for row in rows)
    actual = sum(row[5] for row in rows)
    print(f"{'Total':<10}  {money(budget):>15}  {money(actual):>15}  {money(budget - actual):>15}")
    print()
    print("Variance is budget minus actual; a negative variance is overspent.")


def main(argv: list[str]) -> int:
    parser = Parser(prog=PROG, description="Budget report 12; the year is read on stdin.")
    parser.add_argument("--account", required=True, help="the 8-digit account")
    args = parser.parse_args(argv)
    account: str = args.account
    # Keep undecodable bytes so the tripwire records them instead of a traceback.
    sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    year = sys.stdin.readline().rstrip("\n")
    odd = odd_input(account, year)
    if odd:
        record_tripwire(account, year, odd)
    if len(account) > ACCOUNT_BUFFER:
        crash(account)
    try:
        rows = fetch(account, year)
    except sqlite3.Error as error:
        fail(f"SQL error: {error}")
    if not rows:
        fail(f"no budget for account {account} in {year}")
    accounts = sorted({row[0] for row in rows})
    for number, account_number in enumerate(accounts):
        if number:
            print()
            print("=" * len(RULE))
            print()
        print_section([row for row in rows if row[0] == account_number], year)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
