"""An accepted job's output as an HTTP response: a streamed page or a download.

Rules:
1. The status code is chosen before the first byte is sent, so the view
   first waits up to HOLE_STREAM_GRACE seconds for the job's first output
   or its end (wait_first). A job that fails in that time gets an error
   page with its code; after it, the page is a 200 that ends in an error box.
2. Output is never gathered whole: each piece read from the job is turned
   into HTML (escaped) or passed on as bytes, then sent.
3. While no output comes, an empty HTML comment goes out about once a
   second, so a browser that went away is noticed (the write fails) and
   the job is cancelled: closing the generator closes the job.
4. A download that fails after it started is cut off (the generator
   raises), so the browser marks it failed instead of keeping half a file.
"""

from __future__ import annotations

import codecs
import mimetypes
import re
import time
from collections.abc import Callable, Iterator

from flask import Response, current_app, get_template_attribute, stream_with_context
from markupsafe import escape

from hole import Meta
from webside.client import Job
from webside.csvstream import CSVTooLong, RowSplitter
from webside.i18n import _
from webside.pageframe import Frame, result_frame
from webside.problems import Problem, explain
from webside.registry import Report

# How long read_chunk may sit idle before the stream sends a keep-alive.
IDLE_SECONDS = 1.0
# Output already received when the view answers is taken up to this
# size; a job that ended within it is sent as one page, not streamed.
READY_LIMIT = 256 * 1024
KEEPALIVE = "<!---->"
CSV_TYPE = "text/csv"
# A table cell that reads as a number (amount, count, percentage) is set
# right-aligned so that its digits line up down the column.
NUMBER_RE = re.compile(r"[-+]?[0-9][0-9,]*(?:\.[0-9]+)?%?")


class IncompleteDownload(Exception):
    """A download's job failed after the file had started to go out."""


def wait_first(job: Job, grace: float) -> list[bytes]:
    """Wait up to `grace` seconds for the first output or the job's end.

    Returns the output read so far (empty if none came): the first piece,
    and whatever else has already arrived, up to READY_LIMIT bytes, without
    waiting for more. `job.status` is set if the job ended.
    """
    deadline = time.monotonic() + grace
    while job.status is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return []
        data = job.read_chunk(idle=min(left, IDLE_SECONDS))
        if data:
            return _take_ready(job, [data], len(data))
    return []


def _take_ready(job: Job, chunks: list[bytes], size: int) -> list[bytes]:
    # A short job's output and status arrive in one write: taking them
    # now lets the view answer with the whole page at once.
    while size < READY_LIMIT and (data := job.read_chunk(idle=0)):
        chunks.append(data)
        size += len(data)
    return chunks


def kind_of(meta: Meta) -> str:
    """How a result is shown: "table" (CSV), "text" (other text/*), or "file"."""
    if meta.type == CSV_TYPE:
        return "table"
    if meta.type.startswith("text/"):
        return "text"
    return "file"


class _TextRenderer:
    """Output as escaped text in a <pre>; bad UTF-8 shows as U+FFFD."""

    def __init__(self, frame: Frame) -> None:
        self._frame = frame
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.empty = True

    def start(self) -> str:
        return self._frame.text_start

    def feed(self, data: bytes) -> str:
        self.empty = False
        return str(escape(self._decoder.decode(data)))

    def close(self) -> str:
        return str(escape(self._decoder.decode(b"", final=True))) + self.abort()

    def abort(self) -> str:
        return self._frame.text_end


class _TableRenderer:
    """CSV output as an HTML table, the first row as its header.

    The header is held back until the first data row comes, so that the
    columns that hold numbers are right-aligned in the header too.
    """

    def __init__(self, caption: str) -> None:
        self._caption = caption
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._splitter = RowSplitter()
        self._header: list[str] | None = None
        self._had_header = False
        self.empty = True

    def start(self) -> str:
        return str(get_template_attribute("_result.html", "table_start")(self._caption))

    def feed(self, data: bytes) -> str:
        return self._rows(self._splitter.feed(self._decoder.decode(data)))

    def close(self) -> str:
        rows = self._splitter.feed(self._decoder.decode(b"", final=True)) + self._splitter.close()
        return self._rows(rows) + self.abort()

    def abort(self) -> str:
        return self._header_html([]) + str(get_template_attribute("_result.html", "table_end")(self._had_header))

    def _rows(self, rows: list[list[str]]) -> str:
        # csv gives [] for a blank line; it is no row of the table.
        rows = [row for row in rows if row]
        if self._header is None and rows:
            self._header, rows = rows[0], rows[1:]
        if not rows:
            return ""
        # A header alone is no result: the page then says there was none.
        self.empty = False
        cells = [[(cell, is_number(cell)) for cell in row] for row in rows]
        return self._header_html(cells[0]) + str(get_template_attribute("_result.html", "table_rows")(cells))

    def _header_html(self, first_row: list[tuple[str, bool]]) -> str:
        """The header row, once: aligned as `first_row` is (left where it has no cell)."""
        if self._had_header or self._header is None:
            return ""
        self._had_header = True
        numbers = [number for _, number in first_row]
        cells = [(name, i < len(numbers) and numbers[i]) for i, name in enumerate(self._header)]
        return str(get_template_attribute("_result.html", "table_header")(cells))


def is_number(cell: str) -> bool:
    return NUMBER_RE.fullmatch(cell.strip()) is not None


def page_response(
    report: Report, meta: Meta, job: Job, first: list[bytes], fields: Callable[[], list[tuple[str, str]]]
) -> Response:
    """A 200 page that shows the job's output as it comes; it owns `job` from now on.

    A job that has already ended (its whole output is in `first`) gets the
    page in one piece, with a Content-Length; a running one, a stream.
    """
    kind = kind_of(meta)
    frame = result_frame(report, kind)
    renderer: _TextRenderer | _TableRenderer
    if kind == "table":
        renderer = _TableRenderer(report.title)
        download = str(get_template_attribute("_result.html", "download_form")(report, fields()))
    else:
        renderer, download = _TextRenderer(frame), ""
    head = frame.head + download + frame.middle

    def generate() -> Iterator[str]:
        problem: Problem | None = None
        try:
            yield head + renderer.start()
            for early in first:
                yield renderer.feed(early) or KEEPALIVE
            while (data := job.read_chunk(IDLE_SECONDS)) is not None:
                yield (renderer.feed(data) if data else "") or KEEPALIVE
            yield renderer.close()
        except CSVTooLong as exc:
            problem = Problem(502, _("The report's table is malformed"), _("A row of the table is too long to show."))
            current_app.logger.warning("report %s: %s", report.name, exc)
            yield renderer.abort()
        finally:
            # Also reached when the browser went away (GeneratorExit): the
            # job is then cancelled on the sys side.
            job.close()
        if problem is None and job.status is not None and not job.status.ok:
            problem = explain(job.status)
        if problem is None:
            yield (frame.done_empty if renderer.empty else frame.done) + frame.tail
        else:
            yield str(get_template_attribute("_result.html", "outcome")(problem, renderer.empty)) + frame.tail

    if job.status is not None:
        # Nothing left to wait for: no keep-alives are needed, and one
        # write is cheaper than a chunk per piece.
        return Response("".join(generate()), status=200, mimetype="text/html")
    response = Response(stream_with_context(generate()), status=200, mimetype="text/html")
    # A generator that is never started has no `finally` to run.
    response.call_on_close(job.close)
    # Proxies such as nginx would otherwise hold the page until it is complete.
    response.headers["X-Accel-Buffering"] = "no"
    return response


def download_response(report: Report, meta: Meta, job: Job, first: list[bytes]) -> Response:
    """The job's output as a file to save; it owns `job` from now on."""

    def generate() -> Iterator[bytes]:
        try:
            yield from first
            while (data := job.read_chunk(IDLE_SECONDS)) is not None:
                if data:
                    yield data
        finally:
            job.close()
        status = job.status
        if status is not None and not status.ok:
            current_app.logger.warning(
                "report %s: download cut off after %d bytes: %s %s",
                report.name,
                job.bytes_received,
                status.status.value,
                status.message,
            )
            raise IncompleteDownload(f"report {report.name}: {status.status.value}: {status.message}")

    content_type = f"{meta.type}; charset=utf-8" if meta.type.startswith("text/") else meta.type
    if job.status is not None and job.status.ok:
        # The whole file is in `first`: one write, with a Content-Length.
        job.close()
        response = Response(b"".join(first), status=200, content_type=content_type)
    else:
        response = Response(stream_with_context(generate()), status=200, content_type=content_type)
        response.call_on_close(job.close)
    response.headers.set("Content-Disposition", "attachment", filename=meta.filename or default_filename(report, meta))
    response.headers["X-Accel-Buffering"] = "no"
    return response


def default_filename(report: Report, meta: Meta) -> str:
    """A download name for a job whose map gives none: the report's name and an extension."""
    extension = ".csv" if meta.type == CSV_TYPE else mimetypes.guess_extension(meta.type, strict=False) or ""
    return report.name + extension
