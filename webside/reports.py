"""The report pages: the list, a report's form, and running it.

Rules:
1. The form is the first check, for the user's sake; the sys side checks
   every field again and has the last word (a refusal comes back as 422).
2. A job is always closed: by this view when it answers with a page of its
   own, or by the streamed response that takes it over.
"""

from __future__ import annotations

import contextlib
import re

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from wtforms import Form

from hole import Status, StatusRecord
from webside.client import DaemonUnavailable, HoleClient, SubmitError
from webside.errors import render_problem
from webside.problems import explain, rejection_reason, unavailable
from webside.registry import Registry, Report
from webside.results import download_response, kind_of, page_response, wait_first

bp = Blueprint("reports", __name__, url_prefix="/r")

REGISTRY_KEY = "hole_registry"
# Form fields that steer the page rather than the job.
CONTROL_FIELDS = ("csrf_token", "download", "download_token")
# Set by app.js on submit; echoed in a cookie when a download starts, so the
# form page can stop showing "Working…".
DOWNLOAD_TOKEN_RE = re.compile(r"[0-9a-z]{8,32}")
DOWNLOAD_COOKIE = "hole_download"


def registry() -> Registry:
    """The app's loaded reports."""
    loaded = current_app.extensions[REGISTRY_KEY]
    assert isinstance(loaded, Registry)
    return loaded


def _find(name: str) -> Report:
    report = registry().reports.get(name)
    if report is None:
        abort(404)
    return report


def index() -> ResponseReturnValue:
    reports = sorted(registry().reports.values(), key=lambda r: r.title.casefold())
    return render_template("index.html", reports=reports)


@bp.get("/<name>")
def form(name: str) -> ResponseReturnValue:
    report = _find(name)
    return render_template("form.html", report=report, form=report.make_form())


def _hole_client() -> HoleClient:
    """The app's one hole client: it keeps the daemon FIFO open across requests.

    One per request would open (and leave open) a writer per report, until
    the worker runs out of file descriptors.
    """
    client = current_app.extensions.get("hole_client")
    if client is None:
        client = HoleClient(current_app.config["HOLE_SPOOL"], timeout=current_app.config["HOLE_TIMEOUT"])
        # setdefault: two threads racing here keep the same one.
        client = current_app.extensions.setdefault("hole_client", client)
    assert isinstance(client, HoleClient)
    return client


@bp.post("/<name>")
def run(name: str) -> ResponseReturnValue:
    report = _find(name)
    report_form = report.make_form()
    if not report_form.validate():
        return render_template("form.html", report=report, form=report_form), 400
    fields = report.prepare(report_form)
    client = _hole_client()
    try:
        job = client.submit(report.job, fields)
    except DaemonUnavailable as exc:
        current_app.logger.warning("report %s: %s", report.name, exc)
        return render_problem(unavailable(str(exc), daemon_down=True), report)
    except SubmitError as exc:
        current_app.logger.warning("report %s: %s", report.name, exc)
        return render_problem(unavailable(str(exc), daemon_down=False), report)
    with contextlib.ExitStack() as owned:
        owned.callback(job.close)
        meta = job.wait_meta()
        if meta is None:
            assert job.status is not None
            return _refused(report, report_form, job.status)
        first = wait_first(job, current_app.config["HOLE_STREAM_GRACE"])
        download = request.form.get("download") == "1" or kind_of(meta) == "file"
        failed = job.status is not None and not job.status.ok
        # A page shows what output there was above the error; a file that
        # failed before it went out is no file at all.
        if failed and (download or not first):
            assert job.status is not None
            return render_problem(explain(job.status), report)
        response: Response
        if download:
            response = download_response(report, meta, job, first)
            _echo_download_token(response)
        else:
            response = page_response(report, meta, job, first, _resubmit_fields)
        owned.pop_all()
        return response


def _refused(report: Report, report_form: Form, status: StatusRecord) -> ResponseReturnValue:
    """The page for a job that ended before it ran: the form again, or an error page."""
    if status.status is not Status.REJECTED:
        return render_problem(explain(status), report)
    name = status.details.get("field")
    field = report_form[name] if isinstance(name, str) and name in report_form else None
    problem = explain(status, label=str(field.label.text) if field is not None else "")
    if field is not None:
        reason = rejection_reason(status.details, status.message)
        field.errors = [*field.errors, reason[:1].upper() + reason[1:]]
    return render_template("form.html", report=report, form=report_form, problem=problem), problem.code


def _resubmit_fields() -> list[tuple[str, str]]:
    """The posted fields, to post again from the result page's download button."""
    return [(key, value) for key, value in request.form.items(multi=True) if key not in CONTROL_FIELDS]


def _echo_download_token(response: Response) -> None:
    token = request.form.get("download_token", "")
    if DOWNLOAD_TOKEN_RE.fullmatch(token):
        response.set_cookie(
            DOWNLOAD_COOKIE,
            token,
            max_age=60,
            path="/",
            secure=current_app.config["HOLE_SECURE_COOKIES"],
            httponly=False,  # app.js reads it
            samesite="Lax",
        )
