"""Write the demo's job map from the template shipped beside this module.

The template is valid TOML in itself: each path it needs appears as a
quoted marker ("@FIS_DB@"), replaced whole by a TOML string, so no path
can break out of its string whatever characters it holds.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sysside.demo.files import write_atomically

TEMPLATE = "jobs.toml"


def toml_string(value: str) -> str:
    """Quote `value` as a TOML basic string."""
    quoted = []
    for char in value:
        if char in '"\\':
            quoted.append("\\" + char)
        elif char < " " or char == "\x7f":
            # TOML forbids these raw in a basic string. Tab is allowed raw,
            # but \u0009 is the same value and keeps one rule for all.
            quoted.append(f"\\u{ord(char):04X}")
        else:
            quoted.append(char)
    return '"' + "".join(quoted) + '"'


def render_jobs(database: Path, tripwire_log: Path) -> str:
    """Return the job map text with the demo's absolute paths filled in."""
    text = resources.files("sysside.demo").joinpath(TEMPLATE).read_text(encoding="utf-8")
    for marker, path in (("@FIS_DB@", database), ("@FIS_TRIPWIRE@", tripwire_log)):
        quoted_marker = f'"{marker}"'
        if text.count(quoted_marker) != 1:
            raise RuntimeError(f"the job map template must hold {quoted_marker} exactly once")
        text = text.replace(quoted_marker, toml_string(str(path)))
    return text


def write_jobs(path: Path, database: Path, tripwire_log: Path) -> None:
    """Write the job map to `path` (mode 0644), replacing any earlier one."""
    write_atomically(path, render_jobs(database, tripwire_log).encode("utf-8"), 0o644)
