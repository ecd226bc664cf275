"""The input file: a job's named fields, written by the web side.

Grammar (ABNF, RFC 5234):

    input-file = magic *field end
    magic      = "HOLE-INPUT/1" LF
    field      = field-name SP length LF value LF
    field-name = %x61-7A *62( %x61-7A / DIGIT / "_" )
    length     = "0" / %x31-39 *7DIGIT   ; decimal, no leading zeros
    value      = *OCTET                  ; exactly `length` octets, any value
    end        = "." LF                  ; and then end of file

A value is counted, never delimited, so it can hold any byte (newline, NUL,
"." alone on a line) without escaping. Every other choice is strict because
the reader is the trusted side: a duplicate name, a length that runs past
the end, a missing terminator or bytes after it are errors, never repaired.
The protocol carries bytes; what a value may contain is the job map's to say.
"""

import re
from collections.abc import Iterable, Mapping

from hole.errors import ProtocolError, shorten
from hole.limits import MAX_FIELDS, MAX_INPUT_FILE

MAGIC = b"HOLE-INPUT/1\n"
END = b".\n"
FIELD_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
# field-name SP length: the longest legal header is 63 + 1 + 8 bytes.
_HEADER_RE = re.compile(rb"([a-z][a-z0-9_]{0,62}) (0|[1-9][0-9]{0,7})")
_MAX_HEADER = 63 + 1 + 8
# The most an 8-digit length can say.
_MAX_LENGTH = 99_999_999


def encode_input(fields: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]) -> bytes:
    """Return the input file for these fields; str values are encoded UTF-8."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    parts = [MAGIC]
    seen: set[str] = set()
    for name, value in items:
        if not FIELD_NAME_RE.fullmatch(name):
            raise ProtocolError(f"invalid field name: {shorten(name)}")
        if name in seen:
            raise ProtocolError(f"duplicate field name: {name!r}")
        seen.add(name)
        raw = value.encode("utf-8") if isinstance(value, str) else value
        if len(raw) > _MAX_LENGTH:
            raise ProtocolError(f"field {name!r}: value of {len(raw)} bytes, over {_MAX_LENGTH}")
        parts.append(b"%s %d\n" % (name.encode(), len(raw)))
        parts.append(raw)
        parts.append(b"\n")
    if len(seen) > MAX_FIELDS:
        raise ProtocolError(f"{len(seen)} fields, over the limit of {MAX_FIELDS}")
    parts.append(END)
    return b"".join(parts)


def decode_input(raw_input: bytes, max_size: int = MAX_INPUT_FILE) -> dict[str, bytes]:
    """Parse a whole input file into an ordered mapping of name to raw value."""
    if len(raw_input) > max_size:
        raise ProtocolError(f"input file is {len(raw_input)} bytes, over the limit of {max_size}")
    if not raw_input.startswith(MAGIC):
        raise ProtocolError(f"input file does not start with {MAGIC!r}: {shorten(raw_input)}")
    fields: dict[str, bytes] = {}
    pos = len(MAGIC)
    end = len(raw_input)
    while True:
        if raw_input.startswith(END, pos):
            if pos + len(END) != end:
                extra = raw_input[pos + len(END) : pos + len(END) + _MAX_HEADER]
                raise ProtocolError(f"bytes after the terminator '.\\n': {shorten(extra)}")
            return fields
        if END.startswith(raw_input[pos : pos + len(END)]):
            # Nothing left, or a lone "." that lost its LF.
            raise ProtocolError("input file ends without its terminator '.\\n'")
        newline = raw_input.find(b"\n", pos, pos + _MAX_HEADER + 1)
        if newline < 0:
            bad = raw_input[pos : pos + _MAX_HEADER]
            raise ProtocolError(f"malformed field header: {shorten(bad)}")
        header = _HEADER_RE.fullmatch(raw_input, pos, newline)
        if header is None:
            raise ProtocolError(f"malformed field header: {shorten(raw_input[pos:newline])}")
        name = header[1].decode()
        length = int(header[2])
        start = newline + 1
        stop = start + length
        # The value must be followed by its LF; anything else means the
        # length is wrong, and a wrong length makes the rest untrustworthy.
        if stop >= end:
            raise ProtocolError(f"field {name!r}: value of {length} bytes runs past the end")
        if raw_input[stop] != 0x0A:
            raise ProtocolError(f"field {name!r}: value of {length} bytes is not followed by LF")
        if name in fields:
            raise ProtocolError(f"duplicate field name: {name!r}")
        if len(fields) >= MAX_FIELDS:
            raise ProtocolError(f"more than {MAX_FIELDS} fields")
        fields[name] = raw_input[start:stop]
        pos = stop + 1
