"""PROTOCOL.md must agree with the code: its example bytes, words and limits."""

import ast
import re
from pathlib import Path

import pytest

import hole
from hole import (
    Data,
    Meta,
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
    limits,
)
from hole.status import DETAIL_TYPES

DOC = (Path(hole.__file__).parent / "PROTOCOL.md").read_text(encoding="utf-8")


def _example() -> dict[str, bytes]:
    section = DOC.split("## Worked example", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None
    values: dict[str, bytes] = {}
    for statement in ast.parse(block[1]).body:
        assert isinstance(statement, ast.Assign)
        target = statement.targets[0]
        assert isinstance(target, ast.Name)
        values[target.id] = ast.literal_eval(statement.value)
    return values


EXAMPLE = _example()
JOB_ID = "5f0c3b9e2a7d4c18b6e1f0a9d3c27e84"
CHUNKS = [b"account 12345678\n", b"total 4711.00\n"]
META = Meta("text/plain", "", "Budget report 12")
OK = StatusRecord(Status.OK, "", {"bytes": 31})


def test_example_request_line() -> None:
    assert EXAMPLE["request"] == encode_request(Request("b12", JOB_ID))
    assert decode_request(EXAMPLE["request"]) == Request("b12", JOB_ID)


def test_example_input_file() -> None:
    assert EXAMPLE["input_file"] == encode_input({"account": "12345678", "year": "2024"})
    assert decode_input(EXAMPLE["input_file"]) == {"account": b"12345678", "year": b"2024"}


def test_example_result_stream() -> None:
    stream = EXAMPLE["result"]
    assert stream == encode_meta(META) + b"".join(map(encode_chunk, CHUNKS)) + encode_status(OK)
    decoder = ResultDecoder()
    decoder.feed(stream)
    events = []
    while (event := decoder.next_event()) is not None:
        events.append(event)
    assert events == [META, *map(Data, CHUNKS), OK]
    assert OK.details["bytes"] == len(b"".join(CHUNKS))


@pytest.mark.parametrize(("name", "noun"), [("request", "line"), ("input_file", "file"), ("result", "stream")])
def test_example_sizes_are_stated(name: str, noun: str) -> None:
    assert f"{noun} is {len(EXAMPLE[name])} bytes" in DOC


@pytest.mark.parametrize(
    "value",
    [
        limits.PIPE_BUF,
        limits.MAX_REQUEST_LINE,
        limits.MAX_JOB_NAME,
        limits.MAX_FIELD_NAME,
        limits.MAX_FIELDS,
        limits.MAX_INPUT_FILE,
        limits.MAX_CHUNK,
        limits.MAX_FRAME_HEADER,
        limits.MAX_STATUS,
    ],
)
def test_every_limit_is_stated(value: int) -> None:
    assert re.search(rf"(?<![0-9]){value}(?![0-9])", DOC)


@pytest.mark.parametrize("word", [status.value for status in Status] + list(DETAIL_TYPES))
def test_every_status_word_and_detail_is_described(word: str) -> None:
    assert f"| `{word}` |" in DOC
