"""The site in a real Chromium, as a user sees it, against a real `hole up --unjailed`.

Each page is saved as a PNG in <artifacts>/screenshots/, where <artifacts>
is HOLE_ARTIFACTS or the repository's artifacts/ folder, so a person can
look at what the tests saw. The browser is the system's Chromium; these
tests never download one. Without it they skip, except under CI=true,
where a missing browser is a broken CI and they fail.
"""

from __future__ import annotations

import contextlib
import gettext
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from sysside.demo import EXAMPLE_JOB
from tests.conftest import cannot_run
from tests.sysside.test_up import RunningUp, hole_up

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
TRANSLATIONS = REPO / "webside" / "translations"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1024, "height": 768}
# Generous for a loaded CI host; a passing run takes a fraction of these.
STEP_TIMEOUT_MS = 15_000
# The yearend demo report prints a line about every 0.4 s for about 5 s.
SLOW_REPORT_TIMEOUT_MS = 30_000


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("HOLE_ARTIFACTS") or REPO / "artifacts") / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=screenshot_dir() / f"{name}.png", full_page=True)


def require_chromium() -> None:
    if os.access(CHROMIUM, os.X_OK):
        return
    cannot_run(f"Chromium at {CHROMIUM} (./bootstrap installs it; apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def site(browser: Browser) -> Iterator[RunningUp]:
    """One `hole up --unjailed` for the whole module; stopped at the end."""
    with hole_up() as running:
        yield running


@contextlib.contextmanager
def new_page(browser: Browser, *, javascript: bool = True, viewport: ViewportSize = DESKTOP) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=javascript, viewport=viewport)
    try:
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, site: RunningUp) -> Iterator[Page]:
    with new_page(browser) as opened:
        yield opened


def query(site: RunningUp, sql: str, *params: str) -> list[tuple[object, ...]]:
    """Rows of the demo's database, read-only."""
    database = site.state / "demo" / "fis.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return list(db.execute(sql, params).fetchall())


def account_of(site: RunningUp, account: str) -> str:
    """The account's name, as the demo's database has it."""
    [(name,)] = query(site, "SELECT name FROM accounts WHERE account = ?", account)
    return str(name)


def run_b12(page: Page, site: RunningUp) -> None:
    """From the index, open b12, fill it in and submit it; wait for the end of the result."""
    _, fields = EXAMPLE_JOB
    page.goto(site.url)
    page.get_by_role("link", name="Budget report 12").click()
    page.get_by_label("Account").fill(fields["account"])
    page.get_by_label("Year").fill(fields["year"])
    page.get_by_role("button", name="Run the report").click()
    expect(page.locator("#done")).to_have_text("The report is complete.")


def assert_b12_result(page: Page, site: RunningUp) -> None:
    _, fields = EXAMPLE_JOB
    output = page.locator("pre.output")
    expect(output).to_contain_text("BUDGET REPORT 12")
    expect(output).to_contain_text(f"{fields['account']}  {account_of(site, fields['account'])}")
    expect(output).to_contain_text(f"Fiscal year: {fields['year']}")
    expect(page.locator(".error-box")).to_have_count(0)


def assert_no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"


def test_index_lists_the_reports_under_the_banner(page: Page, site: RunningUp) -> None:
    page.goto(site.url)
    expect(page.locator(".banner", has_text="Not jailed.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reports")
    expect(page).to_have_title("Reports")
    for title in ("Budget report 12", "Ledger between two dates", "Spending by category", "Year-end close"):
        expect(page.get_by_role("link", name=title)).to_be_visible()
    shoot(page, "index")


def test_b12_runs_from_its_form(page: Page, site: RunningUp) -> None:
    page.goto(site.url)
    page.get_by_role("link", name="Budget report 12").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Budget report 12")
    expect(page).to_have_title("Budget report 12 \u2013 Reports")
    page.get_by_label("Account").focus()
    shoot(page, "form")
    # Keyboard focus shows on the button too.
    page.get_by_label("Year").focus()
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Run the report")
    expect(button).to_be_focused()
    expect(button).to_have_css("outline-style", "solid")
    run_b12(page, site)
    assert_b12_result(page, site)
    expect(page.locator(".working")).to_be_hidden()
    assert_no_sideways_scroll(page)
    shoot(page, "result")


def test_b12_runs_with_javascript_off(browser: Browser, site: RunningUp) -> None:
    with new_page(browser, javascript=False) as page:
        run_b12(page, site)
        assert_b12_result(page, site)
        shoot(page, "result-nojs")


def test_b12_result_fits_a_phone(browser: Browser, site: RunningUp) -> None:
    with new_page(browser, viewport=PHONE) as page:
        run_b12(page, site)
        assert_b12_result(page, site)
        assert_no_sideways_scroll(page)
        # The report is as wide as the program made it: it scrolls inside its box.
        output = page.locator("pre.output")
        box = output.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert output.evaluate("e => e.scrollWidth > e.clientWidth")
        shoot(page, "result-phone")


def test_slow_report_shows_working_until_done(page: Page, site: RunningUp) -> None:
    page.goto(f"{site.url}r/yearend")
    page.get_by_label("Year").fill(EXAMPLE_JOB[1]["year"])
    page.get_by_role("button", name="Run the report").click()
    output = page.locator("pre.output")
    # A few lines in, the report is still running: its first lines show
    # and so does the indicator.
    expect(output).to_contain_text(re.compile(r"(\n[0-9]{8} .*){3}"), timeout=SLOW_REPORT_TIMEOUT_MS)
    expect(page.locator("#done")).to_have_count(0)
    working = page.locator(".working")
    expect(working).to_be_visible()
    expect(working).to_contain_text("Working…")
    shoot(page, "working")
    expect(page.locator("#done")).to_have_text("The report is complete.", timeout=SLOW_REPORT_TIMEOUT_MS)
    expect(working).to_be_hidden()
    expect(output).to_contain_text(re.compile(r"^Total\b", re.MULTILINE))
    shoot(page, "working-done")


def test_csv_report_is_a_table_with_amounts_aligned(page: Page, site: RunningUp) -> None:
    year = EXAMPLE_JOB[1]["year"]
    [(expected_rows,)] = query(
        site, "SELECT COUNT(DISTINCT account) FROM budget_lines WHERE year = ? AND category = 'travel'", year
    )
    page.goto(f"{site.url}r/spending")
    page.get_by_label("Category").select_option("travel")
    page.get_by_label("Year").fill(year)
    page.get_by_role("button", name="Run the report").click()
    expect(page.locator("#done")).to_have_text("The report is complete.")
    table = page.get_by_role("table", name="Spending by category")
    expect(table.locator("tbody tr")).to_have_count(int(str(expected_rows)))
    amount = table.locator("tbody tr").first.locator("td").last
    expect(amount).to_have_css("text-align", "right")
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
    shoot(page, "table")


def test_csv_report_without_rows_says_so(page: Page, site: RunningUp) -> None:
    year = "1990"
    assert query(site, "SELECT COUNT(*) FROM budget_lines WHERE year = ?", year) == [(0,)]
    page.goto(f"{site.url}r/spending")
    page.get_by_label("Year").fill(year)
    page.get_by_role("button", name="Run the report").click()
    expect(page.locator("#done")).to_have_text("The report is complete.")
    expect(page.locator(".note")).to_have_text("The report produced no output.")
    shoot(page, "table-empty")


def test_field_error_shows_beside_the_field(page: Page, site: RunningUp) -> None:
    page.goto(f"{site.url}r/b12")
    page.get_by_label("Account").fill("12")
    page.get_by_label("Year").fill(EXAMPLE_JOB[1]["year"])
    page.get_by_role("button", name="Run the report").click()
    account = page.get_by_label("Account")
    expect(account).to_have_value("12")
    expect(account).to_have_attribute("aria-invalid", "true")
    # The message is in the field's own block, tied to the input for screen readers.
    error = page.locator(".field", has=page.locator("#account")).locator(".errors")
    expect(error).to_contain_text("8 digits")
    expect(account).to_have_attribute("aria-describedby", re.compile(r"\baccount-err\b"))
    expect(page.locator(".error-box")).to_contain_text("Account")
    # Right above the input, under the label and hint.
    field_box, error_box = account.bounding_box(), error.bounding_box()
    assert field_box is not None and error_box is not None
    assert 0 <= field_box["y"] - (error_box["y"] + error_box["height"]) < 24
    shoot(page, "error")


def test_french_pages(page: Page, site: RunningUp) -> None:
    french = gettext.translation("messages", localedir=TRANSLATIONS, languages=["fr"])
    page.goto(f"{site.url}?lang=fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    for english in ("Reports", "Not jailed."):
        assert french.gettext(english) != english, f"{english!r} has no French translation"
    expect(page.get_by_role("heading", level=1)).to_have_text(french.gettext("Reports"))
    expect(page.locator(".banner", has_text=french.gettext("Not jailed."))).to_be_visible()
    shoot(page, "french")
    # The choice is remembered: the form that follows is French too.
    page.get_by_role("link", name=french.gettext("Budget report 12")).click()
    expect(page.get_by_role("button", name=french.gettext("Run the report"))).to_be_visible()
    page.get_by_label(french.gettext("Account")).fill("12")
    page.get_by_role("button", name=french.gettext("Run the report")).click()
    expect(page.locator(".field", has=page.locator("#account")).locator(".errors")).to_be_visible()
    shoot(page, "french-error")
