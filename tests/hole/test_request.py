"""The request line: one per job, written atomically to the daemon FIFO."""

import pytest

from hole import ProtocolError, Request, decode_request, encode_request
from hole.limits import MAX_JOB_NAME, MAX_REQUEST_LINE

JOB_ID = "0123456789abcdef0123456789abcdef"


def test_encode_is_version_name_id_and_lf() -> None:
    assert encode_request(Request("b12", JOB_ID)) == b"HOLE/1 b12 " + JOB_ID.encode() + b"\n"


@pytest.mark.parametrize("job", ["a", "b12", "x_y_1", "a" * MAX_JOB_NAME, "z" + "0_" * 31])
def test_round_trip(job: str) -> None:
    request = Request(job, JOB_ID)
    assert decode_request(encode_request(request)) == request


def test_decode_takes_the_line_without_its_lf() -> None:
    assert decode_request(b"HOLE/1 b12 " + JOB_ID.encode()) == Request("b12", JOB_ID)


@pytest.mark.parametrize("job", ["", "B12", "1abc", "_abc", "a-b", "a b", "a\n", "é", "a" * (MAX_JOB_NAME + 1)])
def test_encode_refuses_bad_job_name(job: str) -> None:
    with pytest.raises(ProtocolError, match="invalid job name"):
        encode_request(Request(job, JOB_ID))


@pytest.mark.parametrize("job_id", ["", JOB_ID.upper(), JOB_ID[:-1], JOB_ID + "0", "g" * 32, JOB_ID[:-1] + "\n"])
def test_encode_refuses_bad_job_id(job_id: str) -> None:
    with pytest.raises(ProtocolError, match="invalid job id"):
        encode_request(Request("b12", job_id))


@pytest.mark.parametrize(
    "line",
    [
        b"HOLE/2 b12 " + JOB_ID.encode() + b"\n",
        b"hole/1 b12 " + JOB_ID.encode() + b"\n",
        b"HOLE/10 b12 " + JOB_ID.encode() + b"\n",
        b"b12 " + JOB_ID.encode() + b"\n",
        b" HOLE/1 b12 " + JOB_ID.encode() + b"\n",
        b"HOLE/1\tb12 " + JOB_ID.encode() + b"\n",
        b"HOLE/1",
        b"",
        b"\n",
    ],
)
def test_decode_refuses_other_versions(line: bytes) -> None:
    with pytest.raises(ProtocolError, match="request line is not HOLE/1"):
        decode_request(line)


@pytest.mark.parametrize(
    "line",
    [
        b"HOLE/1 b12 " + JOB_ID.upper().encode(),  # upper-case hex
        b"HOLE/1 b12 " + JOB_ID[:-1].encode(),  # 31 digits
        b"HOLE/1 b12 " + JOB_ID.encode() + b"0",  # 33 digits
        b"HOLE/1 B12 " + JOB_ID.encode(),  # upper-case name
        b"HOLE/1 1b " + JOB_ID.encode(),  # name starts with a digit
        b"HOLE/1 " + b"a" * (MAX_JOB_NAME + 1) + b" " + JOB_ID.encode(),  # name too long
        b"HOLE/1  b12 " + JOB_ID.encode(),  # two spaces
        b"HOLE/1 b12 " + JOB_ID.encode() + b" ",  # trailing space
        b"HOLE/1 b12 " + JOB_ID.encode() + b"\r\n",  # CRLF
        b"HOLE/1 b12 " + JOB_ID.encode() + b"\n\n",  # two line ends
        b"HOLE/1 b12 " + JOB_ID.encode() + b" extra",  # a fourth word
        b"HOLE/1 b12",  # no id
        b"HOLE/1 " + JOB_ID.encode(),  # no name
    ],
)
def test_decode_refuses_malformed_line(line: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed request line"):
        decode_request(line)


def test_uppercase_id_is_called_malformed() -> None:
    with pytest.raises(ProtocolError, match="malformed request line"):
        decode_request(b"HOLE/1 b12 " + JOB_ID.upper().encode() + b"\n")


def test_line_of_pipe_buf_bytes_is_parsed_not_refused_for_size() -> None:
    line = b"HOLE/1 b12 " + b"0" * (MAX_REQUEST_LINE - 11)
    assert len(line) == MAX_REQUEST_LINE
    with pytest.raises(ProtocolError, match="malformed request line"):
        decode_request(line)


@pytest.mark.parametrize("size", [MAX_REQUEST_LINE + 1, 1024 * 1024])
def test_line_over_pipe_buf_is_refused_before_parsing(size: int) -> None:
    # A valid start proves the size is checked first, not the grammar.
    line = b"HOLE/1 b12 " + JOB_ID.encode() + b"\n" * (size - 43)
    assert len(line) == size
    with pytest.raises(ProtocolError, match=f"over {MAX_REQUEST_LINE} bytes"):
        decode_request(line)


def test_error_message_is_cut_short() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_request(b"X" * MAX_REQUEST_LINE)
    assert len(str(caught.value)) < 200
    assert f"({MAX_REQUEST_LINE} bytes)" in str(caught.value)
