"""The meta record: what an accepted job's output is."""

import pytest

from hole import Meta, ProtocolError
from hole.meta import MAX_TITLE, parse_meta


@pytest.mark.parametrize(
    "meta",
    [
        Meta("text/plain"),
        Meta("text/csv", "spending-all-2024.csv", "Spending"),
        Meta("application/vnd.ms-excel", "a", "Zoë's report"),
        Meta("a/b", "F" * 128, "t" * MAX_TITLE),
    ],
)
def test_round_trip(meta: Meta) -> None:
    assert Meta.from_json(meta.to_json()) == meta


def test_json_is_compact_ascii_with_every_key() -> None:
    assert Meta("text/plain", title="Zoë").to_json() == b'{"type":"text/plain","filename":"","title":"Zo\\u00eb"}'


def test_missing_filename_and_title_are_empty() -> None:
    assert Meta.from_json(b'{"type":"text/html"}') == Meta("text/html", "", "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": ""}, "invalid media type"),
        ({"type": "text"}, "invalid media type"),
        ({"type": "Text/plain"}, "invalid media type"),
        ({"type": "text/plain; charset=utf-8"}, "invalid media type"),
        ({"type": "text/plain\n"}, "invalid media type"),
        ({"type": "text/plain", "filename": "../etc/passwd"}, "invalid download name"),
        ({"type": "text/plain", "filename": ".hidden"}, "invalid download name"),
        ({"type": "text/plain", "filename": "a b.txt"}, "invalid download name"),
        ({"type": "text/plain", "filename": 'a".txt'}, "invalid download name"),
        ({"type": "text/plain", "filename": "F" * 129}, "invalid download name"),
        ({"type": "text/plain", "title": "t" * (MAX_TITLE + 1)}, "invalid title"),
        ({"type": "text/plain", "title": "a\nb"}, "invalid title"),
        ({"type": "text/plain", "title": "a\x00b"}, "invalid title"),
    ],
)
def test_construction_refuses(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        Meta(**kwargs)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"text/plain", "meta record is not JSON"),
        (b'\xef\xbb\xbf{"type":"text/plain"}', "meta record is not JSON"),
        (b'{"type":"text/plain","type":"text/html"}', "meta record has the key 'type' twice"),
        (b'{"type":"text/plain","title":"\\ud800"}', "lone surrogate"),
        (b'{"type":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "meta record is not JSON"),
        (b'["text/plain"]', "meta record is not an object"),
        (b"{}", "invalid media type"),
        (b'{"type":"text/plain","size":3}', "unknown meta key 'size'"),
        (b'{"type":"text/plain","title":null}', "meta values must be strings"),
        (b'{"type":1}', "meta values must be strings"),
        (b'{"type":"text/plain","filename":"/tmp/x"}', "invalid download name"),
    ],
)
def test_from_json_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        Meta.from_json(raw)
    assert message in str(caught.value)


def test_parsed_meta_is_remembered_and_a_bad_one_fails_every_time() -> None:
    raw = Meta("text/csv", "a.csv", "A").to_json()
    assert parse_meta(raw) is parse_meta(raw) == Meta("text/csv", "a.csv", "A")
    for _ in range(2):
        with pytest.raises(ProtocolError, match="invalid media type"):
            parse_meta(b'{"type":"text","filename":"","title":""}')
