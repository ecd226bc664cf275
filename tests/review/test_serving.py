"""Only approved stubs are served, and only they may be copied into a jail."""

import json
import logging
from pathlib import Path

import pytest

from tests.review.support import CLEAN, review, write
from tests.webside.conftest import AppFactory
from tests.webside.support import TestApp
from webside.approval import approved_stub_files, sha256_hex
from webside.registry import Registry


def tripwire_stub(path: Path) -> str:
    """A stub whose import leaves the file `path` behind."""
    return CLEAN.replace('TITLE = "Echo"', f'TITLE = "Echo"\nopen({str(path)!r}, "w").close()')


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    """echo (approved), later (new), edited (approved, then changed)."""
    folder = tmp_path / "stubs"
    write(folder, "echo.py", CLEAN)
    write(folder, "edited.py", CLEAN.replace('TITLE = "Echo"', 'TITLE = "Edited"'))
    for name in ("echo", "edited"):
        result = review(name, "--approve", "--by", "w", "--stubs", folder)
        assert result.exit_code == 0, result.output
    write(folder, "edited.py", CLEAN.replace('TITLE = "Echo"', 'TITLE = "Edited after approval"'))
    write(folder, "later.py", CLEAN.replace('TITLE = "Echo"', 'TITLE = "Later"'))
    return folder


def test_only_approved_unchanged_stubs_are_served(stubs: Path) -> None:
    registry = Registry.load(stubs)
    assert set(registry.reports) == {"echo"}
    assert set(registry.refused) == {str(stubs / "edited.py"), str(stubs / "later.py")}
    assert "changed since w approved it" in registry.refused[str(stubs / "edited.py")]
    assert "not approved" in registry.refused[str(stubs / "later.py")]
    assert registry.unapproved == {}


def test_an_unapproved_stub_is_never_imported(tmp_path: Path) -> None:
    tripwire = tmp_path / "imported"
    write(tmp_path / "stubs", "trap.py", tripwire_stub(tripwire))
    registry = Registry.load(tmp_path / "stubs")
    assert registry.reports == {}
    assert not tripwire.exists()
    # The same stub does run when development mode serves it: the tripwire works.
    assert set(Registry.load(tmp_path / "stubs", dev=True).reports) == {"trap"}
    assert tripwire.exists()


def test_refusals_are_logged_naming_the_stub(
    make_app: AppFactory, stubs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(STUBS_DIR=str(stubs))
    logged = [r.getMessage() for r in caplog.records if r.name == app.logger.name]
    [edited] = [m for m in logged if str(stubs / "edited.py") in m]
    assert "refused: changed since w approved it" in edited
    assert "hole review edited" in edited
    client = TestApp(app)
    assert [a["href"] for a in client.get("/").html.select("ul.reports a")] == ["/r/echo"]
    client.get("/r/edited", status=404)
    client.get("/r/later", status=404)
    assert client.get("/").html.find(string=lambda s: "Development mode" in str(s)) is None


def test_dev_serves_them_and_every_page_says_so(
    make_app: AppFactory, stubs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_app(STUBS_DIR=str(stubs), HOLE_DEV=True)
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == app.logger.name)
    assert "report stub later served without approval" in logged
    client = TestApp(app)
    assert sorted(a["href"] for a in client.get("/").html.select("ul.reports a")) == [
        "/r/echo",
        "/r/edited",
        "/r/later",
    ]
    for url in ("/", "/r/edited", "/r/echo?lang=en"):
        banner = " ".join(client.get(url).html.select_one("p.banner").get_text().split())
        assert banner == "Development mode. Served without the webmaster's approval: edited, later."
    french = " ".join(client.get("/?lang=fr").html.select_one("p.banner").get_text().split())
    assert french == "Mode développement. Servis sans l\u2019approbation du webmestre : edited, later."


def test_hole_dev_comes_from_the_environment(
    make_app: AppFactory, stubs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOLE_DEV", "true")
    assert set(make_app(STUBS_DIR=str(stubs)).extensions["hole_registry"].reports) == {"echo", "edited", "later"}


def test_a_broken_manifest_serves_nothing(stubs: Path) -> None:
    (stubs / "approved.json").write_text("{not json")
    registry = Registry.load(stubs)
    assert registry.reports == {}
    assert all("approval manifest cannot be used" in why for why in registry.refused.values())


def test_a_manifest_edited_by_hand_to_match_serves_nothing(stubs: Path) -> None:
    document = json.loads((stubs / "approved.json").read_text())
    document["stubs"]["later"] = {**document["stubs"]["echo"], "sha256": sha256_hex((stubs / "later.py").read_bytes())}
    (stubs / "approved.json").write_text(json.dumps(document))
    assert Registry.load(stubs).reports == {}


def test_only_approved_stubs_are_chosen_for_the_jail(stubs: Path) -> None:
    assert approved_stub_files(stubs) == [stubs / "echo.py"]
    (stubs / "echo.py").write_text(CLEAN + "\n# changed\n")
    assert approved_stub_files(stubs) == []
