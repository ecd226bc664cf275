"""Properties that must hold for every input, checked with hypothesis.

Encoders and decoders agree on everything legal, whatever the split of the
stream; and on anything at all, a decoder either returns or raises
ProtocolError, never another exception.
"""

import contextlib
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hole import (
    Data,
    Meta,
    ProtocolError,
    Request,
    ResultDecoder,
    Status,
    StatusRecord,
    decode_input,
    decode_request,
    encode_chunk,
    encode_input,
    encode_meta,
    encode_request,
    encode_status,
)
from hole.limits import MAX_FIELDS
from hole.meta import FILENAME_RE, MAX_TITLE, MEDIA_TYPE_RE
from hole.request import JOB_ID_RE, JOB_NAME_RE
from hole.status import DETAIL_TYPES

# No example database: runs leave nothing behind in the source tree.
checks = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

field_names = st.from_regex(r"[a-z][a-z0-9_]{0,62}", fullmatch=True)
# Python str without lone surrogates: the strings JSON and UTF-8 can carry.
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
finite_numbers = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite_numbers | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
DETAIL_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "params": st.dictionaries(texts, json_values, max_size=4),
    "seconds": st.integers(min_value=0) | finite_numbers,
}
for _key, _kind in DETAIL_TYPES.items():
    DETAIL_VALUES.setdefault(_key, st.integers() if _kind is int else texts)

status_records = st.builds(
    StatusRecord,
    status=st.sampled_from(Status),
    message=texts,
    details=st.fixed_dictionaries({}, optional=DETAIL_VALUES),
)
metas = st.builds(
    Meta,
    type=st.from_regex(MEDIA_TYPE_RE, fullmatch=True),
    filename=st.just("") | st.from_regex(FILENAME_RE, fullmatch=True),
    title=st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), max_size=MAX_TITLE),
)
# Random bytes are often runs of one value; a counting pattern makes a
# reordered, shifted or dropped byte show.
chunk_bodies = st.binary(min_size=1, max_size=400) | st.integers(1, 3000).map(
    lambda n: bytes(i % 251 for i in range(n))
)
requests = st.builds(
    Request,
    job=st.from_regex(JOB_NAME_RE, fullmatch=True),
    job_id=st.from_regex(JOB_ID_RE, fullmatch=True),
)


def split(data: st.DataObject, raw: bytes) -> list[bytes]:
    """Cut `raw` at points hypothesis chooses, empty pieces included."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    bounds = [0, *cuts, len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


def mutate(data: st.DataObject, raw: bytes) -> bytes:
    """Damage a legal message a little, to reach the parser's deeper states."""
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(buf)))
        op = data.draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        if op == "set" and pos < len(buf):
            buf[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=12))
        elif op == "delete":
            del buf[pos : pos + data.draw(st.integers(1, 12))]
        else:
            del buf[pos:]
    return bytes(buf)


# ---- round trips ----------------------------------------------------------


@checks
@given(st.dictionaries(field_names, st.binary(max_size=300), max_size=40))
def test_any_fields_survive_the_input_file(fields: dict[str, bytes]) -> None:
    decoded = decode_input(encode_input(fields))
    assert list(decoded.items()) == list(fields.items())


@checks
@given(st.dictionaries(field_names, texts, max_size=10))
def test_str_values_come_back_as_utf8(fields: dict[str, str]) -> None:
    assert decode_input(encode_input(fields)) == {name: value.encode() for name, value in fields.items()}


@checks
@given(requests)
def test_any_request_survives(request: Request) -> None:
    line = encode_request(request)
    assert line.endswith(b"\n")
    assert decode_request(line) == request


@checks
@given(status_records)
def test_any_status_survives(record: StatusRecord) -> None:
    assert StatusRecord.from_json(record.to_json()) == record


@checks
@given(
    st.lists(chunk_bodies, max_size=8),
    st.none() | metas,
    status_records,
    st.data(),
)
def test_any_stream_survives_any_split(
    chunks: list[bytes], meta: Meta | None, record: StatusRecord, data: st.DataObject
) -> None:
    if chunks and meta is None:
        meta = Meta("application/octet-stream")
    stream = (encode_meta(meta) if meta else b"") + b"".join(map(encode_chunk, chunks)) + encode_status(record)
    decoder = ResultDecoder()
    events: list[Meta | Data | StatusRecord] = []
    for piece in split(data, stream):
        decoder.feed(piece)
        while (event := decoder.next_event()) is not None:
            events.append(event)
    assert decoder.done
    assert events[-1] == record == decoder.status
    assert decoder.meta == meta
    metas_seen = [event for event in events if isinstance(event, Meta)]
    assert metas_seen == ([meta] if meta else [])
    if meta:
        assert events[0] == meta
    body = [event for event in events if isinstance(event, Data)]
    assert all(piece.data for piece in body)
    assert b"".join(piece.data for piece in body) == b"".join(chunks)
    assert len(events) == len(body) + (2 if meta else 1)


# ---- arbitrary bytes: ProtocolError or a result, nothing else -------------


# A legal start, so arbitrary bytes land inside a chunk and after it.
META_AND_CHUNK = encode_meta(Meta("text/plain")) + b"D3\n"


def _feed_all(pieces: list[bytes]) -> None:
    decoder = ResultDecoder()
    try:
        for piece in pieces:
            decoder.feed(piece)
            while decoder.next_event() is not None:
                pass
    except ProtocolError:
        pass


@checks
@given(st.binary(max_size=2000) | st.binary(max_size=200).map(lambda b: b"HOLE-INPUT/1\n" + b))
def test_decode_input_only_raises_protocol_error(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_input(raw, max_size=1024)


@checks
@given(st.dictionaries(field_names, st.binary(max_size=40), max_size=MAX_FIELDS // 16), st.data())
def test_decode_input_of_damaged_files_only_raises_protocol_error(
    fields: dict[str, bytes], data: st.DataObject
) -> None:
    with contextlib.suppress(ProtocolError):
        decode_input(mutate(data, encode_input(fields)))


@checks
@given(st.binary(max_size=5000) | st.binary(max_size=100).map(lambda b: b"HOLE/1 " + b))
def test_decode_request_only_raises_protocol_error(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_request(raw)


@checks
@given(requests, st.data())
def test_decode_request_of_damaged_lines_only_raises_protocol_error(request: Request, data: st.DataObject) -> None:
    with contextlib.suppress(ProtocolError):
        decode_request(mutate(data, encode_request(request)))


@checks
@given(st.binary(max_size=2000) | st.binary(max_size=200).map(lambda b: META_AND_CHUNK + b), st.data())
def test_result_decoder_only_raises_protocol_error(raw: bytes, data: st.DataObject) -> None:
    _feed_all(split(data, raw))


@checks
@given(st.lists(st.binary(min_size=1, max_size=50), max_size=4), metas, status_records, st.data())
def test_result_decoder_of_damaged_streams_only_raises_protocol_error(
    chunks: list[bytes], meta: Meta, record: StatusRecord, data: st.DataObject
) -> None:
    stream = encode_meta(meta) + b"".join(map(encode_chunk, chunks)) + encode_status(record)
    _feed_all(split(data, mutate(data, stream)))
