"""The meta record: sent once a job is accepted, before any output.

It tells the web side what the output will be, so the page can choose how
to show it (escaped text, a table, a download) before the first byte of the
body arrives. The job map is the source of these values; the web side never
sees the map itself.

    {"type": "text/csv", "filename": "spending-all-2024.csv", "title": "Spending"}
"""

import functools
import re
from dataclasses import dataclass
from typing import Any

from hole.errors import ProtocolError, shorten
from hole.jsonrecord import dump_object, load_object

# type "/" subtype, both restricted tokens (RFC 6838), no parameters.
MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
# A download name the browser can save as-is: no path, no quoting trouble.
FILENAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_TITLE = 200


@dataclass(frozen=True, slots=True)
class Meta:
    """What an accepted job's output is: media type, download name, title."""

    type: str
    filename: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        if not MEDIA_TYPE_RE.fullmatch(self.type):
            raise ProtocolError(f"invalid media type: {shorten(self.type)}")
        if self.filename and not FILENAME_RE.fullmatch(self.filename):
            raise ProtocolError(f"invalid download name: {shorten(self.filename)}")
        if len(self.title) > MAX_TITLE or any(ord(c) < 0x20 for c in self.title):
            raise ProtocolError(f"invalid title: {shorten(self.title)}")

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"type": self.type, "filename": self.filename, "title": self.title}
        return dump_object(body, "meta record")

    @classmethod
    def from_json(cls, raw_record: bytes) -> "Meta":
        body = load_object(raw_record, "meta record")
        unknown = set(body) - {"type", "filename", "title"}
        if unknown:
            raise ProtocolError(f"unknown meta key {shorten(sorted(unknown)[0])}")
        values = {key: body.get(key, "") for key in ("type", "filename", "title")}
        if not all(isinstance(v, str) for v in values.values()):
            raise ProtocolError(f"meta values must be strings: {shorten(raw_record)}")
        return cls(**values)


@functools.lru_cache(maxsize=128)
def parse_meta(raw_record: bytes) -> Meta:
    """Meta.from_json, remembered: a report sends the same meta record on every run, and a Meta cannot change.

    A record that fails raises each time (lru_cache keeps only results).
    """
    return Meta.from_json(raw_record)
