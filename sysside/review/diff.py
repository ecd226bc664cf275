"""A stub's changes since its approval, as a unified diff."""

import difflib

from sysside.review.states import StubReview


def changes(review: StubReview) -> list[str]:
    """The lines of the diff from the approved content to the stub as it is; empty when they are the same."""
    approval = review.approval
    before = approval.content if approval is not None else ""
    after = review.source.decode("utf-8", errors="replace") if review.source is not None else ""
    label = f"{review.name}.py"
    if approval is not None:
        old = f"{label} (approved by {approval.approved_by} on {approval.approved_at})"
    else:
        old = f"{label} (never approved)"
    new = f"{label} (now)" if review.source is not None else f"{label} (missing)"
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), fromfile=old, tofile=new, lineterm="")
    return list(lines)
