"""Placeholder templates of the job map, parsed once when the map loads.

Rules:
1. `{name}` is a field, `{job.id}` and `{job.name}` the job's own; `{{` and
   `}}` are literal braces; any other brace is an error in the map.
2. Rendering concatenates literal text and values: a value is inserted once
   and never read again as a template, so a field holding "{year}" stays
   that text.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

# placeholder = "{" name "}" ; name = field-name / "job.id" / "job.name"
_TOKEN_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}|job\.id|job\.name")
JOB_NAMES = frozenset({"job.id", "job.name"})


class TemplateError(ValueError):
    """A template in the map that does not follow the rules above."""


@dataclass(frozen=True, slots=True)
class Template:
    """Literal text and placeholder names, in order: (is_placeholder, text)."""

    parts: tuple[tuple[bool, str], ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(text for is_name, text in self.parts if is_name)

    @property
    def is_single_placeholder(self) -> bool:
        return len(self.parts) == 1 and self.parts[0][0]

    def render(self, values: Mapping[str, str]) -> str:
        return "".join(values[text] if is_name else text for is_name, text in self.parts)


def parse_template(source: str) -> Template:
    """Parse a template; raise TemplateError naming the bad piece."""
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    pos = 0
    for match in _TOKEN_RE.finditer(source):
        literal.append(source[pos : match.start()])
        pos = match.end()
        token = match[0]
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        name = match[1]
        if name is None:
            raise TemplateError(f"lone {token!r} at offset {match.start()} (write {token * 2} for a literal brace)")
        if not _NAME_RE.fullmatch(name):
            if name.startswith("session."):
                raise TemplateError(f"{{{name}}}: sessions are not available in this version")
            raise TemplateError(f"{{{name}}} is not a field name, job.id or job.name")
        text = "".join(literal)
        if text:
            parts.append((False, text))
        literal = []
        parts.append((True, name))
    literal.append(source[pos:])
    tail = "".join(literal)
    if tail:
        parts.append((False, tail))
    return Template(tuple(parts))
