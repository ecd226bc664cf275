"""CSV rows from a stream of text, as soon as each row is complete.

Rules:
1. Only whole records reach the csv module. A record ends at a newline
   outside quotes; in RFC 4180 CSV a newline is outside quotes exactly when
   the double quotes before it (since the record began) are even in number,
   because an escaped quote is written twice.
2. The carry-over (the record still being received) is at most
   MAX_RECORD characters; a longer one is an error, never buffered.
"""

from __future__ import annotations

import csv
import io

MAX_RECORD = 1024 * 1024


class CSVTooLong(ValueError):
    """One CSV record is longer than MAX_RECORD."""


class RowSplitter:
    """Feed text pieces in, get the rows completed so far out."""

    def __init__(self, max_record: int = MAX_RECORD) -> None:
        self._max_record = max_record
        self._carry = ""
        # How far _carry has been scanned, and whether that point is inside quotes.
        self._scanned = 0
        self._quoted = False

    def feed(self, text: str) -> list[list[str]]:
        """Add text; return the rows it completed (maybe none)."""
        self._carry += text
        end = self._last_record_end()
        rows: list[list[str]] = []
        if end:
            complete, self._carry = self._carry[:end], self._carry[end:]
            self._scanned -= end
            rows = _parse(complete)
        if len(self._carry) > self._max_record:
            raise CSVTooLong(f"a CSV record is longer than {self._max_record} characters")
        return rows

    def close(self) -> list[list[str]]:
        """The last rows, from a final record without its newline."""
        rest, self._carry = self._carry, ""
        self._scanned = 0
        self._quoted = False
        return _parse(rest) if rest else []

    def _last_record_end(self) -> int:
        """The index just past the last newline outside quotes in _carry, or 0."""
        end = 0
        carry = self._carry
        quoted = self._quoted
        # Scan only the new text: from where the last call stopped.
        quote = carry.find('"', self._scanned)
        newline = carry.find("\n", self._scanned)
        while quote >= 0 or newline >= 0:
            if quote >= 0 and (newline < 0 or quote < newline):
                quoted = not quoted
                quote = carry.find('"', quote + 1)
            else:
                if not quoted:
                    end = newline + 1
                newline = carry.find("\n", newline + 1)
        self._scanned = len(carry)
        self._quoted = quoted
        return end


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))
