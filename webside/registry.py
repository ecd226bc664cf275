"""The report registry: the approved stubs in STUBS_DIR, loaded once.

Rules:
1. Every `*.py` in the folder whose name does not start with "_" is a
   report, named by its file. A stub that cannot be loaded is left out and
   listed in `broken` with the reason; it never stops the others.
2. A stub has `show_form()` (a WTForms form) and `prepare_input(form)` (a
   mapping of field name to str). Optional: `TITLE` (a str, or
   lazy_gettext() for a translated title), `DESCRIPTION` (one line under
   the title, likewise; without it, the first line of the module's
   docstring, which cannot be translated), and `JOB` (the job-map name, if
   not the report's own).
3. What a stub returns is checked here, on every call, so nothing
   untyped leaves this module.
4. Only a stub approved as it is now (webside.approval) is imported at
   all; any other is listed in `refused` with why and never runs. With
   `dev` (the HOLE_DEV setting) such stubs are served too, and listed in
   `unapproved` so that every page can say so.
5. The bytes checked against the approval are the bytes that run: the
   file is read once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from wtforms import Form

from hole.inputfile import FIELD_NAME_RE
from webside import csrftokens
from webside.approval import Manifest, ManifestError, load_manifest, stub_files

# The same grammar as a job name (hole/request.py): a report's name is in
# its URL and is the default job name.
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_TITLE = 200
MAX_DESCRIPTION = 300


class StubError(Exception):
    """A stub broke its contract at run time; the message names the stub."""


@dataclass(frozen=True, slots=True)
class Report:
    """One approved report: how to show its form and turn it into a job."""

    name: str
    job: str
    path: Path
    _title: object
    _description: object
    _show_form: Callable[[], Any]
    _prepare_input: Callable[[Any], Any]

    @property
    def title(self) -> str:
        """The report's title, in the request's language when TITLE is a lazy_gettext string."""
        return str(self._title)

    @property
    def description(self) -> str:
        """One line on what the report shows, in the request's language when DESCRIPTION is lazy."""
        return str(self._description)

    def make_form(self) -> Form:
        """A fresh form from the stub (bound to the request's data on a POST)."""
        csrftokens.reuse_recent()
        form = self._show_form()
        csrftokens.remember()
        if not isinstance(form, Form):
            raise StubError(f"{self.path.name}: show_form() returned {type(form).__name__}, not a WTForms form")
        return form

    def prepare(self, form: Form) -> dict[str, str]:
        """The job's fields from a validated form, as the stub builds them."""
        fields = self._prepare_input(form)
        if not isinstance(fields, Mapping):
            raise StubError(f"{self.path.name}: prepare_input() returned {type(fields).__name__}, not a mapping")
        checked: dict[str, str] = {}
        for key, value in fields.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise StubError(
                    f"{self.path.name}: prepare_input() must map str to str; got {key!r}: {type(value).__name__}"
                )
            if not FIELD_NAME_RE.fullmatch(key):
                raise StubError(f"{self.path.name}: prepare_input() gave an invalid field name {key[:70]!r}")
            checked[key] = value
        return checked


@dataclass(frozen=True, slots=True)
class Registry:
    """The reports served (by name), the files left out (with why), and approval's part in it.

    `broken`: stub path -> why it cannot be served. `refused`: stub path ->
    why it is not approved as it is now (never imported). `unapproved`:
    report name -> why it is not approved, for reports served anyway
    because `dev` was on.
    """

    reports: dict[str, Report]
    broken: dict[str, str]
    refused: dict[str, str] = field(default_factory=dict)
    unapproved: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: str | Path, *, dev: bool = False) -> Registry:
        """Load every approved stub in `directory` (every stub with `dev`); a missing folder gives no reports."""
        reports: dict[str, Report] = {}
        broken: dict[str, str] = {}
        refused: dict[str, str] = {}
        unapproved: dict[str, str] = {}
        manifest, manifest_problem = _manifest(directory)
        for path in stub_files(directory):
            name = path.stem
            if not NAME_RE.fullmatch(name):
                broken[str(path)] = f"the file name must match {NAME_RE.pattern}.py (lower case, digits and _)"
                continue
            try:
                source = path.read_bytes()
            except OSError as exc:
                broken[str(path)] = f"it cannot be read: {exc.strerror}"
                continue
            why = manifest_problem or manifest.why_not_served(name, source)
            if why is not None and not dev:
                refused[str(path)] = why
                continue
            try:
                reports[name] = _load_report(path, source)
            except _Unusable as exc:
                broken[str(path)] = str(exc)
                continue
            if why is not None:
                unapproved[name] = why
        return cls(reports, broken, refused, unapproved)


def _manifest(directory: str | Path) -> tuple[Manifest, str | None]:
    """The folder's manifest, or an empty one and why it cannot be used."""
    try:
        return load_manifest(directory), None
    except ManifestError as exc:
        return Manifest({}), f"the approval manifest cannot be used ({exc}); nothing counts as approved"


class _Unusable(Exception):
    pass


def _load_report(path: Path, source: bytes) -> Report:
    name = path.stem
    module = _import(path, source)
    for function in ("show_form", "prepare_input"):
        if not callable(getattr(module, function, None)):
            raise _Unusable(f"it has no {function}() function")
    job = getattr(module, "JOB", name)
    if not isinstance(job, str) or not NAME_RE.fullmatch(job):
        raise _Unusable(f"JOB must be a job name matching {NAME_RE.pattern}, not {job!r}")
    # A str, or a lazy_gettext() string that is translated when shown.
    title: object = getattr(module, "TITLE", name.replace("_", " ").capitalize())
    if title is None or not str(title).strip() or len(str(title)) > MAX_TITLE:
        raise _Unusable(f"TITLE must be a non-empty string of at most {MAX_TITLE} characters")
    doc = (module.__doc__ or "").strip()
    description: object = getattr(module, "DESCRIPTION", doc.splitlines()[0].strip() if doc else "")
    if description is None or len(str(description)) > MAX_DESCRIPTION or "\n" in str(description):
        raise _Unusable(f"DESCRIPTION must be one line of at most {MAX_DESCRIPTION} characters")
    return Report(
        name=name,
        job=job,
        path=path,
        _title=title,
        _description=description,
        _show_form=module.show_form,
        _prepare_input=module.prepare_input,
    )


def _import(path: Path, source: bytes) -> ModuleType:
    # A name per file, so two folders' b12.py (in tests, or after a reload)
    # never overwrite each other in sys.modules.
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"hole_stub_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None:
        raise _Unusable("it cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs so that dataclasses and typing in the stub,
    # which look their module up by name, work as in any module.
    sys.modules[module_name] = module
    try:
        # The bytes already checked against the approval, not the file read
        # again: a file replaced in between must not run. dont_inherit keeps
        # this module's __future__ imports out of the stub.
        code = compile(source, str(path), "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 (the approved stub's own code, as an import would run it)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise _Unusable(f"syntax error on line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:
        del sys.modules[module_name]
        raise _Unusable(f"importing it raised {type(exc).__name__}: {exc}") from None
    return module
