"""The job map's lint: a map that loads, checked against the host and the stubs.

Rules:
1. Errors fail the check (exit 1): a program the web side's user could
   change or replace; a step that runs a shell, or an interpreter on
   program text or on its standard input; a job with no timeout or no
   limits, neither its own nor in [defaults]; a text-like field with no
   max (the loader refuses it too); a stub whose job is not in the map, or
   that sends a field its job does not declare.
2. Warnings are shown and do not fail: an rlimit left at its built-in
   default, a declared field no stub sends, a job no stub uses, a stub
   too broken to compare, and a check that could not be made (no web
   user known on this host).
3. Every problem names its place, as the loader does: `jobs.b12.steps[2].run[1]`,
   or the stub file and line.
"""

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysside.fieldtypes import LENGTH_TYPES, FieldSpec
from sysside.jobmap import JobMap, JobSpec, Limits, StepSpec
from sysside.review.finding import Kind
from sysside.review.programs import WebUser, command_problems, program_writable
from sysside.review.states import StubReview, StubState

LIMIT_NAMES = Limits.__slots__
# The web side's user on a host set up by `hole up` (sysside.users).
WEB_USER = "holeweb"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of the map, at one place; a warning does not fail the check."""

    where: str
    message: str
    error: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.error else f"warning: {self.where}: {self.message}"


def web_user(uid: int | None) -> tuple[WebUser | None, str | None]:
    """The web side's user (from `uid`, else the user holeweb), or None and why the check is skipped."""
    if uid is None:
        try:
            entry = pwd.getpwnam(WEB_USER)
        except KeyError:
            return None, (
                f"there is no user {WEB_USER} here, so no program was checked for being writable by the web "
                "side; pass --web-uid N to check against another uid"
            )
    else:
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            # A uid with no name here (a container's, say) still owns files.
            return WebUser(uid, frozenset()), None
    groups = {g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem}
    return WebUser(entry.pw_uid, frozenset({entry.pw_gid, *groups})), None


def bound(spec: FieldSpec) -> str:
    """How long a field's value can be, in words: its max, or what its type allows."""
    if spec.type in LENGTH_TYPES:
        return f"at most {spec.max} characters"
    if spec.type in ("int", "decimal"):
        return f"{spec.min} to {spec.max}, so at most {spec.max_length} characters by its type"
    if spec.type == "choice":
        return f"one of {len(spec.choices)}, so at most {spec.max_length} characters by its type"
    if spec.type == "date":
        return "a date, so 10 characters by its type"
    return "yes or no by its type"


def lint(jobmap: JobMap, raw: dict[str, Any], web: WebUser | None, reviews: list[StubReview] | None) -> list[Problem]:
    """Every problem of a loaded map; `raw` is its TOML as read, `reviews` its stubs (None: not checked)."""
    problems: list[Problem] = []
    defaults = raw.get("defaults", {})
    for name, spec in sorted(jobmap.jobs.items()):
        raw_job = raw["jobs"][name]
        problems += _settings(f"jobs.{name}", raw_job, defaults)
        for field in spec.fields.values():
            if field.type in LENGTH_TYPES and field.max is None:
                problems.append(Problem(f"jobs.{name}.fields.{field.name}.max", "is required: set the longest value"))
        for index, (step, raw_step) in enumerate(zip(spec.steps, raw_job["steps"], strict=True), 1):
            problems += _step(f"jobs.{name}.steps[{index}]", step, raw_step["run"][0], web)
    if reviews is not None:
        problems += _stubs(jobmap, reviews)
    return problems


def _settings(where: str, raw_job: dict[str, Any], defaults: dict[str, Any]) -> list[Problem]:
    problems = []
    if "timeout" not in raw_job and "timeout" not in defaults:
        problems.append(
            Problem(
                f"{where}.timeout",
                "not set here or in [defaults], so the built-in 60s applies; set the longest the job may take",
            )
        )
    job_limits = raw_job.get("limits", {})
    default_limits = defaults.get("limits", {})
    if "limits" not in raw_job and "limits" not in defaults:
        problems.append(
            Problem(
                f"{where}.limits",
                f"not set here or in [defaults], so every rlimit is the built-in default; set {', '.join(LIMIT_NAMES)}",
            )
        )
    else:
        unset = [n for n in LIMIT_NAMES if n not in job_limits and n not in default_limits]
        if unset:
            problems.append(
                Problem(f"{where}.limits", f"{', '.join(unset)} left at the built-in default(s)", error=False)
            )
    return problems


def _step(where: str, step: StepSpec, written: str, web: WebUser | None) -> list[Problem]:
    names = list(dict.fromkeys([os.path.basename(written), os.path.basename(os.path.realpath(step.program))]))
    literal_args = [None if t.names else t.render({}) for t in step.argv[1:]]
    problems = [
        Problem(f"{where}.run[{index + 1}]", message) for index, message in command_problems(names, literal_args)
    ]
    if web is not None:
        reasons = program_writable(Path(step.program), web)
        if reasons:
            problems.append(
                Problem(
                    f"{where}.run[1]",
                    f"{step.program} could be changed by the web side's user: {'; '.join(reasons)}. "
                    "Make it and every folder above it owned by root and writable by root only",
                )
            )
    return problems


def _stubs(jobmap: JobMap, reviews: list[StubReview]) -> list[Problem]:
    problems = []
    used: set[str] = set()
    for review in reviews:
        if review.state is StubState.BROKEN:
            why = "; ".join(review.problems)
            problems.append(Problem(str(review.path), f"broken ({why}); its fields were not compared", error=False))
            continue
        used.add(review.job)
        for finding in review.findings:
            if finding.kind in (Kind.NO_JOB, Kind.UNDECLARED):
                problems.append(Problem(f"{review.path}:{finding.line}", finding.message))
            elif finding.kind is Kind.UNSENT:
                problems.append(Problem(f"{review.path}:{finding.line}", finding.message, error=False))
    for name in sorted(set(jobmap.jobs) - used):
        problems.append(Problem(f"jobs.{name}", "no stub uses this job", error=False))
    return problems


def describe(spec: JobSpec) -> str:
    """One line about a job for the check's listing: steps, timeout, and each field's bound."""
    fields = ", ".join(f"{f.name}:{f.type} ({bound(f)})" for f in spec.fields.values()) or "(none)"
    return f"{spec.name}: {len(spec.steps)} step(s), timeout {spec.timeout:g}s; fields {fields}"
