"""The result stream: an optional meta record, body chunks, one status record.

Grammar (ABNF, RFC 5234):

    result-stream = [meta-record *chunk] status-record   ; then end of stream
    meta-record   = "M" length LF json-object     ; exactly `length` octets
    chunk         = "D" length LF *OCTET          ; exactly `length` octets
    status-record = "S" length LF json-object     ; exactly `length` octets
    length        = %x31-39 *7DIGIT               ; 1 to 99999999, no leading zeros

The meta record says the job was accepted and what its output is (see
meta.py); a job refused before it runs (busy, unknown, rejected) has none,
and no chunk may come without one. A chunk's length is at most MAX_CHUNK, a
meta or status record's at most MAX_STATUS; the status JSON object is
described in status.py. Empty chunks are not allowed (they would carry
nothing and could be sent forever). Bytes after the status record are an
error.

The decoder is incremental and never holds a whole chunk: it hands out body
bytes as they arrive, so a reader's memory stays flat whatever the report's
size.
"""

import enum
import re
from dataclasses import dataclass

from hole.errors import ProtocolError, shorten
from hole.limits import MAX_CHUNK, MAX_FRAME_HEADER, MAX_STATUS
from hole.meta import Meta, parse_meta
from hole.status import StatusRecord, parse_status

_HEADER_RE = re.compile(rb"([DMS])([1-9][0-9]{0,7})")


def encode_chunk_header(length: int) -> bytes:
    """The header for a body chunk of `length` bytes."""
    if not 0 < length <= MAX_CHUNK:
        raise ProtocolError(f"chunk length {length} outside 1..{MAX_CHUNK}")
    return b"D%d\n" % length


def encode_chunk(data: bytes) -> bytes:
    """One body chunk, header included."""
    return encode_chunk_header(len(data)) + data


def encode_meta(meta: Meta) -> bytes:
    """The meta record that opens the stream of an accepted job."""
    body = meta.to_json()
    if len(body) > MAX_STATUS:
        raise ProtocolError(f"meta record of {len(body)} bytes, over {MAX_STATUS}")
    return b"M%d\n" % len(body) + body


def encode_status(record: StatusRecord) -> bytes:
    """The status record that ends a result stream."""
    body = record.to_json()
    if len(body) > MAX_STATUS:
        raise ProtocolError(f"status record of {len(body)} bytes, over {MAX_STATUS}")
    return b"S%d\n" % len(body) + body


@dataclass(frozen=True, slots=True)
class Data:
    """Some bytes of the job's output (not necessarily a whole chunk)."""

    data: bytes


class _State(enum.Enum):
    HEADER = "header"
    META = "meta"
    DATA = "data"
    STATUS = "status"
    DONE = "done"


class ResultDecoder:
    """Turns result-stream bytes into Data events and one StatusRecord.

    Feed bytes with feed(); call next_event() until it returns None (needs
    more bytes). A Meta event, if any, comes first. After the StatusRecord the stream is done, and any further
    byte is a ProtocolError.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._state = _State.HEADER
        self._remaining = 0
        self.meta: Meta | None = None
        self.status: StatusRecord | None = None

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    def pending_bytes(self) -> int:
        """Bytes fed but not yet handed out as events."""
        return len(self._buffer)

    def feed(self, raw_bytes: bytes) -> None:
        if self._state is _State.DONE and raw_bytes:
            raise ProtocolError(f"bytes after the status record: {shorten(raw_bytes)}")
        self._buffer += raw_bytes

    def next_event(self) -> Meta | Data | StatusRecord | None:
        while True:
            if self._state is _State.HEADER:
                if not self._read_header():
                    return None
                continue
            if self._state is _State.DATA:
                if not self._buffer:
                    return None
                take = min(self._remaining, len(self._buffer))
                piece = bytes(self._buffer[:take])
                del self._buffer[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _State.HEADER
                return Data(piece)
            if self._state is _State.META:
                if len(self._buffer) < self._remaining:
                    return None
                meta = parse_meta(bytes(self._buffer[: self._remaining]))
                del self._buffer[: self._remaining]
                self._state = _State.HEADER
                self.meta = meta
                return meta
            if self._state is _State.STATUS:
                if len(self._buffer) < self._remaining:
                    return None
                record = parse_status(bytes(self._buffer[: self._remaining]))
                del self._buffer[: self._remaining]
                self._state = _State.DONE
                if self._buffer:
                    raise ProtocolError(f"bytes after the status record: {shorten(bytes(self._buffer))}")
                self.status = record
                return record
            return None

    def _read_header(self) -> bool:
        newline = self._buffer.find(b"\n", 0, MAX_FRAME_HEADER)
        if newline < 0:
            if len(self._buffer) >= MAX_FRAME_HEADER:
                raise ProtocolError(f"malformed frame header: {shorten(bytes(self._buffer[:MAX_FRAME_HEADER]))}")
            return False
        match = _HEADER_RE.fullmatch(self._buffer, 0, newline)
        if match is None:
            raise ProtocolError(f"malformed frame header: {shorten(bytes(self._buffer[:newline]))}")
        # Take the groups out before the buffer shrinks: a match on a
        # bytearray reads the buffer's current contents.
        kind = bytes(match[1])
        length = int(match[2])
        del self._buffer[: newline + 1]
        if kind == b"D":
            if self.meta is None:
                raise ProtocolError("body chunk before the meta record")
            if length > MAX_CHUNK:
                raise ProtocolError(f"chunk of {length} bytes, over the limit of {MAX_CHUNK}")
            self._state = _State.DATA
        elif kind == b"M":
            if self.meta is not None:
                raise ProtocolError("a second meta record")
            if length > MAX_STATUS:
                raise ProtocolError(f"meta record of {length} bytes, over the limit of {MAX_STATUS}")
            self._state = _State.META
        else:
            if length > MAX_STATUS:
                raise ProtocolError(f"status record of {length} bytes, over the limit of {MAX_STATUS}")
            self._state = _State.STATUS
        self._remaining = length
        return True
