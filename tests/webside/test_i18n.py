"""The interface in English and French, and the French catalog's completeness."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from babel import localedata
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.webside.conftest import AppFactory
from tests.webside.support import PROJECT_DIR, TestApp, main_text
from webside import i18n

TRANSLATIONS = PROJECT_DIR / "webside" / "translations"
PO_FILE = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"
MO_FILE = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.mo"


def test_english_by_default(client: Any) -> None:
    page = client.get("/")
    assert page.html.html["lang"] == "en"
    assert page.html.h1.get_text() == "Reports"


def test_french_page_with_lang_fr(client: Any) -> None:
    page = client.get("/r/b12?lang=fr")
    assert page.html.html["lang"] == "fr"
    assert page.html.h1.get_text() == "Rapport budgétaire 12"
    assert page.html.find("label", attrs={"for": "account"}).get_text() == "Compte"
    assert page.html.find("button", type="submit").get_text() == "Lancer le rapport"
    assert page.html.find("p", class_="lead").get_text() == (
        "Budget et réalisé, par catégorie, pour un compte et un exercice."
    )


def test_report_descriptions_follow_the_language(client: Any) -> None:
    english = [p.get_text() for p in client.get("/?lang=en").html.select("main li p")]
    french = [p.get_text() for p in client.get("/?lang=fr").html.select("main li p")]
    assert "Budget against actuals, by category, for one account and fiscal year." in english
    assert "Budget et réalisé, par catégorie, pour un compte et un exercice." in french
    assert len(english) == len(french) == 4
    assert not set(english) & set(french)


def test_lang_choice_is_remembered_in_the_session(client: Any) -> None:
    client.get("/?lang=fr")
    assert client.get("/r/spending").html.h1.get_text() == "Dépenses par catégorie"
    client.get("/?lang=en")
    assert client.get("/r/spending").html.h1.get_text() == "Spending by category"


def test_unknown_lang_is_ignored(client: Any) -> None:
    assert client.get("/?lang=de").html.html["lang"] == "en"


def test_accept_language_picks_the_best_match(client: Any) -> None:
    page = client.get("/", headers={"Accept-Language": "de;q=1.0, fr-CA;q=0.8, en;q=0.5"})
    assert page.html.html["lang"] == "fr"


def test_the_default_language_is_the_configured_one(make_app: AppFactory) -> None:
    client = TestApp(make_app(BABEL_DEFAULT_LOCALE="fr"))
    assert client.get("/").html.html["lang"] == "fr"
    assert client.get("/", headers={"Accept-Language": "en-GB"}).html.html["lang"] == "en"


def test_choosing_the_language_looks_up_no_locale_files(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[str] = []
    real_exists = localedata.exists

    def counted_exists(name: str) -> bool:
        lookups.append(name)
        return real_exists(name)

    monkeypatch.setattr(localedata, "exists", counted_exists)
    for headers in ({}, {"Accept-Language": "fr-CA, en;q=0.5"}, {"Accept-Language": "de"}):
        for url in ("/", "/?lang=fr", "/r/b12"):
            assert client.get(url, headers=headers).status_code == 200
    assert lookups == []


def test_remembered_accept_language_headers_are_bounded(client: Any) -> None:
    for number in range(i18n.REMEMBERED_HEADERS + 40):
        header = f"x-{number};q=0.9, fr;q=0.5" if number % 2 else f"x-{number};q=0.9, en;q=0.5"
        assert client.get("/", headers={"Accept-Language": header}).html.html["lang"] == ("fr" if number % 2 else "en")
    assert len(i18n._header_codes) <= i18n.REMEMBERED_HEADERS
    long_header = "x-" + "a" * i18n.REMEMBERED_HEADER_LENGTH + ", fr"
    assert client.get("/", headers={"Accept-Language": long_header}).html.html["lang"] == "fr"
    assert long_header not in i18n._header_codes


def test_form_errors_are_in_french(client: Any) -> None:
    form = client.get("/r/b12?lang=fr").forms[0]
    form["account"] = ""
    form["year"] = "1800"
    page = form.submit(status=400)
    assert page.html.find(id="account-err").get_text(strip=True) == "Ce champ est requis."
    assert "Vérifiez le formulaire" in main_text(page)


def test_error_page_is_in_french(client: Any) -> None:
    client.get("/?lang=fr")
    page = client.get("/r/nope", status=404)
    assert "Page introuvable" in main_text(page)


def test_language_switch_links_to_this_page(client: Any) -> None:
    page = client.get("/r/ledger")
    links = {a["hreflang"]: a["href"] for a in page.html.select(".langs a")}
    assert links == {"en": "/r/ledger?lang=en", "fr": "/r/ledger?lang=fr"}


def test_every_interface_string_has_a_french_translation(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            Path(sys.executable).parent / "pybabel",
            "-q",
            "extract",
            "-F",
            "webside/babel.cfg",
            "-k",
            "_l",
            "-o",
            str(pot),
            ".",
        ],
        cwd=PROJECT_DIR,
        check=True,
    )
    with pot.open("rb") as source:
        wanted = {m.id for m in read_po(source) if m.id}
    with PO_FILE.open("rb") as source:
        french = {m.id: m.string for m in read_po(source) if m.id}
    missing = sorted(str(m) for m in wanted if not french.get(m))
    assert missing == []


def test_compiled_catalog_matches_the_po_file() -> None:
    with PO_FILE.open("rb") as source:
        po = {m.id: m.string for m in read_po(source) if m.id and m.string}
    with MO_FILE.open("rb") as source:
        mo = {m.id: m.string for m in read_mo(source) if m.id}
    assert mo == po
