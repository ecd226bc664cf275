"""authorize: read a user and an account on stdin; succeed if the user may see it."""

import contextlib
import os
import pathlib
import sqlite3
import sys
from typing import NoReturn

PROG = "authorize"


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
    if argv:
        fail("usage: authorize < USER-LINE ACCOUNT-LINE", 2)
    user = sys.stdin.readline().rstrip("\n")
    account = sys.stdin.readline().rstrip("\n")
    if not user or not account:
        fail("expected two lines on stdin: the user, then the account", 2)
    with contextlib.closing(connect()) as db:
        row = db.execute("SELECT 1 FROM grants WHERE user = ? AND account = ?", (user, account)).fetchone()
    if row is None:
        fail(f"user {user} may not see account {account}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except sqlite3.Error as error:
        fail(f"database error: {error}")
