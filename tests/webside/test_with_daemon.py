"""The web side against a real daemon: results, refusals, failures and cancellation.

The demo's job map gives the realistic cases; a small map of our own gives
the awkward ones (markup in the output, bad UTF-8, CSV with quoted
newlines, a binary download, failures before and after the page starts).
"""

import csv
import html
import io
import os
import re
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import DaemonFactory, RunningDaemon
from tests.webside.conftest import AppFactory
from tests.webside.support import DEMO_STUBS, TestApp, main_text, write_stub
from webside.client import HoleClient
from webside.results import IncompleteDownload

PYTHON = os.path.realpath(sys.executable)

# Output that must reach the page exactly, and that HTML would misread.
TRICKY_OUTPUT = (
    b"\n<b>not bold</b> & &amp; \"quoted\" 'single' <!-- not a comment --> ]]>\n"
    b"<script>alert(1)</script>\n"
    b"caf\xc3\xa9 \xff end\n"
)
PDF_BYTES = b"%PDF-1.4\n" + bytes(range(256)) + b"\n%%EOF\n"

PROGRAMS = {
    "tricky": f"import sys\nsys.stdout.buffer.write({TRICKY_OUTPUT!r})\n",
    "pdf": f"import sys\nsys.stdout.buffer.write({PDF_BYTES!r})\n",
    "csv_rows": """
        import csv, sys
        out = csv.writer(sys.stdout, lineterminator="\\r\\n")
        out.writerow(["id", "text, with comma", 'say "hi"'])
        for n in range(3000):
            out.writerow([n, f"line one\\nline two {n}", f'<td>{n}</td> & "{n}"'])
    """,
    "sleepy": "import time\ntime.sleep(30)\n",
    "long_cell": "import sys\nsys.stdout.write('name,value\\nbig,\"' + 'x' * (1100 * 1024) + '\"\\n')\n",
    "fail": "import sys\nprint('no such ledger', file=sys.stderr)\nsys.exit(3)\n",
    "slow_fail": """
        import sys, time
        print("partial line", flush=True)
        time.sleep(1.5)
        print("the disk is on fire", file=sys.stderr)
        sys.exit(2)
    """,
    "slow_download": """
        import sys, time
        sys.stdout.buffer.write(b"first part\\n")
        sys.stdout.flush()
        time.sleep(1.5)
        sys.exit(1)
    """,
}

JOBS = """
[jobs.echo]
title = "Echo"
fields.text = {{ type = "lines", max = 2000, required = true }}
steps = [{{ run = ["/bin/cat"], stdin = "{{text}}" }}]

[jobs.tricky]
title = "Tricky"
steps = [{{ run = ["{bin}/tricky"] }}]

[jobs.table]
title = "Table"
output = "text/csv"
filename = "table.csv"
steps = [{{ run = ["{bin}/csv_rows"] }}]

[jobs.pdf]
title = "PDF"
output = "application/pdf"
filename = "report.pdf"
steps = [{{ run = ["{bin}/pdf"] }}]

[jobs.empty]
title = "Empty"
steps = [{{ run = ["/bin/true"] }}]

[jobs.sleepy]
title = "Sleepy"
timeout = "1s"
steps = [{{ run = ["{bin}/sleepy"] }}]

[jobs.patient]
title = "Patient"
timeout = "30s"
steps = [{{ run = ["{bin}/sleepy"] }}]

[jobs.fail]
title = "Fail"
steps = [{{ run = ["/bin/true"] }}, {{ run = ["{bin}/fail"] }}, {{ run = ["/bin/cat"] }}]

[jobs.slow_fail]
title = "Slow fail"
steps = [{{ run = ["{bin}/slow_fail"] }}]

[jobs.long_cell]
title = "Long cell"
output = "text/csv"
steps = [{{ run = ["{bin}/long_cell"] }}]

[jobs.broken_pdf]
title = "Broken PDF"
output = "application/pdf"
steps = [{{ run = ["{bin}/fail"] }}]

[jobs.slow_download]
title = "Slow download"
output = "application/octet-stream"
steps = [{{ run = ["{bin}/slow_download"] }}]
"""

# A stub for each job above: no fields, except echo's one text area.
FIXED_STUB = """
from flask_wtf import FlaskForm

JOB = "{job}"


class NoFields(FlaskForm):
    pass


def show_form() -> NoFields:
    return NoFields()


def prepare_input(form: NoFields) -> dict[str, str]:
    return {{}}
"""

ECHO_STUB = """
from flask_wtf import FlaskForm
from wtforms import TextAreaField


class EchoForm(FlaskForm):
    text = TextAreaField("Text")


def show_form() -> EchoForm:
    return EchoForm()


def prepare_input(form: EchoForm) -> dict[str, str]:
    return {"text": form.text.data or ""}
"""

# b12 with a form that checks nothing, so the job map's check is seen.
LOOSE_B12_STUB = """
from flask_wtf import FlaskForm
from wtforms import StringField

JOB = "b12"


class LooseForm(FlaskForm):
    account = StringField("Account number")
    year = StringField("Year")


def show_form() -> LooseForm:
    return LooseForm()


def prepare_input(form: LooseForm) -> dict[str, str]:
    return {"account": form.account.data or "", "year": form.year.data or ""}
"""

# A report whose job the map does not have.
UNKNOWN_STUB = FIXED_STUB.format(job="not_in_the_map")


@pytest.fixture
def own_jobs(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in PROGRAMS.items():
        # Run by its #! line, so the step's program is named after the script.
        path = bin_dir / name
        path.write_text(f"#!{PYTHON} -IS\n" + textwrap.dedent(body))
        path.chmod(0o755)
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(JOBS.format(bin=bin_dir))
    return jobs_file


@pytest.fixture
def own_stubs(tmp_path: Path) -> Path:
    folder = tmp_path / "stubs"
    for job in (
        "tricky",
        "table",
        "pdf",
        "empty",
        "sleepy",
        "patient",
        "fail",
        "slow_fail",
        "slow_download",
        "broken_pdf",
        "long_cell",
    ):
        write_stub(folder, job, FIXED_STUB.format(job=job))
    write_stub(folder, "echo", ECHO_STUB)
    write_stub(folder, "loose_b12", LOOSE_B12_STUB)
    write_stub(folder, "unknown", UNKNOWN_STUB)
    return folder


@pytest.fixture
def own_daemon(own_jobs: Path, daemon_factory: DaemonFactory) -> RunningDaemon:
    return daemon_factory(own_jobs)


@pytest.fixture
def own_app(make_app: AppFactory, own_daemon: RunningDaemon, own_stubs: Path) -> Callable[..., Any]:
    """A WebTest client on our own jobs; keywords change settings."""

    def make(**settings: Any) -> Any:
        config = {"HOLE_SPOOL": str(own_daemon.spool), "STUBS_DIR": str(own_stubs), "WTF_CSRF_ENABLED": False}
        return TestApp(make_app({**config, **settings}))

    return make


@pytest.fixture
def demo_app(make_app: AppFactory, demo_daemon: RunningDaemon) -> Flask:
    return make_app(HOLE_SPOOL=str(demo_daemon.spool), STUBS_DIR=str(DEMO_STUBS))


def pre_text(page: Any) -> str:
    """The exact text a browser shows in the output <pre>."""
    match = re.search(r'<pre class="output" tabindex="0">\n(.*?)</pre>', page.text, re.DOTALL)
    assert match is not None, page.text
    return html.unescape(match[1].replace("<!---->", ""))


def assert_no_job_left(spool: Path) -> None:
    assert list((spool / "jobs").iterdir()) == []


def test_good_submission_shows_the_output_exactly(demo_app: Flask, demo_daemon: RunningDaemon) -> None:
    client = TestApp(demo_app)
    form = client.get("/r/b12").forms[0]
    form["account"] = "10000001"
    form["year"] = "2024"
    page = form.submit(status=200)
    expected, status = HoleClient(demo_daemon.spool, timeout=30).run("b12", {"account": "10000001", "year": "2024"})
    assert status.ok
    assert pre_text(page) == expected.decode()
    assert page.html.find(id="done").get_text() == "The report is complete."
    assert page.html.find(class_="error-box") is None
    assert_no_job_left(demo_daemon.spool)


def test_markup_and_bad_utf8_in_the_output_are_shown_as_text(own_app: Callable[..., Any]) -> None:
    page = own_app().post("/r/tricky", status=200)
    assert pre_text(page) == TRICKY_OUTPUT.decode("utf-8", "replace")
    assert "<b>not bold</b>" not in page.text
    assert "<script>alert(1)" not in page.text


def test_what_the_user_typed_comes_back_escaped_byte_for_byte(own_app: Callable[..., Any]) -> None:
    text = '<img src=x onerror="alert(1)"> &lt; \u00e9\u4e2d\n  indented\tand tabbed\n'
    page = own_app().post("/r/echo", {"text": text}, status=200)
    assert pre_text(page) == text
    assert "<img" not in page.text


def test_rejection_is_422_naming_the_field_next_to_it(
    make_app: AppFactory, demo_daemon: RunningDaemon, own_stubs: Path
) -> None:
    client = TestApp(make_app(HOLE_SPOOL=str(demo_daemon.spool), STUBS_DIR=str(own_stubs)))
    form = client.get("/r/loose_b12").forms[0]
    form["account"] = "1234"
    form["year"] = "2024"
    page = form.submit(status=422)
    box = " ".join(page.html.find(class_="error-box").get_text().split())
    assert "refused the field “Account number”: at least 8 characters are needed." in box
    assert page.html.find(id="account-err").get_text(strip=True) == "At least 8 characters are needed."
    assert page.html.find("input", attrs={"name": "account"})["value"] == "1234"
    assert page.html.find(id="year-err") is None
    assert_no_job_left(demo_daemon.spool)


def test_rejection_in_french(make_app: AppFactory, demo_daemon: RunningDaemon, own_stubs: Path) -> None:
    client = TestApp(make_app(HOLE_SPOOL=str(demo_daemon.spool), STUBS_DIR=str(own_stubs), WTF_CSRF_ENABLED=False))
    page = client.post("/r/loose_b12?lang=fr", {"account": "10000001", "year": "3000"}, status=422)
    assert page.html.find(id="year-err").get_text(strip=True) == "La valeur doit être comprise entre 1990 et 2100."


def test_step_failed_is_502_naming_the_step(own_app: Callable[..., Any]) -> None:
    page = own_app().post("/r/fail", status=502)
    text = main_text(page)
    assert "Step 2 of the report (fail) failed with exit status 3." in text
    assert "no such ledger" in text


def test_demo_account_without_access_is_502(demo_app: Flask) -> None:
    form = TestApp(demo_app).get("/r/b12").forms[0]
    form["account"] = "99999999"
    form["year"] = "2024"
    page = form.submit(status=502)
    text = main_text(page)
    assert "Step 2 of the report (authorize) failed with exit status 1." in text
    assert page.html.find("a", string="Back to the form")["href"] == "/r/b12"


def test_failure_after_the_page_started_ends_in_an_error_box(own_app: Callable[..., Any]) -> None:
    page = own_app(HOLE_STREAM_GRACE=0.5).post("/r/slow_fail", status=200)
    assert pre_text(page) == "partial line\n"
    box = page.html.find("div", class_="error-box")
    assert "Step 1 of the report (slow_fail) failed with exit status 2." in box.get_text()
    assert page.html.find(id="done").get_text() == "The report ended with an error."
    # The box comes after the output.
    assert page.text.index("partial line") < page.text.index('class="error-box"')


def test_sys_side_timeout_is_504(own_app: Callable[..., Any], own_daemon: RunningDaemon) -> None:
    page = own_app(HOLE_STREAM_GRACE=5.0).post("/r/sleepy", status=504)
    assert "The report took longer than 1 seconds and was stopped." in main_text(page)
    assert_no_job_left(own_daemon.spool)


def test_web_side_timeout_is_504_and_cancels_the_job(own_app: Callable[..., Any], own_daemon: RunningDaemon) -> None:
    page = own_app(HOLE_TIMEOUT=0.5, HOLE_STREAM_GRACE=5.0).post("/r/patient", status=504)
    assert "The report took longer than 0.5 seconds" in main_text(page)
    events = own_daemon.wait_for(lambda events: any(e.get("event") == "job" for e in events))
    [record] = [e for e in events if e.get("event") == "job"]
    assert (record["job"], record["outcome"]) == ("patient", "interrupted")


def test_dead_daemon_is_503(own_app: Callable[..., Any], own_daemon: RunningDaemon) -> None:
    client = own_app()
    own_daemon.stop()
    page = client.post("/r/tricky", status=503, expect_errors=True)
    assert "The report service is not running. Try again later." in main_text(page)
    assert_no_job_left(own_daemon.spool)


def test_busy_daemon_is_503(
    own_jobs: Path, own_stubs: Path, daemon_factory: DaemonFactory, make_app: AppFactory
) -> None:
    daemon = daemon_factory(own_jobs, "--max-jobs", "1")
    client = TestApp(make_app(HOLE_SPOOL=str(daemon.spool), STUBS_DIR=str(own_stubs), WTF_CSRF_ENABLED=False))
    with HoleClient(daemon.spool, timeout=30).submit("patient", {}) as running:
        assert running.wait_meta() is not None
        page = client.post("/r/tricky", status=503)
    assert "The report service is busy" in main_text(page)


def test_unknown_job_is_a_500_page(own_app: Callable[..., Any]) -> None:
    page = own_app().post("/r/unknown", status=500)
    assert "This report is not configured on the server. Tell the webmaster." in main_text(page)


def test_empty_output_says_so(own_app: Callable[..., Any]) -> None:
    page = own_app().post("/r/empty", status=200)
    assert pre_text(page) == ""
    assert "The report produced no output." in main_text(page)


def test_csv_is_a_table_with_a_header_row(own_app: Callable[..., Any], own_daemon: RunningDaemon) -> None:
    page = own_app().post("/r/table", status=200)
    output, _ = HoleClient(own_daemon.spool, timeout=30).run("table", {})
    expected = list(csv.reader(io.StringIO(output.decode(), newline="")))
    table = page.html.find("table")
    assert [th.get_text() for th in table.thead.find_all("th")] == expected[0]
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in table.tbody.find_all("tr")]
    assert rows == expected[1:]
    assert "<td>0</td> &" not in page.text


def test_csv_record_too_long_to_show_ends_in_an_error_box(own_app: Callable[..., Any]) -> None:
    page = own_app().post("/r/long_cell", status=200)
    assert [th.get_text() for th in page.html.find("table").find_all("th")] == ["name", "value"]
    assert "A row of the table is too long to show." in page.html.find("div", class_="error-box").get_text()
    assert page.html.find(id="done") is not None


def test_csv_download_button_posts_the_same_fields(demo_app: Flask, demo_daemon: RunningDaemon) -> None:
    client = TestApp(demo_app)
    form = client.get("/r/spending").forms[0]
    form["category"] = "travel"
    form["year"] = "2024"
    page = form.submit(status=200)
    assert page.html.find("table") is not None
    download_form = page.forms[0]
    assert download_form["download"].value == "1"
    assert (download_form["category"].value, download_form["year"].value) == ("travel", "2024")
    download = download_form.submit(status=200)
    expected, status = HoleClient(demo_daemon.spool, timeout=30).run("spending", {"category": "travel", "year": "2024"})
    assert status.ok
    assert download.body == expected
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert download.headers["Content-Disposition"] == "attachment; filename=spending-travel-2024.csv"


def test_download_sets_the_cookie_the_form_page_waits_for(own_app: Callable[..., Any]) -> None:
    download = own_app().post("/r/pdf", {"download_token": "0123456789abcdef"}, status=200)
    cookies = download.headers.getall("Set-Cookie")
    assert any(c.startswith("hole_download=0123456789abcdef;") for c in cookies)
    assert not any(
        "hole_download" in c for c in own_app().post("/r/pdf", {"download_token": "<x>"}).headers.getall("Set-Cookie")
    )


def test_other_types_are_a_download(own_app: Callable[..., Any]) -> None:
    download = own_app().post("/r/pdf", status=200)
    assert download.body == PDF_BYTES
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"] == "attachment; filename=report.pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_download_that_fails_after_it_started_is_cut_off(own_app: Callable[..., Any]) -> None:
    with pytest.raises(IncompleteDownload, match="step_failed"):
        own_app(HOLE_STREAM_GRACE=0.5).post("/r/slow_download", expect_errors=True)


def test_download_that_fails_at_once_is_an_error_page(own_app: Callable[..., Any]) -> None:
    page = own_app().post("/r/broken_pdf", status=502)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Step 1 of the report (fail) failed with exit status 3." in main_text(page)


def test_slow_report_streams_and_closing_the_page_cancels_it(demo_app: Flask, demo_daemon: RunningDaemon) -> None:
    demo_app.config["WTF_CSRF_ENABLED"] = False
    started = time.monotonic()
    response = demo_app.test_client().post("/r/yearend", data={"year": "2024"}, buffered=False)
    assert response.status_code == 200
    received = ""
    for piece in response.response:
        received += piece.decode() if isinstance(piece, bytes) else piece
        if "10000002" in received:
            break
    # Streamed: the first lines came long before the report's end.
    assert time.monotonic() - started < 3.0
    assert 'class="working"' in received
    assert 'id="done"' not in received
    response.close()
    events = demo_daemon.wait_for(lambda events: any(e.get("event") == "job" for e in events), timeout=3.0)
    [record] = [e for e in events if e.get("event") == "job"]
    assert (record["job"], record["outcome"]) == ("yearend", "interrupted")
    assert time.monotonic() - started < 4.0
    assert_no_job_left(demo_daemon.spool)


def test_a_job_ended_before_the_answer_is_one_page_with_a_length(own_app: Callable[..., Any]) -> None:
    # /bin/cat ends within the daemon's cork: output and status come in one piece.
    response = own_app().app.test_client().post("/r/echo", data={"text": "hello"}, buffered=False)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(response.get_data()))
    assert 'id="done"' in response.get_data(as_text=True)


def test_a_running_job_is_streamed_without_a_length(own_app: Callable[..., Any]) -> None:
    client = own_app(HOLE_STREAM_GRACE=0.5).app.test_client()
    response = client.post("/r/slow_fail", buffered=False)
    assert response.status_code == 200
    assert "Content-Length" not in response.headers
    assert "partial line" in response.get_data(as_text=True)


def test_result_pages_are_framed_in_each_language_and_table_forms_are_fresh(
    make_app: AppFactory, demo_daemon: RunningDaemon
) -> None:
    app = make_app(HOLE_SPOOL=str(demo_daemon.spool), STUBS_DIR=str(DEMO_STUBS))
    client = TestApp(app)
    fields = {"account": "10000001", "year": "2024"}
    english = client.post("/r/b12", {**fields, "csrf_token": _token(client, "/r/b12")}, status=200)
    french = client.post("/r/b12?lang=fr", {**fields, "csrf_token": _token(client, "/r/b12")}, status=200)
    again = client.post("/r/b12", {**fields, "csrf_token": _token(client, "/r/b12?lang=en")}, status=200)
    assert english.html.find(id="done").get_text() == "The report is complete."
    assert french.html.find("html")["lang"] == "fr"
    assert french.html.find(id="done").get_text() == "Le rapport est terminé."
    assert again.text == english.text
    # A table's download form carries this request's fields, not a kept copy's.
    for category in ("travel", "supplies"):
        token = _token(client, "/r/spending")
        page = client.post("/r/spending", {"category": category, "year": "2024", "csrf_token": token}, status=200)
        assert page.forms[0]["category"].value == category


def test_result_frames_are_not_kept_while_templates_reload(own_app: Callable[..., Any]) -> None:
    client = own_app(TEMPLATES_AUTO_RELOAD=True)
    client.post("/r/tricky", status=200)
    assert "hole_page_frames" not in client.app.extensions
    kept = own_app()
    kept.post("/r/tricky", status=200)
    assert len(kept.app.extensions["hole_page_frames"]) == 1


def _token(client: Any, path: str) -> str:
    return str(client.get(path).forms[0]["csrf_token"].value)
