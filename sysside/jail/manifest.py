"""The build manifest, <jail>/.hole-manifest.json: every file the builder made, and from what.

Rules:
1. An entry keeps the file's source and, for the source and for the file
   made, size and modification time (ns). A file is up to date when both
   still match: the builder then leaves it alone.
2. The manifest also keeps the probe's last findings and a fingerprint of
   what they depend on, so a build with nothing changed needs no probe.
3. Only root may read it (mode 0600): it names host paths the web side has
   no business knowing.
4. A manifest that cannot be read counts as empty: the next build makes
   every file again, which is slow but right.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat as stat_module
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sysside.jail.layout import MANIFEST

FORMAT = 1
MAX_MANIFEST_BYTES = 64 * 1024 * 1024

Stamp = tuple[int, int]


def stamp(path: str | os.PathLike[str], follow: bool = True) -> Stamp | None:
    """(size, mtime_ns) of a regular file, or None if there is no regular file there."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None
    if not stat_module.S_ISREG(info.st_mode):
        return None
    return info.st_size, info.st_mtime_ns


@dataclass(frozen=True)
class Entry:
    """One file made by the builder."""

    kind: str
    source: str
    source_stamp: Stamp | None
    dest_stamp: Stamp


@dataclass
class Manifest:
    """The files made, by place in the jail, and the probe's cached findings."""

    files: dict[str, Entry] = field(default_factory=dict)
    fingerprint: str = ""
    discovery: dict[str, Any] = field(default_factory=dict)


def load(jail: Path) -> Manifest | None:
    """The jail's manifest; None when there is none; an empty one when it cannot be read."""
    path = jail / MANIFEST
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return Manifest()
    try:
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(MAX_MANIFEST_BYTES))
        if data.get("format") != FORMAT:
            return Manifest()
        files = {
            str(dest): Entry(
                str(raw["kind"]),
                str(raw["source"]),
                _stamp(raw["source_stamp"]),
                _stamp(raw["dest_stamp"]) or (-1, -1),
            )
            for dest, raw in data["files"].items()
        }
        return Manifest(files, str(data.get("fingerprint", "")), dict(data.get("discovery", {})))
    except (ValueError, KeyError, TypeError, AttributeError):
        return Manifest()


def _stamp(raw: Any) -> Stamp | None:
    if raw is None:
        return None
    size, mtime = raw
    return int(size), int(mtime)


def save(jail: Path, manifest: Manifest) -> None:
    """Write the manifest atomically, readable by root only."""
    data = {
        "format": FORMAT,
        "fingerprint": manifest.fingerprint,
        "discovery": manifest.discovery,
        "files": {
            dest: {
                "kind": entry.kind,
                "source": entry.source,
                "source_stamp": entry.source_stamp,
                "dest_stamp": entry.dest_stamp,
            }
            for dest, entry in sorted(manifest.files.items())
        },
    }
    path = jail / MANIFEST
    part = jail / f"{MANIFEST}.part"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(part)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")
    os.replace(part, path)
