"""Findings: each kind is caught in a planted stub, on its line; clean stubs have none."""

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

from sysside.demo import DemoPaths
from sysside.jobmap import load_jobmap
from sysside.review.fields import fields_sent, prepare_function
from sysside.review.finding import Finding, Kind
from sysside.review.findings import JobFields, find
from sysside.review.shape import job_of
from sysside.review.states import StubState, review_stub
from tests.review.support import CLEAN
from webside.approval import Manifest
from webside.scaffold import scaffold_command

PROJECT_DIR = Path(__file__).resolve().parents[2]
PLANTED = "# planted"

TEMPLATE = '''"""A planted stub."""

from flask_wtf import FlaskForm
from wtforms import StringField
{imports}
TITLE = "Planted"
{top}


class PlantedForm(FlaskForm):
    text = StringField("Text")
{cls}


def show_form() -> PlantedForm:
{body}
    return PlantedForm()


def prepare_input(form: PlantedForm) -> dict[str, str]:
{prep}
'''
SENDS_TEXT = '    return {"text": form.text.data or ""}'
ECHO_FIELDS = {"planted": frozenset({"text"})}

# (id, kind, the template's slots, the job map's fields, the text that marks the line)
CASES: list[tuple[str, Kind, dict[str, str], dict[str, frozenset[str]], str]] = [
    ("import", Kind.IMPORT, {"imports": f"import json  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("relative import", Kind.IMPORT, {"imports": f"from . import sibling  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("star import", Kind.IMPORT, {"imports": f"from wtforms.validators import *  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("open", Kind.FILE, {"body": f"    open('/etc/passwd').read()  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    (
        "pathlib",
        Kind.FILE,
        {"imports": "from pathlib import Path", "body": f"    Path('/etc/passwd').read_text()  {PLANTED}"},
        ECHO_FIELDS,
        PLANTED,
    ),
    (
        "socket",
        Kind.NETWORK,
        {"imports": "import socket", "body": f"    socket.create_connection(('example.org', 80))  {PLANTED}"},
        ECHO_FIELDS,
        PLANTED,
    ),
    (
        "renamed urlopen",
        Kind.NETWORK,
        {"imports": "from urllib.request import urlopen as fetch", "body": f"    fetch('http://x.org')  {PLANTED}"},
        ECHO_FIELDS,
        PLANTED,
    ),
    (
        "subprocess",
        Kind.SYSTEM,
        {"imports": "import subprocess", "body": f"    subprocess.run(['id'])  {PLANTED}"},
        ECHO_FIELDS,
        PLANTED,
    ),
    (
        "renamed os.system",
        Kind.SYSTEM,
        {"imports": "from os import system as s", "body": f"    s('id')  {PLANTED}"},
        ECHO_FIELDS,
        PLANTED,
    ),
    ("exit", Kind.SYSTEM, {"body": f"    exit(1)  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("eval", Kind.DYNAMIC, {"body": f"    eval('1 + 1')  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("exec", Kind.DYNAMIC, {"body": f"    exec('x = 1')  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("compile", Kind.DYNAMIC, {"body": f"    compile('1', 'x', 'eval')  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("__import__", Kind.DYNAMIC, {"body": f"    __import__('os')  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("getattr computed", Kind.DYNAMIC, {"body": f"    getattr(form, 'te' + 'xt')  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("getattr dunder", Kind.DYNAMIC, {"body": f"    getattr(form, '__class__')  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("getattr as value", Kind.DYNAMIC, {"body": f"    look = getattr  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("dunders", Kind.DYNAMIC, {"body": f"    ().__class__.__base__.__subclasses__()  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("format string", Kind.DYNAMIC, {"body": f"    '{{0.__class__}}'.format(form)  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("print at import", Kind.SIDE_EFFECT, {"top": f"print('loaded')  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    (
        "own function at import",
        Kind.SIDE_EFFECT,
        {"top": f"def _load() -> str:\n    return 'x'\n\n\nLOADED = _load()  {PLANTED}"},
        ECHO_FIELDS,
        PLANTED,
    ),
    ("if at import", Kind.SIDE_EFFECT, {"top": f"if TITLE:  {PLANTED}\n    TITLE = 'Other'"}, ECHO_FIELDS, PLANTED),
    (
        "patching a module",
        Kind.SIDE_EFFECT,
        {"imports": "import datetime", "top": f"datetime.MAXYEAR = 3  {PLANTED}"},
        ECHO_FIELDS,
        PLANTED,
    ),
    ("module dict", Kind.MUTABLE, {"top": f"CACHE: dict[str, str] = {{}}  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("module list()", Kind.MUTABLE, {"top": f"SEEN = list()  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    ("class list", Kind.MUTABLE, {"cls": f"    seen = []  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    (
        "global",
        Kind.MUTABLE,
        {"top": "COUNT = 0", "body": f"    global COUNT  {PLANTED}\n    COUNT = COUNT + 1"},
        ECHO_FIELDS,
        PLANTED,
    ),
    (
        "changing module state",
        Kind.MUTABLE,
        {"top": "NAMES = ('a',)", "body": f"    NAMES.append('b')  {PLANTED}"},
        ECHO_FIELDS,
        PLANTED,
    ),
    (
        "undeclared field",
        Kind.UNDECLARED,
        {"prep": f'    return {{"text": form.text.data or "", "extra": "x"}}  {PLANTED}'},
        ECHO_FIELDS,
        PLANTED,
    ),
    (
        "declared field never sent",
        Kind.UNSENT,
        {},
        {"planted": frozenset({"text", "note"})},
        "def prepare_input",
    ),
    (
        "computed key",
        Kind.FIELDS_UNKNOWN,
        {"prep": f'    key = "te" + "xt"\n    return {{key: form.text.data or ""}}  {PLANTED}'},
        ECHO_FIELDS,
        PLANTED,
    ),
    ("dict of the form", Kind.FIELDS_UNKNOWN, {"prep": f"    return dict(form.data)  {PLANTED}"}, ECHO_FIELDS, PLANTED),
    (
        "update",
        Kind.FIELDS_UNKNOWN,
        {"prep": f'    fields = {{"text": ""}}\n    fields.update(form.data)  {PLANTED}\n    return fields'},
        ECHO_FIELDS,
        PLANTED,
    ),
    ("job not in the map", Kind.NO_JOB, {"top": f'JOB = "elsewhere"  {PLANTED}'}, ECHO_FIELDS, PLANTED),
]


def planted(**slots: str) -> str:
    values = {"imports": "", "top": "", "cls": "", "body": "", "prep": SENDS_TEXT, **slots}
    return TEMPLATE.format(**values)


def findings_of(source: str, jobs: dict[str, frozenset[str]] | None, name: str = "planted") -> list[Finding]:
    tree = ast.parse(source)
    job, line, _problem = job_of(tree, name)
    return find(tree, job, line, JobFields("jobs.toml", jobs) if jobs is not None else None)


def line_of(source: str, marker: str) -> int:
    [line] = [n for n, text in enumerate(source.splitlines(), 1) if marker in text]
    return line


def test_the_template_alone_has_no_findings() -> None:
    assert findings_of(planted(), ECHO_FIELDS) == []


@pytest.mark.parametrize(("kind", "slots", "jobs", "marker"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_planted_finding_is_caught_on_its_line(
    kind: Kind, slots: dict[str, str], jobs: dict[str, frozenset[str]], marker: str
) -> None:
    source = planted(**slots)
    found = findings_of(source, jobs)
    line = line_of(source, marker)
    assert any(f.kind is kind and f.line == line for f in found), "\n".join(map(str, found))


def test_every_kind_has_a_planted_case() -> None:
    assert {case[1] for case in CASES} == set(Kind)


def test_without_a_job_map_the_field_checks_are_skipped() -> None:
    source = planted(prep='    return {"text": "", "extra": "x"}', top='JOB = "elsewhere"')
    assert findings_of(source, None) == []
    assert {f.kind for f in findings_of(source, ECHO_FIELDS)} == {Kind.NO_JOB}


@pytest.mark.parametrize(
    ("prep", "sent"),
    [
        (SENDS_TEXT, {"text"}),
        ('    return dict(text="a", note="b")', {"text", "note"}),
        ('    fields = {"text": ""}\n    fields["note"] = "n"\n    return fields', {"text", "note"}),
        ('    fields: dict[str, str] = {}\n    fields["text"] = "t"\n    return fields', {"text"}),
        ('    if form.text.data:\n        return {"text": "a"}\n    return {"note": "b"}', {"text", "note"}),
    ],
)
def test_fields_sent_are_read_from_the_source(prep: str, sent: set[str]) -> None:
    function = prepare_function(ast.parse(planted(prep=prep)))
    assert function is not None
    result = fields_sent(function)
    assert result.unreadable is None
    assert set(result.fields) == sent


def test_the_demo_stubs_have_no_findings(demo: DemoPaths) -> None:
    jobmap = load_jobmap(demo.jobs_file)
    fields = JobFields(str(demo.jobs_file), {n: frozenset(s.fields) for n, s in jobmap.jobs.items()})
    stubs = sorted((PROJECT_DIR / "stubs").glob("*.py"))
    assert [p.stem for p in stubs] == ["b12", "ledger", "spending", "yearend"]
    for path in stubs:
        assert review_stub(path, Manifest({}), fields).findings == (), path


def test_a_scaffolded_stub_has_no_findings_and_is_not_approved(tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    made = CliRunner().invoke(
        scaffold_command, ["monthly", "--stubs-dir", str(stubs), "--tests-dir", str(tmp_path / "tests")]
    )
    assert made.exit_code == 0, made.output
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(made.stdout)
    jobmap = load_jobmap(jobs_file)
    fields = JobFields(str(jobs_file), {n: frozenset(s.fields) for n, s in jobmap.jobs.items()})
    reviewed = review_stub(stubs / "monthly.py", Manifest({}), fields)
    assert reviewed.problems == ()
    assert reviewed.findings == ()
    assert reviewed.state is StubState.NEW
    assert not (stubs / "approved.json").exists()


def test_a_clean_stub_has_no_findings() -> None:
    assert findings_of(CLEAN, {"echo": frozenset({"text"})}, name="echo") == []
