"""The input file: counted, named fields between a magic line and a terminator."""

import pytest

from hole import ProtocolError, decode_input, encode_input
from hole.limits import MAX_FIELD_NAME, MAX_FIELDS, MAX_INPUT_FILE

MAGIC = b"HOLE-INPUT/1\n"
END = b".\n"


def test_no_fields_is_magic_and_terminator() -> None:
    assert encode_input({}) == MAGIC + END
    assert decode_input(MAGIC + END) == {}


def test_encode_counts_each_value() -> None:
    raw = encode_input({"account": "12345678", "year": "2024"})
    assert raw == MAGIC + b"account 8\n12345678\nyear 4\n2024\n" + END


def test_str_values_are_utf8() -> None:
    assert encode_input({"name": "Zoë"}) == MAGIC + b"name 4\nZo\xc3\xab\n" + END


@pytest.mark.parametrize(
    "value",
    [b"", b"\n", b".\n", b"\n.\n", b"\x00", b"a 1\nb\n", bytes(range(256)), MAGIC + END, b"x" * 100_000],
)
def test_any_bytes_survive(value: bytes) -> None:
    assert decode_input(encode_input({"v": value, "w": b"after"})) == {"v": value, "w": b"after"}


def test_order_is_kept_and_pairs_are_accepted() -> None:
    pairs = [("zeta", b"1"), ("alpha", b"2"), ("mid_9", b"3")]
    decoded = decode_input(encode_input(pairs))
    assert list(decoded.items()) == pairs


def test_longest_name_and_most_fields() -> None:
    fields = {f"f{i}": str(i).encode() for i in range(MAX_FIELDS - 1)}
    fields["n" * MAX_FIELD_NAME] = b"long"
    assert decode_input(encode_input(fields)) == fields


@pytest.mark.parametrize("name", ["", "Account", "1st", "_x", "a-b", "a b", "é", "n" * (MAX_FIELD_NAME + 1)])
def test_encode_refuses_bad_name(name: str) -> None:
    with pytest.raises(ProtocolError, match="invalid field name"):
        encode_input({name: "x"})


def test_encode_refuses_duplicate_name() -> None:
    with pytest.raises(ProtocolError, match="duplicate field name: 'a'"):
        encode_input([("a", "1"), ("a", "2")])


def test_encode_refuses_too_many_fields() -> None:
    with pytest.raises(ProtocolError, match=f"over the limit of {MAX_FIELDS}"):
        encode_input({f"f{i}": "" for i in range(MAX_FIELDS + 1)})


def _field(header: bytes, value: bytes) -> bytes:
    return MAGIC + header + b"\n" + value + b"\n" + END


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "does not start with"),
        (b"HOLE-INPUT/2\n" + END, "does not start with"),
        (b"hole-input/1\n" + END, "does not start with"),
        (b"HOLE-INPUT/1\r\n" + END, "does not start with"),
        (b"HOLE-INPUT/1", "does not start with"),
        # field headers
        (_field(b"account 08", b"12345678"), "malformed field header: b'account 08'"),
        (_field(b"account 00", b""), "malformed field header"),
        (_field(b"Account 8", b"12345678"), "malformed field header: b'Account 8'"),
        (_field(b"1a 1", b"x"), "malformed field header"),
        (_field(b"_a 1", b"x"), "malformed field header"),
        (_field(b"a-b 1", b"x"), "malformed field header"),
        (_field(b"n" * (MAX_FIELD_NAME + 1) + b" 1", b"x"), "malformed field header"),
        (_field(b"a 123456789", b"x"), "malformed field header"),
        (_field(b"a -1", b"x"), "malformed field header"),
        (_field(b"a +1", b"x"), "malformed field header"),
        (_field(b"a 1 ", b"x"), "malformed field header"),
        (_field(b"a  1", b"x"), "malformed field header"),
        (_field(b"a\t1", b"x"), "malformed field header"),
        (_field(b"a 1\r", b"x"), "malformed field header"),
        (_field(b"a", b"x"), "malformed field header"),
        (_field(b"a ", b"x"), "malformed field header"),
        (_field(b" 1", b"x"), "malformed field header"),
        (MAGIC + b"x" * 1000, "malformed field header"),
        # values
        (MAGIC + b"account 80\n12345678\n" + END, "value of 80 bytes runs past the end"),
        (MAGIC + b"account 8\n12345678", "value of 8 bytes runs past the end"),
        (MAGIC + b"account 7\n12345678\n" + END, "value of 7 bytes is not followed by LF"),
        (MAGIC + b"account 9\n12345678\n" + END, "value of 9 bytes is not followed by LF"),
        (MAGIC + b"a 1\nx\na 1\ny\n" + END, "duplicate field name: 'a'"),
        # terminator
        (MAGIC, "ends without its terminator"),
        (MAGIC + b".", "ends without its terminator"),
        (MAGIC + b"a 1\nx\n", "ends without its terminator"),
        (MAGIC + b"a 1\nx\n.", "ends without its terminator"),
        (MAGIC + END + b"\n", "bytes after the terminator"),
        (MAGIC + END + END, "bytes after the terminator"),
        (MAGIC + END + b"a 1\nx\n", "bytes after the terminator '.\\n': b'a 1\\nx\\n'"),
        (MAGIC + b".\r\n", "malformed field header"),
    ],
)
def test_decode_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_input(raw)
    assert message in str(caught.value)


def test_decode_refuses_too_many_fields() -> None:
    body = b"".join(b"f%d 0\n\n" % i for i in range(MAX_FIELDS + 1))
    with pytest.raises(ProtocolError, match=f"more than {MAX_FIELDS} fields"):
        decode_input(MAGIC + body + END)


def test_oversize_file_is_refused_before_parsing() -> None:
    # Garbage, so a parser that looked first would complain about the magic.
    raw = b"\xff" * (MAX_INPUT_FILE + 1)
    with pytest.raises(ProtocolError, match=f"{MAX_INPUT_FILE + 1} bytes, over the limit of {MAX_INPUT_FILE}"):
        decode_input(raw)


def test_default_ceiling_is_inclusive() -> None:
    value = b"v" * (MAX_INPUT_FILE - len(MAGIC) - len(END) - len(b"a 262126\n\n"))
    raw = encode_input({"a": value})
    assert len(raw) == MAX_INPUT_FILE
    assert decode_input(raw) == {"a": value}


def test_site_may_lower_the_ceiling() -> None:
    raw = encode_input({"a": b"x" * 100})
    assert decode_input(raw, max_size=len(raw)) == {"a": b"x" * 100}
    with pytest.raises(ProtocolError, match=f"over the limit of {len(raw) - 1}"):
        decode_input(raw, max_size=len(raw) - 1)


def test_error_message_is_cut_short() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_input(b"Z" * 10_000)
    assert len(str(caught.value)) < 200
