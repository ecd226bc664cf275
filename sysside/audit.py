"""The daemon's log and audit records: one JSON object per line.

Rules:
1. Written only from the main loop, never from a signal handler.
2. A job's audit record holds field names and lengths; a value only when
   the map marks the field loggable, never when it marks it secret.
"""

import json
import sys
import time
from typing import IO, Any


class Log:
    """JSON lines to stderr, and audit records to their own file if asked."""

    def __init__(self, stream: IO[str] | None = None, audit: IO[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._audit = audit

    def event(self, event: str, **details: Any) -> None:
        self._write(self._stream, {"ts": round(time.time(), 3), "event": event, **details})

    def audit(self, record: dict[str, Any]) -> None:
        line = {"ts": round(time.time(), 3), "event": "job", **record}
        self._write(self._audit or self._stream, line)

    @staticmethod
    def _write(stream: IO[str], line: dict[str, Any]) -> None:
        try:
            stream.write(json.dumps(line, ensure_ascii=True, default=str) + "\n")
            stream.flush()
        except (OSError, ValueError):
            # A log that cannot be written must not stop the jobs; the
            # launcher's pipe or file is the place to notice it.
            pass
