"""The approval manifest: which content of each stub the webmaster approved.

Rules:
1. The manifest is `approved.json` in the stubs folder. For each approved
   stub it keeps who approved it, when, the findings accepted with it, and
   the approved content itself with its sha256, so that a later change can
   be shown as a diff and not only detected.
2. A stub is approved as it is now only when the sha256 of its bytes is the
   one recorded for its name. No entry, a changed byte, or a manifest that
   cannot be read all mean: not approved.
3. Standard library only, and nothing here writes: the web side reads the
   manifest inside the jail and never imports sysside; `hole review` (sys
   side) writes it with manifest_text().
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_NAME = "approved.json"
FORMAT_VERSION = 1
# Every demo stub together is a few kilobytes; this leaves room for hundreds.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
ENTRY_KEYS = frozenset({"sha256", "approved_by", "approved_at", "findings", "content"})


class ManifestError(Exception):
    """The manifest cannot be read or is not in the expected shape; the message says where."""


class Standing(enum.Enum):
    """Where a stub file stands against the manifest."""

    APPROVED = "approved"
    CHANGED = "changed since approval"
    NEW = "not approved"


@dataclass(frozen=True, slots=True)
class Approval:
    """One stub's approval: the exact content approved, by whom, when, with which findings."""

    name: str
    sha256: str
    approved_by: str
    approved_at: str
    content: str
    findings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Manifest:
    """Every approval in one stubs folder, by stub name."""

    approvals: Mapping[str, Approval]

    def standing(self, name: str, source: bytes) -> Standing:
        """How the stub `name`, whose file holds `source`, stands against its approval."""
        approval = self.approvals.get(name)
        if approval is None:
            return Standing.NEW
        return Standing.APPROVED if approval.sha256 == sha256_hex(source) else Standing.CHANGED

    def why_not_served(self, name: str, source: bytes) -> str | None:
        """None when the stub is approved as it is now, else why not, for the log."""
        standing = self.standing(name, source)
        if standing is Standing.APPROVED:
            return None
        if standing is Standing.NEW:
            return f"not approved; the webmaster reviews it with `hole review {name}`"
        approval = self.approvals[name]
        return (
            f"changed since {approval.approved_by} approved it on {approval.approved_at}; "
            f"the webmaster reviews the change with `hole review {name}`"
        )

    def with_approval(self, approval: Approval) -> Manifest:
        """A manifest with `approval` added, or replacing the stub's earlier one."""
        return Manifest({**self.approvals, approval.name: approval})

    def without(self, name: str) -> Manifest:
        """A manifest with no approval for `name`."""
        return Manifest({key: value for key, value in self.approvals.items() if key != name})


def sha256_hex(data: bytes) -> str:
    """The sha256 of a stub's bytes, as the manifest records it."""
    return hashlib.sha256(data).hexdigest()


def manifest_path(stubs_dir: str | Path) -> Path:
    """Where the manifest of `stubs_dir` lives."""
    return Path(stubs_dir) / MANIFEST_NAME


def approval_of(name: str, source: bytes, approved_by: str, approved_at: str, findings: tuple[str, ...]) -> Approval:
    """The approval of `source` as stub `name`; the source must be UTF-8, as Python source is."""
    return Approval(name, sha256_hex(source), approved_by, approved_at, source.decode("utf-8"), findings)


def load_manifest(stubs_dir: str | Path) -> Manifest:
    """The manifest of `stubs_dir`; an empty one when the folder has none."""
    path = manifest_path(stubs_dir)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        return Manifest({})
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it: {exc.strerror}") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path}: larger than {MAX_MANIFEST_BYTES} bytes")
    return parse_manifest(raw, str(path))


def parse_manifest(raw: bytes, where: str) -> Manifest:
    """Check and read a manifest's bytes; `where` names it in errors."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(document, dict) or set(document) != {"format", "stubs"}:
        raise ManifestError(f"{where}: expected an object with exactly the keys format and stubs")
    if document["format"] != FORMAT_VERSION:
        raise ManifestError(f"{where}: format {document['format']!r} is not {FORMAT_VERSION}")
    stubs = document["stubs"]
    if not isinstance(stubs, dict):
        raise ManifestError(f"{where}: stubs must be an object of stub name to approval")
    return Manifest({name: _entry(f"{where}: stubs.{name}", name, entry) for name, entry in stubs.items()})


def _entry(where: str, name: str, entry: Any) -> Approval:
    if not isinstance(entry, dict) or set(entry) != ENTRY_KEYS:
        raise ManifestError(f"{where}: expected exactly the keys {', '.join(sorted(ENTRY_KEYS))}")
    texts = [entry[key] for key in ("sha256", "approved_by", "approved_at", "content")]
    if not all(isinstance(text, str) for text in texts):
        raise ManifestError(f"{where}: sha256, approved_by, approved_at and content must be strings")
    findings = entry["findings"]
    if not isinstance(findings, list) or not all(isinstance(f, str) for f in findings):
        raise ManifestError(f"{where}: findings must be a list of strings")
    approval = Approval(
        name, entry["sha256"], entry["approved_by"], entry["approved_at"], entry["content"], tuple(findings)
    )
    # A hand-edited content or hash would make the diff shown at review lie
    # about what was approved.
    if sha256_hex(approval.content.encode("utf-8")) != approval.sha256:
        raise ManifestError(f"{where}: the content kept does not match its sha256")
    return approval


def manifest_text(manifest: Manifest) -> str:
    """The manifest as JSON, keys sorted, so the same approvals always give the same file."""
    stubs = {
        name: {
            "approved_at": approval.approved_at,
            "approved_by": approval.approved_by,
            "content": approval.content,
            "findings": list(approval.findings),
            "sha256": approval.sha256,
        }
        for name, approval in sorted(manifest.approvals.items())
    }
    return json.dumps({"format": FORMAT_VERSION, "stubs": stubs}, indent=2, ensure_ascii=False) + "\n"


def stub_files(stubs_dir: str | Path) -> list[Path]:
    """Every stub file of the folder, sorted: `*.py` whose name does not start with "_"."""
    folder = Path(stubs_dir)
    if not folder.is_dir():
        return []
    return [path for path in sorted(folder.glob("*.py")) if not path.name.startswith("_")]


def approved_stub_files(stubs_dir: str | Path) -> list[Path]:
    """The stub files approved as they are now: the only ones a jail may receive.

    Raises ManifestError when the manifest cannot be read, so a jail build
    stops rather than copying nothing without a word.
    """
    manifest = load_manifest(stubs_dir)
    approved = []
    for path in stub_files(stubs_dir):
        if manifest.standing(path.stem, path.read_bytes()) is Standing.APPROVED:
            approved.append(path)
    return approved
