"""Create the demo's Financial Information System database.

Rules:
- The content is deterministic: literal rows, or rows drawn from a
  `random.Random` with a fixed seed, so every demo shows the same numbers.
- Money is in integer cents, never floats, so reports add up exactly.
- The file appears complete or not at all: it is built under a temporary
  name and linked into place, so an interrupted run never leaves a
  half-built database that a later run would then keep.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import sqlite3
from pathlib import Path

CATEGORIES = ("salaries", "supplies", "travel", "equipment")
# Fixed years, so that examples and tests can name them, reaching up to the
# year the database is made in, so that a form's default (this year) finds data.
_THIS_YEAR = datetime.date.today().year
BUDGET_YEARS = range(2022, max(2026, _THIS_YEAR + 1))
LEDGER_YEARS = range(2023, max(2026, _THIS_YEAR + 1))
LEDGER_ROWS = 360
SEED = 1999

# The web side's database user; every account but UNGRANTED_ACCOUNT is
# granted to it, so `authorize` has both an allow and a deny case.
WEB_USER = "web"
UNGRANTED_ACCOUNT = "99999999"

INSTANCES = (("DB01", 1), ("DB02", 0))

ACCOUNTS = (
    ("10000001", "Operating fund", "Physics"),
    ("10000002", "NSERC discovery grant", "Physics"),
    ("10000003", "Operating fund", "Chemistry"),
    ("10000004", "Teaching laboratories", "Chemistry"),
    ("10000005", "Operating fund", "Biology"),
    ("10000006", "Field station", "Biology"),
    ("10000007", "Operating fund", "Computer Science"),
    ("10000008", "Research computing cluster", "Computer Science"),
    ("10000009", "Operating fund", "Library"),
    ("10000010", "Acquisitions", "Library"),
    ("10000011", "Operating fund", "Student Services"),
    (UNGRANTED_ACCOUNT, "Discretionary fund", "Office of the President"),
)

DESCRIPTIONS = {
    "salaries": ("Payroll", "Teaching assistants", "Sessional lecturer", "Overtime"),
    "supplies": ("Office supplies", "Laboratory supplies", "Printing", "Postage"),
    "travel": ("Conference travel", "Field trip", "Visiting speaker", "Mileage"),
    "equipment": ("Workstation", "Microscope", "Network switch", "Furniture"),
}

# Typical yearly budget per category, in cents; each line varies around it.
TYPICAL_BUDGET = {
    "salaries": 40_000_000,
    "supplies": 1_500_000,
    "travel": 800_000,
    "equipment": 3_000_000,
}

SCHEMA = """
CREATE TABLE instances (
    name TEXT PRIMARY KEY,
    open INTEGER NOT NULL CHECK (open IN (0, 1))
);
CREATE TABLE accounts (
    account TEXT PRIMARY KEY
        CHECK (length(account) = 8 AND account NOT GLOB '*[^0-9]*'),
    name TEXT NOT NULL,
    department TEXT NOT NULL
);
CREATE TABLE grants (
    user TEXT NOT NULL,
    account TEXT NOT NULL REFERENCES accounts (account),
    PRIMARY KEY (user, account)
);
CREATE TABLE budget_lines (
    account TEXT NOT NULL REFERENCES accounts (account),
    year INTEGER NOT NULL,
    category TEXT NOT NULL
        CHECK (category IN ('salaries', 'supplies', 'travel', 'equipment')),
    budget INTEGER NOT NULL,
    actual INTEGER NOT NULL,
    PRIMARY KEY (account, year, category)
);
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts (account),
    date TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    amount INTEGER NOT NULL
);
CREATE INDEX transactions_by_account_date ON transactions (account, date);
"""

BudgetLine = tuple[str, int, str, int, int]
Transaction = tuple[str, str, str, str, int]


def budget_lines(rng: random.Random) -> list[BudgetLine]:
    """Return one (account, year, category, budget, actual) row per combination."""
    rows: list[BudgetLine] = []
    for account, _name, _department in ACCOUNTS:
        for year in BUDGET_YEARS:
            for category in CATEGORIES:
                typical = TYPICAL_BUDGET[category]
                budget = rng.randrange(typical // 2, typical * 3 // 2, 100_00)
                # Actuals land between 70 % and 115 % of budget, so some
                # lines are overspent and the variance column has both signs.
                actual = budget * rng.randrange(70, 116) // 100 + rng.randrange(100)
                rows.append((account, year, category, budget, actual))
    return rows


def transactions(rng: random.Random) -> list[Transaction]:
    """Return the ledger sample, (account, date, category, description, amount), by date."""
    first = datetime.date(LEDGER_YEARS[0], 1, 1)
    days = (datetime.date(LEDGER_YEARS[-1] + 1, 1, 1) - first).days
    rows: list[Transaction] = []
    for _ in range(LEDGER_ROWS):
        account = rng.choice(ACCOUNTS)[0]
        date = first + datetime.timedelta(days=rng.randrange(days))
        category = rng.choice(CATEGORIES)
        description = rng.choice(DESCRIPTIONS[category])
        amount = rng.randrange(5_00, TYPICAL_BUDGET[category] // 20)
        if rng.randrange(20) == 0:
            description += " (refund)"
            amount = -amount
        rows.append((account, date.isoformat(), category, description, amount))
    rows.sort(key=lambda row: (row[1], row[0]))
    return rows


def fill(connection: sqlite3.Connection) -> None:
    """Create the schema and insert the demo rows."""
    rng = random.Random(SEED)  # noqa: S311  (sample data, not a secret)
    connection.executescript(SCHEMA)
    connection.executemany("INSERT INTO instances VALUES (?, ?)", INSTANCES)
    connection.executemany("INSERT INTO accounts VALUES (?, ?, ?)", ACCOUNTS)
    connection.executemany(
        "INSERT INTO grants VALUES (?, ?)",
        [(WEB_USER, account) for account, _, _ in ACCOUNTS if account != UNGRANTED_ACCOUNT]
        + [("president", UNGRANTED_ACCOUNT)],
    )
    connection.executemany("INSERT INTO budget_lines VALUES (?, ?, ?, ?, ?)", budget_lines(rng))
    connection.executemany(
        "INSERT INTO transactions (account, date, category, description, amount) VALUES (?, ?, ?, ?, ?)",
        transactions(rng),
    )
    connection.commit()


def create_database(path: Path) -> None:
    """Build the demo database at `path`.

    Raises FileExistsError if `path` exists: a database is never rebuilt.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(partial)) as connection:
            fill(connection)
        # A link, unlike a rename, never replaces a database that another
        # run put in place meanwhile: an existing database is never touched.
        os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)
