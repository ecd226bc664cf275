"""The pages, through HTTP: the list, the forms, their checks, and the error pages."""

import datetime
import re
from pathlib import Path
from typing import Any

import pytest

from tests.webside.conftest import AppFactory
from tests.webside.support import GOOD_STUB, TestApp, main_text, write_stub


def test_index_lists_every_report_with_title_description_and_link(client: Any) -> None:
    page = client.get("/")
    items = page.html.select("ul.reports li")
    found = {item.a["href"]: (item.a.get_text(), item.p.get_text()) for item in items}
    assert found["/r/b12"] == (
        "Budget report 12",
        "Budget against actuals, by category, for one account and fiscal year.",
    )
    assert set(found) == {"/r/b12", "/r/spending", "/r/ledger", "/r/yearend"}


def test_index_with_no_stubs_says_so(make_app: AppFactory, tmp_path: Path) -> None:
    page = TestApp(make_app(STUBS_DIR=str(tmp_path / "none"))).get("/")
    assert "No report is available yet." in main_text(page)


def test_form_renders_with_a_csrf_token(client: Any) -> None:
    page = client.get("/r/b12")
    form = page.forms[0]
    assert form.method.upper() == "POST"
    assert form.action == "/r/b12"
    assert len(form["csrf_token"].value) > 20
    assert {"account", "year"} <= set(form.fields)
    # Every visible input has a label bound to it.
    for name in ("account", "year"):
        field = page.html.find(attrs={"name": name})
        assert page.html.find("label", attrs={"for": field["id"]}) is not None


def test_field_description_is_tied_to_its_input(client: Any) -> None:
    page = client.get("/r/b12")
    account = page.html.find("input", attrs={"name": "account"})
    hint = page.html.find(id=account["aria-describedby"])
    assert hint.get_text() == "The account number: 8 digits."


def test_unknown_report_is_a_friendly_404(client: Any) -> None:
    page = client.get("/r/nope", status=404)
    assert "Page not found" in main_text(page)
    assert "Traceback" not in page.text


def test_post_without_csrf_token_is_refused_with_a_friendly_page(client: Any) -> None:
    page = client.post("/r/b12", {"account": "10000001", "year": "2024"}, status=403)
    assert "The form has expired" in main_text(page)
    assert "reload the form" in main_text(page)


def test_post_with_a_forged_csrf_token_is_refused(client: Any) -> None:
    client.get("/r/b12")
    page = client.post("/r/b12", {"account": "10000001", "year": "2024", "csrf_token": "forged"}, status=403)
    assert "The form has expired" in main_text(page)


def test_field_errors_show_next_to_fields_and_input_is_kept(client: Any) -> None:
    form = client.get("/r/b12").forms[0]
    form["account"] = "12ab"
    form["year"] = "1989"
    page = form.submit(status=400)
    account = page.html.find("input", attrs={"name": "account"})
    assert account["value"] == "12ab"
    assert account["aria-invalid"] == "true"
    errors = page.html.find(id="account-err")
    assert errors.get_text(strip=True) == "Enter the 8 digits of the account number."
    assert "account-err" in account["aria-describedby"].split()
    year = page.html.find("input", attrs={"name": "year"})
    assert year["value"] == "1989"
    assert "1990" in page.html.find(id="year-err").get_text()
    # The summary at the top links to each field in error.
    links = [a["href"] for a in page.html.select(".error-box a")]
    assert links == ["#account", "#year"]


def test_form_level_check_of_two_fields(client: Any) -> None:
    form = client.get("/r/ledger").forms[0]
    form["account"] = "10000001"
    form["start"] = "2024-03-01"
    form["end"] = "2024-02-01"
    page = form.submit(status=400)
    assert "The last day cannot come before the first." in page.html.find(id="end-err").get_text()


def test_valid_post_with_no_daemon_is_a_503_page(client: Any) -> None:
    form = client.get("/r/b12").forms[0]
    form["account"] = "10000001"
    form["year"] = "2024"
    # expect_errors: the app logs the failure, and WebTest counts a log line as an error.
    page = form.submit(status=503, expect_errors=True)
    text = main_text(page)
    assert "The report service is not running. Try again later." in text
    assert page.html.find("a", string="Back to the form")["href"] == "/r/b12"


def test_spool_without_jobs_folder_is_a_503_with_the_reason(make_app: AppFactory, tmp_path: Path) -> None:
    client = TestApp(make_app(HOLE_SPOOL=str(tmp_path / "nowhere"), WTF_CSRF_ENABLED=False))
    page = client.post("/r/b12", {"account": "10000001", "year": "2024"}, status=503, expect_errors=True)
    assert "has no jobs/ directory" in main_text(page)


def test_request_over_the_size_limit_is_a_413_page(client: Any) -> None:
    page = client.post("/r/b12", {"account": "1" * 70_000}, status=413)
    assert "Request too large" in main_text(page)


def test_wrong_method_is_a_friendly_405(client: Any) -> None:
    page = client.put("/r/b12", status=405)
    assert "Not allowed" in main_text(page)


def test_unexpected_error_is_a_plain_500_page(make_app: AppFactory, tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    write_stub(stubs, "crash", GOOD_STUB.replace("return EchoForm()", "raise RuntimeError('boom')"))
    app = make_app(STUBS_DIR=str(stubs), PROPAGATE_EXCEPTIONS=False)
    page = TestApp(app).get("/r/crash", status=500, expect_errors=True)
    assert "Something went wrong" in main_text(page)
    assert "boom" not in page.text
    assert "Traceback" not in page.text


def test_stub_that_returns_a_non_form_is_a_500_page(make_app: AppFactory, tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    write_stub(stubs, "odd", GOOD_STUB.replace("return EchoForm()", "return 42  # type: ignore"))
    page = TestApp(make_app(STUBS_DIR=str(stubs))).get("/r/odd", status=500, expect_errors=True)
    assert "This report is broken" in main_text(page)


def test_stub_whose_prepare_input_returns_non_strings_is_a_500_page(make_app: AppFactory, tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    write_stub(stubs, "odd", GOOD_STUB.replace('{"text": form.text.data or ""}', '{"text": 7}'))
    client = TestApp(make_app(STUBS_DIR=str(stubs), WTF_CSRF_ENABLED=False))
    page = client.post("/r/odd", {"text": "x"}, status=500, expect_errors=True)
    assert "This report is broken" in main_text(page)


def test_stub_whose_prepare_input_gives_a_bad_field_name_is_a_500_page(make_app: AppFactory, tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    write_stub(stubs, "odd", GOOD_STUB.replace('{"text": form.text.data or ""}', '{"Text": "x"}'))
    client = TestApp(make_app(STUBS_DIR=str(stubs), WTF_CSRF_ENABLED=False))
    page = client.post("/r/odd", {"text": "x"}, status=500, expect_errors=True)
    assert "This report is broken" in main_text(page)


def test_unjailed_banner_shows_on_every_page_when_set(make_app: AppFactory) -> None:
    client = TestApp(make_app(HOLE_UNJAILED=True))
    for url, status in (("/", 200), ("/r/b12", 200), ("/r/nope", 404)):
        page = client.get(url, status=status)
        assert "Not jailed." in page.html.find(class_="banner").get_text()


def test_no_unjailed_banner_by_default(client: Any) -> None:
    assert client.get("/").html.find(class_="banner") is None


def test_working_indicator_and_script_are_on_the_form_page(client: Any) -> None:
    page = client.get("/r/yearend")
    working = page.html.find(id="working")
    assert working.has_attr("hidden")
    assert working.find("button", id="cancel") is not None
    scripts = [s["src"] for s in page.html.find_all("script")]
    assert scripts == ["/static/app.js"]
    assert all(not s.string for s in page.html.find_all("script"))
    assert client.get("/static/app.js").content_type in ("text/javascript", "application/javascript")


@pytest.mark.parametrize("name", ["style.css", "app.js"])
def test_static_files_are_served(client: Any, name: str) -> None:
    assert client.get(f"/static/{name}").body


def test_select_field_offers_the_categories(client: Any) -> None:
    page = client.get("/r/spending")
    options = [(o["value"], o.get_text()) for o in page.html.select("select[name=category] option")]
    assert options[0] == ("all", "All categories")
    assert [value for value, _ in options] == ["all", "salaries", "supplies", "travel", "equipment"]


def test_year_defaults_to_this_year(client: Any) -> None:
    form = client.get("/r/b12").forms[0]
    assert form["year"].value == str(datetime.date.today().year)


def test_page_ids_are_unique(client: Any) -> None:
    page = client.get("/r/ledger")
    ids = re.findall(r'\bid="([^"]+)"', page.text)
    assert len(ids) == len(set(ids))


KINDS_STUB = """
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, TextAreaField


class KindsForm(FlaskForm):
    detail = BooleanField("Show detail", description="Adds a line per entry.")
    size = RadioField("Size", choices={"s": "Small", "l": "Large"}, description="How much to show.")
    notes = TextAreaField("Notes")


def show_form() -> KindsForm:
    return KindsForm()


def prepare_input(form: KindsForm) -> dict[str, str]:
    return {}
"""


def test_checkbox_radio_and_textarea_are_labelled(make_app: AppFactory, tmp_path: Path) -> None:
    write_stub(tmp_path / "stubs", "kinds", KINDS_STUB)
    page = TestApp(make_app(STUBS_DIR=str(tmp_path / "stubs"))).get("/r/kinds")
    checkbox = page.html.find("input", attrs={"name": "detail"})
    assert checkbox["type"] == "checkbox"
    assert page.html.find("label", attrs={"for": checkbox["id"]}).get_text() == "Show detail"
    assert page.html.find(id=checkbox["aria-describedby"]).get_text() == "Adds a line per entry."
    group = page.html.find("fieldset")
    assert group.legend.get_text() == "Size"
    assert page.html.find(id=group["aria-describedby"]).get_text() == "How much to show."
    for radio in group.find_all("input", attrs={"type": "radio"}):
        assert page.html.find("label", attrs={"for": radio["id"]}) is not None
    notes = page.html.find("textarea", attrs={"name": "notes"})
    assert page.html.find("label", attrs={"for": notes["id"]}).get_text() == "Notes"
