"""CSV rows from text that arrives in arbitrary pieces."""

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webside.csvstream import CSVTooLong, RowSplitter


def split_all(pieces: list[str], max_record: int = 1024) -> list[list[str]]:
    splitter = RowSplitter(max_record)
    rows: list[list[str]] = []
    for piece in pieces:
        rows += splitter.feed(piece)
    return rows + splitter.close()


def test_rows_come_out_as_soon_as_they_are_complete() -> None:
    splitter = RowSplitter()
    assert splitter.feed("a,b\n1,") == [["a", "b"]]
    assert splitter.feed("2") == []
    assert splitter.feed("\n3,4\n") == [["1", "2"], ["3", "4"]]
    assert splitter.close() == []


def test_newline_inside_quotes_does_not_end_the_row() -> None:
    splitter = RowSplitter()
    assert splitter.feed('a,"two\n') == []
    assert splitter.feed('lines"\n') == [["a", "two\nlines"]]


def test_escaped_quotes_and_crlf() -> None:
    assert split_all(['x,"say ""hi""', '"\r\n', "y,z\r\n"]) == [["x", 'say "hi"'], ["y", "z"]]


def test_last_row_without_newline() -> None:
    assert split_all(["a,b\n", "c,d"]) == [["a", "b"], ["c", "d"]]


def test_a_record_longer_than_the_limit_is_an_error() -> None:
    splitter = RowSplitter(max_record=10)
    assert splitter.feed("a,b\n") == [["a", "b"]]
    with pytest.raises(CSVTooLong):
        splitter.feed('"' + "x" * 20)


def test_limit_counts_only_the_unfinished_record() -> None:
    splitter = RowSplitter(max_record=10)
    rows = splitter.feed("".join(f"{n},{n}\n" for n in range(100)))
    assert len(rows) == 100


cells = st.text(alphabet=st.sampled_from('ab ,"\n\r\u00e9'), max_size=6)


@given(
    rows=st.lists(st.lists(cells, min_size=1, max_size=4), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_any_csv_cut_anywhere_gives_back_its_rows(rows: list[list[str]], cuts: list[int]) -> None:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    text = out.getvalue()
    points = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    expected = list(csv.reader(io.StringIO(text, newline="")))
    assert split_all(pieces) == expected
