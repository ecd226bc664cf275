"""The JSON objects inside meta and status records.

Rule: a record is one JSON object (RFC 8259) in UTF-8, with no BOM, each key
at most once, only finite numbers and no lone surrogate escapes. Python's
json module would accept more (UTF-16 or UTF-32 text, a BOM, NaN and
Infinity, a repeated key where the last one wins, "\\ud800"); each of those
is ambiguous or breaks the page that shows the record, so all are refused.
The encoder checks its own output with the decoder, so a side never sends
a record the other side must refuse.

Both checks take a short cut on every record a job sends (a few per job,
on the path a request waits on): a lone surrogate can only come from a
`\\uD800`-`\\uDFFF` escape in the text, so text without one needs no
second look for it; and a repeated key can only come out of the encoder
from a dict with keys that are not strings.
"""

import json
import math
import re
from typing import Any

from hole.errors import ProtocolError, shorten

# An escape that may stand for half a surrogate pair (hex is either case).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def dump_object(body: dict[str, Any], what: str) -> bytes:
    """Encode `body` compactly in ASCII; raise ProtocolError if it is not a legal record."""
    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"{what} cannot be sent as JSON: {exc}") from None
    raw = text.encode("ascii")
    try:
        checked = not _SURROGATE_ESCAPE.search(raw) and _string_keys(body)
    except RecursionError:
        checked = False
    if not checked:
        load_object(raw, what)
    return raw


def load_object(raw_record: bytes, what: str) -> dict[str, Any]:
    """Decode one record's JSON object; `what` names the record in errors."""
    try:
        body = json.loads(
            raw_record.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
        # Lone surrogates only come from escapes; UTF-8 cannot carry them.
        if _SURROGATE_ESCAPE.search(raw_record):
            json.dumps(body, ensure_ascii=False).encode("utf-8")
    except _Refused as exc:
        raise ProtocolError(f"{what} {exc}: {shorten(raw_record)}") from None
    except UnicodeEncodeError:
        raise ProtocolError(f"{what} has a lone surrogate escape: {shorten(raw_record)}") from None
    except (ValueError, RecursionError):
        # RecursionError: a record of 64 KiB can nest arrays deeper than
        # the parser's stack allows.
        raise ProtocolError(f"{what} is not JSON: {shorten(raw_record)}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"{what} is not an object: {shorten(raw_record)}")
    return body


def _string_keys(value: Any) -> bool:
    """True if every object key in `value`, however deep, is a str."""
    if isinstance(value, dict):
        return all(isinstance(key, str) and _string_keys(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(_string_keys(item) for item in value)
    return True


class _Refused(ValueError):
    """JSON that parses but breaks a rule above; the message says which."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise _Refused(f"has the key {shorten(key)} twice")
        body[key] = value
    return body


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"is not JSON ({name} is not a JSON number)")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"has a number too large for a double ({shorten(text)})")
    return number
