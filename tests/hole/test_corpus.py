"""Replay tests/wire/bad: each NNN.bin must be refused with the words in NNN.txt.

NNN.txt holds two lines: the kind (request, input or result) and a
substring of the ProtocolError message. Every protocol bug adds a case.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from hole import ProtocolError, ResultDecoder, decode_input, decode_request

CORPUS = Path(__file__).resolve().parent.parent / "wire" / "bad"
CASES = sorted(CORPUS.glob("*.bin"))


def _decode_result(pieces: list[bytes]) -> None:
    decoder = ResultDecoder()
    for piece in pieces:
        decoder.feed(piece)
        while decoder.next_event() is not None:
            pass
    state = "complete" if decoder.done else "waiting for more bytes"
    pytest.fail(f"result stream accepted ({state})")


def _whole(raw: bytes) -> None:
    _decode_result([raw])


def _bytewise(raw: bytes) -> None:
    _decode_result([raw[i : i + 1] for i in range(len(raw))])


DECODERS: dict[str, list[Callable[[bytes], object]]] = {
    "request": [decode_request],
    "input": [decode_input],
    # A stream is refused the same way however it is cut into reads.
    "result": [_whole, _bytewise],
}


def _read_case(path: Path) -> tuple[str, str]:
    kind, message = path.with_suffix(".txt").read_text(encoding="utf-8").splitlines()
    return kind, message


def test_corpus_is_well_formed() -> None:
    assert len(CASES) >= 20
    assert sorted(p.stem for p in CORPUS.glob("*.txt")) == [p.stem for p in CASES]
    kinds = {_read_case(path)[0] for path in CASES}
    assert kinds == set(DECODERS)
    assert [p.stem for p in CASES] == [f"{n:03d}" for n in range(1, len(CASES) + 1)]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_case_is_refused(path: Path) -> None:
    kind, message = _read_case(path)
    raw = path.read_bytes()
    for decode in DECODERS[kind]:
        with pytest.raises(ProtocolError) as caught:
            decode(raw)
        assert message in str(caught.value)
