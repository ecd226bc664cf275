"""Error pages: every failure is a page in the user's language, never a traceback.

Rules:
1. HTTP errors raised anywhere (404, 413, a CSRF failure...) and job
   failures (422, 502, 503, 504) are rendered by the same template.
2. An unexpected exception is logged with its traceback and shown as a
   plain 500 page.
"""

from __future__ import annotations

from flask import Flask, current_app, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from webside.i18n import _
from webside.problems import Problem
from webside.registry import Report, StubError


def render_problem(problem: Problem, report: Report | None = None) -> tuple[str, int]:
    """The error page for `problem`, with its status code."""
    return render_template("error.html", problem=problem, report=report), problem.code


def _http_problem(code: int) -> Problem:
    if code == 400:
        return Problem(400, _("Bad request"), _("The browser sent a request this site cannot read. Reload the page."))
    if code == 403:
        return Problem(403, _("Not allowed"), _("You may not do that here."))
    if code == 404:
        return Problem(404, _("Page not found"), _("There is no such page. The report list has every report."))
    if code == 405:
        return Problem(405, _("Not allowed"), _("This page cannot be used that way. Start again from the report list."))
    if code == 413:
        return Problem(413, _("Request too large"), _("The form sent too much data. Shorten the values and try again."))
    return Problem(code, _("Something went wrong"), _("The site could not handle this request. Try again later."))


def _csrf_failed(error: CSRFError) -> tuple[str, int]:
    problem = Problem(
        403,
        _("The form has expired"),
        _("The form was too old, or was not sent from this site. Go back, reload the form and try again."),
        detail=error.description,
    )
    return render_problem(problem)


def _http_error(error: HTTPException) -> tuple[str, int]:
    return render_problem(_http_problem(error.code or 500))


def _internal_error(error: InternalServerError) -> tuple[str, int]:
    # Flask has already logged the original exception with its traceback.
    return render_problem(_http_problem(500))


def _stub_error(error: StubError) -> tuple[str, int]:
    # Logged here because a handled exception is not logged by Flask.
    current_app.logger.error("report stub broke its contract: %s", error)
    problem = Problem(
        500,
        _("This report is broken"),
        _("This report's form does not work. Tell the webmaster."),
    )
    return render_problem(problem)


def init_app(app: Flask) -> None:
    """Register the error pages."""
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _internal_error)
    app.register_error_handler(StubError, _stub_error)
