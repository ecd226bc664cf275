"""`hole review`: the webmaster's review and approval of report stubs."""

import datetime
import getpass
import re
from pathlib import Path

import click

from sysside.commands import HoleError
from sysside.jobmap import JobMapError, load_jobmap
from sysside.review import ReviewError
from sysside.review.approve import approve, revoke
from sysside.review.diff import changes
from sysside.review.findings import JobFields
from sysside.review.states import StubReview, StubState, job_users, manifest_of, review_stub, review_stubs
from webside.settings import PROJECT_DIR

NAME_RE = re.compile(r"[A-Za-z0-9_]{1,63}")
NO_JOBS_NOTE = "note: no --jobs given: the fields each stub sends were not compared with the job map"


def _job_fields(jobs_file: Path | None) -> JobFields | None:
    if jobs_file is None:
        click.echo(NO_JOBS_NOTE, err=True)
        return None
    try:
        jobmap = load_jobmap(jobs_file)
    except JobMapError as exc:
        for problem in exc.problems:
            click.echo(f"{exc.path}: {problem}", err=True)
        raise HoleError(f"{jobs_file}: the job map has problems; see them with `hole jobs check {jobs_file}`") from None
    return JobFields(str(jobs_file), {name: frozenset(spec.fields) for name, spec in jobmap.jobs.items()})


def _summary(review: StubReview) -> str:
    if review.state is StubState.BROKEN:
        return f"broken: {'; '.join(review.problems)}"
    text = str(review.state.value)
    accepted = len(review.findings) - len(review.unaccepted)
    if review.state is StubState.APPROVED:
        if review.unaccepted:
            text += f", {len(review.unaccepted)} finding(s) not accepted"
        if accepted:
            text += f", {accepted} finding(s) accepted"
    elif review.findings:
        text += f", {len(review.findings)} finding(s)"
    return text


def _list(reviews: list[StubReview], job_map: JobFields | None) -> None:
    width = max((len(r.name) for r in reviews), default=0)
    for review in reviews:
        job = f"  (job {review.job})" if review.state is not StubState.MISSING else ""
        click.echo(f"stub {review.name:<{width}}  {_summary(review)}{job}")
    if job_map is not None:
        for job, users in sorted(job_users(reviews, job_map.jobs).items()):
            click.echo(f"job  {job:<{width}}  used by {', '.join(users) if users else 'no stub'}")


def _show(review: StubReview) -> None:
    click.echo(f"stub {review.name}: {_summary(review)}  (job {review.job})")
    approval = review.approval
    if approval is None:
        click.echo("approval: none")
    else:
        accepted = f", with {len(approval.findings)} finding(s) accepted" if approval.findings else ""
        click.echo(f"approval: by {approval.approved_by} on {approval.approved_at}{accepted}")
    diff = changes(review)
    if diff:
        click.echo("changes since approval:" if approval is not None else "content (new):")
        for line in diff:
            click.echo(line)
    elif approval is not None:
        click.echo("changes since approval: none")
    for problem in review.problems:
        click.echo(f"broken: {problem}")
    source_lines = review.source.decode("utf-8", errors="replace").splitlines() if review.source else []
    click.echo(f"findings: {len(review.findings) or 'none'}")
    accepted_texts = set(approval.findings) if approval is not None else set()
    for finding in review.findings:
        mark = " (accepted)" if str(finding) in accepted_texts else ""
        click.echo(f"  {finding}{mark}")
        if 0 < finding.line <= len(source_lines):
            click.echo(f"      {source_lines[finding.line - 1].strip()}")


@click.command("review")
@click.argument("name", required=False)
@click.option(
    "--approve", "do_approve", is_flag=True, help="Approve NAME as it is now: record who, when and its content."
)
@click.option(
    "--accept-findings", is_flag=True, help="With --approve: approve NAME despite its findings, recording them."
)
@click.option("--revoke", "do_revoke", is_flag=True, help="Remove NAME's approval (for a stub deleted or withdrawn).")
@click.option(
    "--stubs",
    "stubs_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HOLE_STUBS_DIR",
    default=PROJECT_DIR / "stubs",
    show_default="from $HOLE_STUBS_DIR, else the project's stubs/",
    help="Folder of report stubs and their approval manifest, approved.json.",
)
@click.option(
    "--jobs",
    "jobs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The job map, to compare the fields each stub sends with its job's; without it that check is skipped.",
)
@click.option("--by", "approved_by", help="Who approves, as recorded.  [default: your login name]")
def review_command(
    name: str | None,
    do_approve: bool,
    accept_findings: bool,
    do_revoke: bool,
    stubs_dir: Path,
    jobs_file: Path | None,
    approved_by: str | None,
) -> None:
    """Review the report stubs; with NAME, one stub in full.

    \b
    Without NAME, list every stub with its state (approved, changed since
    approval, new, broken, approved but missing) and, with --jobs, every
    job of the map with the stubs that use it. It exits 1 while any stub is
    not approved as it is, or has findings its approval did not accept.

    \b
    With NAME, show the stub's changes since its approval as a diff, and
    its findings: anything beyond building a form and returning fields,
    read from the source (the stub is never run). --approve records the
    approval in approved.json beside the stubs; only approved stubs whose
    content is unchanged are served.
    """
    if (do_approve or do_revoke) and name is None:
        raise click.UsageError("--approve and --revoke need the NAME of a stub")
    if do_approve and do_revoke:
        raise click.UsageError("--approve and --revoke cannot be used together")
    if accept_findings and not do_approve:
        raise click.UsageError("--accept-findings only goes with --approve")
    if name is not None:
        name = name.removesuffix(".py")
        if not NAME_RE.fullmatch(name):
            raise click.UsageError(f"{name[:80]!r} is not a stub name: give the file name without .py")
    if not stubs_dir.is_dir():
        raise HoleError(f"{stubs_dir}: no such folder; pass --stubs DIR or set HOLE_STUBS_DIR")
    try:
        if name is None:
            _review_all(stubs_dir, _job_fields(jobs_file))
        elif do_revoke:
            approval = revoke(stubs_dir, name)
            click.echo(f"revoked {name}: approved by {approval.approved_by} on {approval.approved_at}")
        else:
            review = review_stub(stubs_dir / f"{name}.py", manifest_of(stubs_dir), _job_fields(jobs_file))
            if do_approve:
                who = approved_by if approved_by is not None else getpass.getuser()
                done = approve(stubs_dir, review, who, datetime.datetime.now(datetime.UTC), accept_findings)
                accepted = f", {len(done.findings)} finding(s) accepted" if done.findings else ""
                click.echo(
                    f"approved {name}: sha256 {done.sha256[:16]}, by {done.approved_by} on {done.approved_at}{accepted}"
                )
                return
            _show(review)
            if not review.in_order:
                if review.unaccepted:
                    raise HoleError(
                        f"{name} has {len(review.unaccepted)} finding(s) not accepted: have them"
                        f" fixed, or approve with `hole review {name} --approve --accept-findings` if they are meant"
                    )
                raise HoleError(f"{name} is not approved as it is; approve it with `hole review {name} --approve`")
    except ReviewError as exc:
        raise HoleError(str(exc)) from None
    except OSError as exc:
        raise HoleError(f"cannot write the approval into {stubs_dir}: {exc.strerror}") from None


def _review_all(stubs_dir: Path, job_map: JobFields | None) -> None:
    reviews = review_stubs(stubs_dir, job_map)
    _list(reviews, job_map)
    pending = [r for r in reviews if not r.in_order]
    if pending:
        names = ", ".join(r.name for r in pending)
        raise HoleError(f"{len(pending)} stub(s) not approved as they are: {names}; see each with `hole review NAME`")
    click.echo(f"{len(reviews)} stub(s), all approved", err=True)
