"""check_open INSTANCE: succeed, silently, if the database instance is open."""

import contextlib
import os
import pathlib
import sqlite3
import sys
from typing import NoReturn

PROG = "check_open"


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


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        fail("usage: check_open INSTANCE", 2)
    name = argv[0]
    with contextlib.closing(connect()) as db:
        row = db.execute("SELECT open FROM instances WHERE name = ?", (name,)).fetchone()
    if row is None:
        fail(f"no database instance {name!r}")
    if row[0] != 1:
        fail(f"database instance {name} is closed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except sqlite3.Error as error:
        fail(f"database error: {error}")
