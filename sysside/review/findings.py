"""Every finding of one stub, from its source alone: the stub is parsed, never run.

Rules:
1. The checks are in names (imports, files, network, system, dynamic
   code), toplevel (import-time code, shared state) and fields (what is
   sent, against the job map); this module only gathers them.
2. The same finding is reported once, and findings come sorted by line,
   so the text an approval records is stable.
"""

import ast
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sysside.review.fields import field_findings, fields_sent, job_findings, prepare_function
from sysside.review.finding import Finding
from sysside.review.names import bindings, import_findings, imports, use_findings
from sysside.review.toplevel import import_time_findings, state_findings


@dataclass(frozen=True, slots=True)
class JobFields:
    """What the review needs of a job map: its file, and each job's declared field names."""

    path: str
    jobs: Mapping[str, Collection[str]]


def find(tree: ast.Module, job: str, job_line: int, job_map: JobFields | None) -> list[Finding]:
    """The findings of a parsed stub whose job is `job`; without a job map, none that need one."""
    found = imports(tree)
    imported = bindings(found)
    findings = [
        *import_findings(found),
        *use_findings(tree, imported),
        *import_time_findings(tree, imported),
        *state_findings(tree, imported),
    ]
    function = prepare_function(tree)
    sent = fields_sent(function) if function is not None else None
    if sent is not None:
        findings += field_findings(sent)
    if job_map is not None:
        findings += job_findings(sent, job, job_line, job_map.jobs.get(job))
    return sorted(set(findings), key=lambda f: f.sort_key)
