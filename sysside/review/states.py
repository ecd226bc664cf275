"""Each stub's state against its approval, with its findings.

Rules:
1. One state per stub, the first that applies: approved but missing (an
   approval whose file is gone), broken (the registry could not serve
   it), new (never approved), changed since approval, approved.
2. A stub is in order only when it is approved and has no finding beyond
   those accepted with its approval: a job map changed since can bring new
   ones to an unchanged stub.
3. The bytes reviewed are read once and are the bytes an approval records.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sysside.review import ReviewError, shape
from sysside.review.finding import Finding
from sysside.review.findings import JobFields, find
from webside.approval import Approval, Manifest, ManifestError, Standing, load_manifest, stub_files


class StubState(enum.Enum):
    """Where a stub stands; the value is how `hole review` names it."""

    APPROVED = "approved"
    CHANGED = "changed since approval"
    NEW = "new"
    BROKEN = "broken"
    MISSING = "approved but missing"

    @classmethod
    def approvable(cls) -> frozenset["StubState"]:
        """The states from which a stub may be approved."""
        return frozenset({cls.NEW, cls.CHANGED, cls.APPROVED})


_FROM_STANDING = {
    Standing.APPROVED: StubState.APPROVED,
    Standing.CHANGED: StubState.CHANGED,
    Standing.NEW: StubState.NEW,
}


@dataclass(frozen=True, slots=True)
class StubReview:
    """One stub as reviewed: its state, job, findings, and what it was approved as."""

    name: str
    path: Path
    state: StubState
    job: str
    source: bytes | None
    approval: Approval | None
    problems: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def unaccepted(self) -> tuple[Finding, ...]:
        """Findings not accepted with the approval (all of them when there is none)."""
        accepted = set(self.approval.findings) if self.approval is not None else set()
        return tuple(f for f in self.findings if str(f) not in accepted)

    @property
    def in_order(self) -> bool:
        """Approved as it is, with no finding beyond those accepted."""
        return self.state is StubState.APPROVED and not self.unaccepted


def manifest_of(stubs_dir: Path) -> Manifest:
    """The folder's manifest; a ReviewError when it cannot be read."""
    try:
        return load_manifest(stubs_dir)
    except ManifestError as exc:
        raise ReviewError(f"{exc}; fix or restore it (it is under version control) before reviewing") from None


def review_stub(path: Path, manifest: Manifest, job_map: JobFields | None) -> StubReview:
    """Review the stub file at `path`."""
    name = path.stem
    approval = manifest.approvals.get(name)
    try:
        source = path.read_bytes()
    except FileNotFoundError:
        if approval is None:
            raise ReviewError(f"{path} does not exist and was never approved") from None
        return StubReview(name, path, StubState.MISSING, name, None, approval, (), ())
    except OSError as exc:
        return StubReview(name, path, StubState.BROKEN, name, None, approval, (f"cannot read it: {exc.strerror}",), ())
    tree, problems = shape.parse(name, source)
    if tree is None:
        return StubReview(name, path, StubState.BROKEN, name, source, approval, tuple(problems), ())
    job, job_line, _problem = shape.job_of(tree, name)
    problems = shape.problems(tree, name)
    findings = tuple(find(tree, job, job_line, job_map))
    state = StubState.BROKEN if problems else _FROM_STANDING[manifest.standing(name, source)]
    return StubReview(name, path, state, job, source, approval, tuple(problems), findings)


def review_stubs(stubs_dir: Path, job_map: JobFields | None) -> list[StubReview]:
    """Every stub of the folder, and every approval whose stub is gone, by name."""
    manifest = manifest_of(stubs_dir)
    reviews = {path.stem: review_stub(path, manifest, job_map) for path in stub_files(stubs_dir)}
    for name in manifest.approvals:
        if name not in reviews:
            reviews[name] = review_stub(stubs_dir / f"{name}.py", manifest, job_map)
    return [reviews[name] for name in sorted(reviews)]


def job_users(reviews: Iterable[StubReview], jobs: Iterable[str]) -> dict[str, list[str]]:
    """For each job of the map, the stubs that use it (present and readable ones)."""
    users: dict[str, list[str]] = {job: [] for job in jobs}
    for review in reviews:
        if review.state is not StubState.MISSING and review.job in users:
            users[review.job].append(review.name)
    return users
