"""The result stream: meta record, body chunks, one status record."""

import pytest

from hole import (
    Data,
    Meta,
    ProtocolError,
    ResultDecoder,
    Status,
    StatusRecord,
    encode_chunk,
    encode_meta,
    encode_status,
)
from hole.framing import encode_chunk_header
from hole.limits import MAX_CHUNK, MAX_FRAME_HEADER, MAX_STATUS

META = Meta("text/plain", "report.txt", "Report")
OK = StatusRecord(Status.OK, "", {"bytes": 3})
Event = Meta | Data | StatusRecord


def drain(decoder: ResultDecoder) -> list[Event]:
    events: list[Event] = []
    while (event := decoder.next_event()) is not None:
        events.append(event)
    return events


def decode_all(raw: bytes) -> list[Event]:
    decoder = ResultDecoder()
    decoder.feed(raw)
    return drain(decoder)


def test_encoders_write_type_length_lf() -> None:
    assert encode_chunk(b"abc") == b"D3\nabc"
    assert encode_meta(META) == b'M62\n{"type":"text/plain","filename":"report.txt","title":"Report"}'
    assert encode_status(OK) == b'S38\n{"status":"ok","message":"","bytes":3}'


def test_whole_stream_gives_meta_data_status() -> None:
    decoder = ResultDecoder()
    decoder.feed(encode_meta(META) + encode_chunk(b"ab") + encode_chunk(b"c") + encode_status(OK))
    assert drain(decoder) == [META, Data(b"ab"), Data(b"c"), OK]
    assert decoder.done
    assert decoder.meta == META
    assert decoder.status == OK
    assert decoder.pending_bytes() == 0


def test_refused_job_sends_only_a_status() -> None:
    busy = StatusRecord(Status.BUSY, "all 4 job slots are taken", {"limit": 4})
    decoder = ResultDecoder()
    decoder.feed(encode_status(busy))
    assert drain(decoder) == [busy]
    assert decoder.meta is None
    assert decoder.done


def test_meta_without_chunks_is_allowed() -> None:
    assert decode_all(encode_meta(META) + encode_status(OK)) == [META, OK]


def test_empty_decoder_waits() -> None:
    decoder = ResultDecoder()
    assert decoder.next_event() is None
    decoder.feed(b"")
    assert decoder.next_event() is None
    assert not decoder.done
    assert decoder.status is None


def test_one_byte_at_a_time_hands_out_each_byte() -> None:
    body = bytes(range(256)) * 40
    stream = encode_meta(META) + encode_chunk(body) + encode_status(OK)
    decoder = ResultDecoder()
    received = bytearray()
    events: list[Event] = []
    for byte in stream:
        decoder.feed(bytes([byte]))
        for event in drain(decoder):
            events.append(event)
            if isinstance(event, Data):
                # Never holds the chunk back until it is whole.
                assert len(event.data) == 1
                received += event.data
        # The decoder keeps at most a header or one record, never body bytes.
        assert decoder.pending_bytes() <= max(MAX_FRAME_HEADER, len(META.to_json()), len(OK.to_json()))
    assert bytes(received) == body
    assert events[0] == META
    assert events[-1] == OK
    assert decoder.done


def test_partial_chunk_is_handed_out_before_the_rest_arrives() -> None:
    decoder = ResultDecoder()
    decoder.feed(encode_meta(META) + encode_chunk_header(1000) + b"x" * 10)
    assert drain(decoder) == [META, Data(b"x" * 10)]
    assert decoder.pending_bytes() == 0
    decoder.feed(b"y" * 990 + encode_status(OK))
    assert drain(decoder) == [Data(b"y" * 990), OK]


def test_encode_chunk_refuses_empty_and_oversize() -> None:
    with pytest.raises(ProtocolError, match="chunk length 0 outside"):
        encode_chunk(b"")
    assert encode_chunk_header(MAX_CHUNK) == b"D%d\n" % MAX_CHUNK
    with pytest.raises(ProtocolError, match=f"chunk length {MAX_CHUNK + 1} outside 1..{MAX_CHUNK}"):
        encode_chunk_header(MAX_CHUNK + 1)


def test_encode_status_refuses_oversize() -> None:
    with pytest.raises(ProtocolError, match=f"over {MAX_STATUS}"):
        encode_status(StatusRecord(Status.INTERNAL_ERROR, "x" * MAX_STATUS))


def test_largest_status_is_accepted() -> None:
    empty = len(StatusRecord(Status.OK, "").to_json())
    record = StatusRecord(Status.OK, "m" * (MAX_STATUS - empty))
    raw = encode_status(record)
    assert len(raw) == len(b"S65536\n") + MAX_STATUS
    assert decode_all(raw) == [record]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"D0\n", "malformed frame header: b'D0'"),
        (b"M0\n", "malformed frame header"),
        (b"S0\n", "malformed frame header"),
        (b"D05\nhello", "malformed frame header: b'D05'"),
        (b"X5\nhello", "malformed frame header: b'X5'"),
        (b"d5\nhello", "malformed frame header"),
        (b"D\nhello", "malformed frame header"),
        (b"D-5\nhello", "malformed frame header"),
        (b"D 5\nhello", "malformed frame header"),
        (b"D5\r\nhello", "malformed frame header"),
        (b"\n", "malformed frame header"),
        (b"D123456789\n", "malformed frame header"),
        (b"S999999999", "malformed frame header"),
        (b"D5\nhello", "body chunk before the meta record"),
        (encode_meta(META) + encode_meta(META), "a second meta record"),
        (encode_meta(META) + b"D%d\n" % (MAX_CHUNK + 1), f"chunk of {MAX_CHUNK + 1} bytes, over the limit"),
        (b"M%d\n" % (MAX_STATUS + 1), f"meta record of {MAX_STATUS + 1} bytes, over the limit"),
        (b"S%d\n" % (MAX_STATUS + 1), f"status record of {MAX_STATUS + 1} bytes, over the limit"),
        (b"S5\nhello", "status record is not JSON"),
        (b"S2\n[]", "status record is not an object"),
        (b'S16\n{"status":"yes"}', "unknown status 'yes'"),
        (b"M5\nhello", "meta record is not JSON"),
        (encode_status(OK) + b"\n", "bytes after the status record: b'\\n'"),
        (encode_status(OK) + encode_status(OK), "bytes after the status record"),
    ],
)
def test_decoder_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_all(raw)
    assert message in str(caught.value)


def test_oversize_chunk_is_refused_from_its_header_alone() -> None:
    decoder = ResultDecoder()
    decoder.feed(encode_meta(META))
    assert drain(decoder) == [META]
    decoder.feed(b"D%d\n" % (MAX_CHUNK + 1))
    with pytest.raises(ProtocolError, match="over the limit"):
        decoder.next_event()


def test_headerless_garbage_is_refused_at_once() -> None:
    decoder = ResultDecoder()
    decoder.feed(b"G" * 1024 * 1024)
    with pytest.raises(ProtocolError, match="malformed frame header") as caught:
        decoder.next_event()
    assert len(str(caught.value)) < 200


def test_headerless_garbage_is_refused_when_the_header_limit_is_passed() -> None:
    decoder = ResultDecoder()
    for _ in range(MAX_FRAME_HEADER - 1):
        decoder.feed(b"1")
        assert decoder.next_event() is None
    decoder.feed(b"1")
    with pytest.raises(ProtocolError, match="malformed frame header"):
        decoder.next_event()


def test_longest_legal_header_is_not_refused() -> None:
    decoder = ResultDecoder()
    decoder.feed(encode_meta(META))
    drain(decoder)
    header = b"D10000000\n"
    assert len(header) == MAX_FRAME_HEADER
    decoder.feed(header + b"z")
    assert drain(decoder) == [Data(b"z")]


def test_bytes_fed_after_the_status_are_refused() -> None:
    decoder = ResultDecoder()
    decoder.feed(encode_status(OK))
    assert drain(decoder) == [OK]
    decoder.feed(b"")
    with pytest.raises(ProtocolError, match="bytes after the status record: b'x'"):
        decoder.feed(b"x")


def test_status_split_from_its_trailing_byte_is_still_refused() -> None:
    decoder = ResultDecoder()
    raw = encode_status(OK)
    decoder.feed(raw[:-1])
    assert decoder.next_event() is None
    decoder.feed(raw[-1:] + b"!")
    with pytest.raises(ProtocolError, match="bytes after the status record"):
        decoder.next_event()
