"""What the benchmark runs: its job map, its approved report stubs, its data, and the peer's hook.

Rules:
1. Every server in the benchmark runs the same three-step job as
   holecost (three `cat`s fed by the fields, `&&` semantics) on the same
   fields, so their figures compare.
2. The stubs are real stubs, approved in the folder's manifest as the
   webmaster's review would approve them: the product is measured as it
   serves, not in development mode.
3. Outputs are plain ASCII without `&`, `<` or `>`, so the product's page
   holds them byte for byte and a response can be checked by a substring.
"""

import contextlib
import datetime
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sysside.bench import holecost
from webside.approval import Manifest, approval_of, manifest_path, manifest_text

FIELDS = holecost.FIELDS
# The job's output (the last step's stdout), as each server shows it.
OUTPUT = b"gamma\n"
# The product escapes the output into the page's <pre>; the end tag
# after it shows that the whole output arrived and the page was finished.
PRODUCT_MARK = "gamma\n</pre>"
# The heading of the busy page (webside/problems.py), as served in English.
BUSY_MARK = "The report service is busy"

# Output sizes for the stream row, by the field value that selects them.
SIZES = {"1k": 1024, "10k": 10 * 1024, "100k": 100 * 1024, "1m": 1024 * 1024, "10m": 10 * 1024 * 1024}
LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n"
SLOW_SECONDS = 0.05
SLOW_TIMEOUT = 5.0
SLEEP = shutil.which("sleep", path="/usr/bin:/bin") or "/bin/sleep"
BASH = shutil.which("bash", path="/usr/bin:/bin") or "/bin/bash"

REPORTS = {"bench3": "bench3", "slow": "benchslow", "big": "benchbig"}


def _toml(text: str) -> str:
    # A JSON string of ASCII text is also a TOML basic string.
    return json.dumps(text, ensure_ascii=True)


def job_map(data_dir: Path) -> str:
    """holecost's map (job bench3), and the jobs of the overload and stream rows."""
    return holecost.JOB_MAP + (
        f"""
[jobs.benchslow]
title = "One trivial step after a short sleep"
timeout = "{SLOW_TIMEOUT:g}s"
fields.first = {{ type = "text", regex = "[a-z]+", max = 16, required = true }}
steps = [
  {{ run = [{_toml(SLEEP)}, "{SLOW_SECONDS:g}"] }},
  {{ run = [{_toml(holecost.CAT)}], stdin = "{{first}}\\n" }},
]

[jobs.benchbig]
title = "A file of a chosen size"
max_output = "16MB"
fields.size = {{ type = "choice", choices = {json.dumps(list(SIZES))}, required = true }}
steps = [
  {{ run = [{_toml(holecost.CAT)}, "{{size}}"], cwd = {_toml(str(data_dir))} }},
]
"""
    )


STUBS = {
    "bench3": '''\
"""Three trivial steps: the benchmark's job."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Regexp

TITLE = "Three trivial steps"


class Bench3Form(FlaskForm):
    first = StringField("First", validators=[InputRequired(), Length(max=16), Regexp(r"[a-z]+\\Z")])
    second = StringField("Second", validators=[InputRequired(), Length(max=16), Regexp(r"[a-z]+\\Z")])
    third = StringField("Third", validators=[InputRequired(), Length(max=16), Regexp(r"[a-z]+\\Z")])


def show_form() -> Bench3Form:
    return Bench3Form()


def prepare_input(form: Bench3Form) -> dict[str, str]:
    return {"first": form.first.data or "", "second": form.second.data or "", "third": form.third.data or ""}
''',
    "benchslow": '''\
"""One trivial step after a short sleep: the overload row's job."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Regexp

TITLE = "A short sleep"


class SlowForm(FlaskForm):
    first = StringField("First", validators=[InputRequired(), Length(max=16), Regexp(r"[a-z]+\\Z")])


def show_form() -> SlowForm:
    return SlowForm()


def prepare_input(form: SlowForm) -> dict[str, str]:
    return {"first": form.first.data or ""}
''',
    "benchbig": f'''\
"""A file of a chosen size: the stream row's job."""

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import InputRequired

TITLE = "A file of a chosen size"


class BigForm(FlaskForm):
    size = SelectField("Size", choices={list(SIZES)!r}, validators=[InputRequired()])


def show_form() -> BigForm:
    return BigForm()


def prepare_input(form: BigForm) -> dict[str, str]:
    return {{"size": str(form.size.data)}}
''',
}

# The peer's hook runs the three steps through a script, as its users do;
# `&&` and the here-strings give each cat its stdin, the last one's stdout
# is the answer.
PEER_SCRIPT = f"""#!{BASH}
{holecost.CAT} <<<"$1" >/dev/null && {holecost.CAT} <<<"$2" >/dev/null && {holecost.CAT} <<<"$3"
"""


def peer_hooks(script: Path) -> list[dict[str, object]]:
    """webhook's hooks.json: the job as hook bench3, its fields from the form body."""
    return [
        {
            "id": "bench3",
            "execute-command": str(script),
            "include-command-output-in-response": True,
            "http-methods": ["POST"],
            "pass-arguments-to-command": [{"source": "payload", "name": name} for name in FIELDS],
        }
    ]


@dataclass(frozen=True)
class Workload:
    """The files of one benchmark run, all under `root`."""

    root: Path

    @property
    def jobs_file(self) -> Path:
        return self.root / "jobs.toml"

    @property
    def stubs_dir(self) -> Path:
        return self.root / "stubs"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def peer_hooks(self) -> Path:
        return self.root / "hooks.json"

    def write(self) -> None:
        """Write the job map, the approved stubs, the data files and the peer's hook."""
        self.data_dir.mkdir()
        for name, size in SIZES.items():
            count, rest = divmod(size, len(LINE))
            (self.data_dir / name).write_bytes(LINE * count + LINE[:rest])
        self.jobs_file.write_text(job_map(self.data_dir), encoding="utf-8")
        self.stubs_dir.mkdir()
        manifest = Manifest({})
        today = datetime.date.today().isoformat()
        for name, source in STUBS.items():
            (self.stubs_dir / f"{name}.py").write_text(source, encoding="utf-8")
            manifest = manifest.with_approval(approval_of(name, source.encode(), "hole bench", today, ()))
        manifest_path(self.stubs_dir).write_text(manifest_text(manifest), encoding="utf-8")
        script = self.root / "peer-bench3.sh"
        script.write_text(PEER_SCRIPT, encoding="utf-8")
        os.chmod(script, 0o755)  # noqa: S103 (the peer runs it; nothing secret)
        self.peer_hooks.write_text(json.dumps(peer_hooks(script), indent=2), encoding="utf-8")


@contextlib.contextmanager
def temporary() -> Iterator[Workload]:
    """A written workload in a private folder of its own, removed at the end.

    On a tmpfs when there is one (job files are made and removed per job),
    and in a folder whose parents any user may pass through: in the jailed
    mode the daemon runs as its own user and reads the job map there.
    """
    shm = holecost.SHM if os.path.isdir(holecost.SHM) else None
    with tempfile.TemporaryDirectory(prefix="hole-bench-", dir=shm) as root:
        # Others may pass through (the daemon's own user, to its state
        # folder), never list; what it reads is opened to its group alone.
        os.chmod(root, 0o711)  # noqa: S103
        work = Workload(Path(root))
        work.write()
        yield work
