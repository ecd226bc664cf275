"""`hole review`: states, the diff against the approved content, approval, and its exit status."""

import json
from pathlib import Path

import pytest

from sysside.demo import DemoPaths
from tests.review.support import CLEAN, ECHO_JOBS, review, write

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    write(tmp_path / "stubs", "echo.py", CLEAN)
    return tmp_path / "stubs"


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    return write(tmp_path, "jobs.toml", ECHO_JOBS)


def manifest(stubs: Path) -> dict[str, dict[str, object]]:
    entries = json.loads((stubs / "approved.json").read_text())["stubs"]
    assert isinstance(entries, dict)
    return entries


def listing(stubs: Path, jobs: Path) -> dict[str, str]:
    result = review("--stubs", stubs, "--jobs", jobs)
    return {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("stub ")}


def test_new_stub_is_listed_and_the_review_fails(stubs: Path, jobs: Path) -> None:
    result = review("--stubs", stubs, "--jobs", jobs)
    assert result.exit_code == 1
    assert "stub echo  new  (job echo)" in result.stdout
    assert "job  echo  used by echo" in result.stdout
    assert "1 stub(s) not approved as they are: echo" in result.stderr


def test_approve_change_and_review_again(stubs: Path, jobs: Path) -> None:
    approved = review("echo", "--approve", "--by", "webmaster", "--stubs", stubs, "--jobs", jobs)
    assert approved.exit_code == 0, approved.output
    assert approved.stdout.startswith("approved echo: sha256 ")
    entry = manifest(stubs)["echo"]
    assert entry["approved_by"] == "webmaster"
    assert entry["content"] == CLEAN
    assert entry["findings"] == []
    assert str(entry["approved_at"]).endswith("Z")

    clean = review("--stubs", stubs, "--jobs", jobs)
    assert clean.exit_code == 0, clean.output
    assert "stub echo  approved  (job echo)" in clean.stdout

    (stubs / "echo.py").write_text(CLEAN.replace('TITLE = "Echo"', 'TITLE = "Echo, changed"'))
    changed = review("--stubs", stubs, "--jobs", jobs)
    assert changed.exit_code == 1
    assert "stub echo  changed since approval" in changed.stdout

    shown = review("echo", "--stubs", stubs, "--jobs", jobs)
    assert shown.exit_code == 1
    assert "approval: by webmaster on " in shown.stdout
    assert '-TITLE = "Echo"\n+TITLE = "Echo, changed"\n' in shown.stdout
    assert "findings: none" in shown.stdout

    again = review("echo", "--approve", "--by", "webmaster", "--stubs", stubs, "--jobs", jobs)
    assert again.exit_code == 0, again.output
    assert manifest(stubs)["echo"]["content"] == (stubs / "echo.py").read_text()
    assert review("--stubs", stubs, "--jobs", jobs).exit_code == 0


def test_approving_with_findings_needs_accept_findings_and_records_them(stubs: Path, jobs: Path) -> None:
    write(stubs, "echo.py", CLEAN.replace('TITLE = "Echo"', 'TITLE = "Echo"\nSEEN = []'))
    refused = review("echo", "--approve", "--by", "w", "--stubs", stubs, "--jobs", jobs)
    assert refused.exit_code == 1
    assert "has 1 finding(s)" in refused.stderr
    assert "--accept-findings" in refused.stderr
    assert not (stubs / "approved.json").exists()

    accepted = review("echo", "--approve", "--accept-findings", "--by", "w", "--stubs", stubs, "--jobs", jobs)
    assert accepted.exit_code == 0, accepted.output
    findings = manifest(stubs)["echo"]["findings"]
    assert isinstance(findings, list)
    assert len(findings) == 1
    assert str(findings[0]).startswith("line 8: global mutable state: SEEN")
    listed = review("--stubs", stubs, "--jobs", jobs)
    assert listed.exit_code == 0
    assert "stub echo  approved, 1 finding(s) accepted" in listed.stdout


def test_a_job_map_change_brings_a_finding_the_approval_did_not_accept(stubs: Path, jobs: Path) -> None:
    assert review("echo", "--approve", "--by", "w", "--stubs", stubs, "--jobs", jobs).exit_code == 0
    jobs.write_text(ECHO_JOBS.replace("required = true }", "required = true }\nfields.note = { type = 'flag' }"))
    result = review("--stubs", stubs, "--jobs", jobs)
    assert result.exit_code == 1
    assert "stub echo  approved, 1 finding(s) not accepted" in result.stdout
    # The way forward it names is one --approve alone would refuse.
    shown = review("echo", "--stubs", stubs, "--jobs", jobs)
    assert shown.exit_code == 1
    assert "has 1 finding(s) not accepted" in shown.stderr
    assert "--approve --accept-findings" in shown.stderr


def test_broken_and_missing_stubs(stubs: Path, jobs: Path) -> None:
    assert review("echo", "--approve", "--by", "w", "--stubs", stubs, "--jobs", jobs).exit_code == 0
    write(stubs, "nofunc.py", CLEAN.replace("def show_form", "def make_form"))
    write(stubs, "syntax.py", "def show_form(:\n")
    write(stubs, "noimport.py", "import no_such_module_anywhere\n" + CLEAN)
    write(stubs, "_helper.py", "raise SystemExit('not a stub')\n")
    (stubs / "echo.py").rename(stubs / "echo.py.bak")
    lines = listing(stubs, jobs)
    assert set(lines) == {"echo", "nofunc", "syntax", "noimport"}
    assert "approved but missing" in lines["echo"]
    assert "broken: it has no show_form() function" in lines["nofunc"]
    assert "broken: syntax error on line 1" in lines["syntax"]
    assert "broken: line 1: no_such_module_anywhere cannot be imported" in lines["noimport"]
    refused = review("nofunc", "--approve", "--by", "w", "--stubs", stubs)
    assert refused.exit_code == 1
    assert "nofunc cannot be approved: it has no show_form() function" in refused.stderr


def test_revoke_removes_an_approval(stubs: Path, jobs: Path) -> None:
    assert review("echo", "--approve", "--by", "w", "--stubs", stubs, "--jobs", jobs).exit_code == 0
    (stubs / "echo.py").unlink()
    assert review("--stubs", stubs, "--jobs", jobs).exit_code == 1
    revoked = review("echo", "--revoke", "--stubs", stubs)
    assert revoked.exit_code == 0, revoked.output
    assert manifest(stubs) == {}
    result = review("--stubs", stubs, "--jobs", jobs)
    assert result.exit_code == 0
    assert "job  echo  used by no stub" in result.stdout


def test_without_jobs_it_says_the_field_check_was_skipped(stubs: Path) -> None:
    result = review("echo", "--stubs", stubs)
    assert "no --jobs given" in result.stderr


def test_a_tampered_manifest_is_refused(stubs: Path, jobs: Path) -> None:
    assert review("echo", "--approve", "--by", "w", "--stubs", stubs, "--jobs", jobs).exit_code == 0
    document = json.loads((stubs / "approved.json").read_text())
    document["stubs"]["echo"]["content"] += "# approved, honest\n"
    (stubs / "approved.json").write_text(json.dumps(document))
    result = review("--stubs", stubs, "--jobs", jobs)
    assert result.exit_code == 1
    assert "the content kept does not match its sha256" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--approve"], "need the NAME"),
        (["echo", "--accept-findings"], "only goes with --approve"),
        (["echo", "--approve", "--revoke"], "cannot be used together"),
        (["../echo"], "is not a stub name"),
    ],
)
def test_usage_errors(stubs: Path, args: list[str], message: str) -> None:
    result = review(*args, "--stubs", stubs)
    assert result.exit_code == 2
    assert message in result.stderr


def test_the_demo_stubs_ship_approved(demo: DemoPaths) -> None:
    result = review("--stubs", PROJECT_DIR / "stubs", "--jobs", demo.jobs_file)
    assert result.exit_code == 0, result.output
    for name in ("b12", "ledger", "spending", "yearend"):
        assert f"stub {name:<8}  approved  (job {name})" in result.stdout
        assert f"job  {name:<8}  used by {name}" in result.stdout
    entries = manifest(PROJECT_DIR / "stubs")
    assert {e["approved_by"] for e in entries.values()} == {"hole-in-the-chroot"}


def test_a_missing_stubs_folder_is_an_error(tmp_path: Path) -> None:
    result = review("--stubs", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert "nowhere: no such folder" in result.stderr
