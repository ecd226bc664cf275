"""The result page's frame: the page around a report's output, rendered once and kept.

Rules:
1. A frame depends only on the report, the page's language, the kind of
   result and the site's root path. Per-request values (the CSRF token, the
   posted fields) live in the table's download form, which is rendered for
   each request and put in the frame's place for it.
2. Frames are kept only while templates cannot change under the app (no
   auto-reload), and at most MAX_FRAMES of them, so that no header a client
   sends (a proxy's prefix, say) can grow the cache without bound.

The whole page otherwise costs more to render than everything else a
report's POST does in the web worker (about a quarter of its CPU time).
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from flask import current_app, get_template_attribute, render_template, request
from markupsafe import Markup

from webside.i18n import current_locale
from webside.registry import Report

# Stand-ins for the output and the download form in the rendered page;
# nothing escaped can look like them.
BODY_MARK = Markup("<!--body-->")
DOWNLOAD_MARK = Markup("<!--download-->")
MAX_FRAMES = 512
_EXTENSION_KEY = "hole_page_frames"


class Frame(NamedTuple):
    """The page in three parts (the download form goes between the first
    two, the output between the last two), and the pieces of a result that
    are the same on every page of its kind and language."""

    head: str
    middle: str
    tail: str
    text_start: str
    text_end: str
    # The closing line of a report that ended well, with output and without.
    done: str
    done_empty: str


def result_frame(report: Report, kind: str) -> Frame:
    """The frame of `report`'s result page of `kind` ("text" or "table") for this request."""
    key = (report.name, current_locale(), kind, request.script_root)
    frames = _frames()
    if frames is not None:
        frame = frames.get(key)
        if frame is not None:
            return frame
    frame = _render(report, kind)
    if frames is not None and len(frames) < MAX_FRAMES:
        frames[key] = frame
    return frame


def _frames() -> dict[tuple[str, str, str, str], Frame] | None:
    app = current_app
    if app.jinja_env.auto_reload:
        return None
    frames = app.extensions.get(_EXTENSION_KEY)
    if frames is None:
        with _LOCK:
            frames = app.extensions.setdefault(_EXTENSION_KEY, {})
    assert isinstance(frames, dict)
    return frames


_LOCK = threading.Lock()


def _render(report: Report, kind: str) -> Frame:
    # The stub's title, not the job map's: the stub's is in the user's language.
    page = render_template(
        "result.html", report=report, title=report.title, kind=kind, body=BODY_MARK, download_form=DOWNLOAD_MARK
    )
    before, tail = page.split(BODY_MARK)
    head, _, middle = before.partition(DOWNLOAD_MARK)
    outcome = get_template_attribute("_result.html", "outcome")
    return Frame(
        head,
        middle,
        tail,
        text_start=str(get_template_attribute("_result.html", "text_start")()),
        text_end=str(get_template_attribute("_result.html", "text_end")()),
        done=str(outcome(None, False)),
        done_empty=str(outcome(None, True)),
    )
