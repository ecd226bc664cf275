"""Recording approvals: who approved which content of a stub, when, with which findings.

Rules:
1. What is approved is exactly the bytes that were reviewed (the review's
   own copy), never the file read again afterwards.
2. A broken or missing stub cannot be approved; a stub with findings only
   when they are accepted, and then they are recorded with it.
3. The manifest is replaced whole and atomically (a temporary file in the
   same folder, then rename), so a reader never sees half of it.
"""

import datetime
import os
import tempfile
from pathlib import Path

from sysside.review import ReviewError
from sysside.review.states import StubReview, StubState, manifest_of
from webside.approval import Approval, Manifest, approval_of, manifest_path, manifest_text


def timestamp(when: datetime.datetime) -> str:
    """An approval's time as the manifest records it: UTC, to the second, ISO 8601."""
    return when.astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def approve(
    stubs_dir: Path, review: StubReview, approved_by: str, when: datetime.datetime, accept_findings: bool
) -> Approval:
    """Record the approval of `review`'s content; raise ReviewError when it may not be approved."""
    if review.state not in StubState.approvable() or review.source is None:
        why = "; ".join(review.problems) or review.state.value
        raise ReviewError(f"{review.name} cannot be approved: {why}")
    if review.findings and not accept_findings:
        raise ReviewError(
            f"{review.name} has {len(review.findings)} finding(s); read them with `hole review {review.name}`, "
            "then either fix the stub or pass --accept-findings to approve it with them recorded"
        )
    if not approved_by.strip():
        raise ReviewError("the approver's name is empty; pass --by NAME")
    findings = tuple(str(f) for f in review.findings)
    approval = approval_of(review.name, review.source, approved_by, timestamp(when), findings)
    save_manifest(stubs_dir, manifest_of(stubs_dir).with_approval(approval))
    return approval


def revoke(stubs_dir: Path, name: str) -> Approval:
    """Remove the approval of `name`; raise ReviewError when it has none."""
    manifest = manifest_of(stubs_dir)
    approval = manifest.approvals.get(name)
    if approval is None:
        raise ReviewError(f"{name} has no approval to revoke")
    save_manifest(stubs_dir, manifest.without(name))
    return approval


def save_manifest(stubs_dir: Path, manifest: Manifest) -> None:
    """Replace the folder's manifest with `manifest`."""
    target = manifest_path(stubs_dir)
    handle, temporary = tempfile.mkstemp(prefix=".approved-", suffix=".tmp", dir=stubs_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(manifest_text(manifest))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
