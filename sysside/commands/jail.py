"""`hole jail`: build the web side's jail, set its permissions, audit it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sysside.commands import HoleError
from sysside.jail import JailError
from sysside.jail.audit import audit
from sysside.jail.layout import DEFAULT_WEB_GID, DEFAULT_WEB_UID, WebIds, read_web_ids
from sysside.jail.perms import fix_permissions
from sysside.state import default_state_dir

F = TypeVar("F", bound=Callable[..., Any])


def _place_options(command: F) -> F:
    command = click.option(
        "--jail",
        "jail_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="The jail folder (default: <state>/jail).",
    )(command)
    command = click.option(
        "--state",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="The state folder (default: HOLE_STATE; /var/lib/hole as root; else ~/.local/state/hole).",
    )(command)
    return command


def _web_id_options(uid: int | None, gid: int | None, default_help: str) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        # uid 0 would make the web user root; the top of the range is "no user".
        ids = click.IntRange(1, 2**31 - 2)
        command = click.option(
            "--web-gid", type=ids, default=gid, help=f"The web user's gid (default: {default_help or gid})."
        )(command)
        command = click.option(
            "--web-uid", type=ids, default=uid, help=f"The web user's uid (default: {default_help or uid})."
        )(command)
        return command

    return decorate


def _jail_path(state: Path | None, jail_dir: Path | None) -> Path:
    return (jail_dir or (state or default_state_dir()) / "jail").absolute()


@click.group("jail")
def jail_group() -> None:
    """Build, fix the permissions of, and audit the web side's chroot jail."""


@jail_group.command("build")
@_place_options
@click.option(
    "--stubs",
    "stubs_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of report stubs to copy in (default: the project's stubs/).",
)
@_web_id_options(DEFAULT_WEB_UID, DEFAULT_WEB_GID, "")
@click.option("--rescan", is_flag=True, help="Run the probe again even if nothing it depends on changed.")
@click.option("-v", "--verbose", is_flag=True, help="List every file changed, however many.")
def build_command(
    state: Path | None,
    jail_dir: Path | None,
    stubs_dir: Path | None,
    web_uid: int,
    web_gid: int,
    rescan: bool,
    verbose: bool,
) -> None:
    """Build the jail, or bring it up to date: only what changed is copied.

    Runs the web side once on the host (the probe) to learn which modules
    and files it uses, then copies those, the interpreter and its libraries
    into the jail. Prints each file changed (or a count when there are
    many), then the jail's size and the time taken. Needs root.
    """
    # Here, not at the top: building imports the web side, and with it Flask.
    from sysside.jail.builder import build, summary_lines  # noqa: PLC0415
    from webside.settings import SETTINGS  # noqa: PLC0415

    jail = _jail_path(state, jail_dir)
    if stubs_dir is None:
        stubs_dir = Path(next(s.default for s in SETTINGS if s.name == "STUBS_DIR"))
    ids = WebIds(web_uid, web_gid)
    try:
        report = build(jail, stubs_dir, ids, rescan=rescan)
    except JailError as exc:
        raise HoleError(str(exc)) from None
    for line in summary_lines(report, limit=len(report.changes) if verbose else 40):
        click.echo(line)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for path in report.left_out:
        click.echo(
            f"note: the web side read {path} on the host; the jail has no copy (outside Python's folders)", err=True
        )
    probe = "probed the web side" if report.probed else "probe skipped, nothing it depends on changed"
    click.echo(
        f"jail {jail}: {report.size_bytes / 1e6:.1f} MB in {report.files} files, "
        f"{len(report.changes)} change(s), built in {report.seconds:.2f} s ({probe})"
    )


@jail_group.command("perms")
@_place_options
@_web_id_options(None, None, "the jail's etc/passwd and etc/group")
def perms_command(state: Path | None, jail_dir: Path | None, web_uid: int | None, web_gid: int | None) -> None:
    """Make the jail root's and read-only, except the spool and tmp/; print each change.

    Needs root. Running it again changes nothing.
    """
    jail = _jail_path(state, jail_dir)
    try:
        changes = fix_permissions(jail, _web_ids(jail, web_uid, web_gid))
    except JailError as exc:
        raise HoleError(str(exc)) from None
    except OSError as exc:
        raise HoleError(f"cannot set permissions in {jail}: {exc}") from None
    for line in changes:
        click.echo(line)
    click.echo(f"jail {jail}: {len(changes)} path(s) changed" if changes else f"jail {jail}: nothing changed")


@jail_group.command("check")
@_place_options
@_web_id_options(None, None, "the jail's etc/passwd and etc/group")
def check_command(state: Path | None, jail_dir: Path | None, web_uid: int | None, web_gid: int | None) -> None:
    """Audit the jail; print each offending path with why, and exit 1 if there is any.

    Looks for set-id files, device nodes beyond dev/null, dev/zero and
    dev/urandom, shells, compilers and network tools, anything the web user
    could write outside the spool and tmp/, foreign owners, sys-side code,
    job maps, databases, secrets, and hard links to files outside the jail.
    """
    jail = _jail_path(state, jail_dir)
    if not jail.is_dir():
        raise HoleError(f"{jail} is not a folder; build the jail first (hole jail build)")
    if os.geteuid() != 0:
        click.echo("note: not root: files only root may read were not checked by content", err=True)
    secret = (state or default_state_dir()) / "secret_key"
    try:
        secrets = [secret.read_bytes().strip()] if secret.is_file() else []
    except OSError:
        secrets = []
    try:
        result = audit(jail, _web_ids(jail, web_uid, web_gid), secrets=secrets)
    except JailError as exc:
        raise HoleError(str(exc)) from None
    for finding in result.findings:
        click.echo(str(finding))
    # The layers the launcher will put around this jail on this machine.
    from sysside.jailed import cgroup_base, layers  # noqa: PLC0415 (loads libseccomp)
    from sysside.state import StateDir  # noqa: PLC0415

    for layer, what in layers(cgroup_base(StateDir((state or default_state_dir()).absolute()))).items():
        click.echo(f"layer {layer}: {what}", err=True)
    if not result.clean:
        raise HoleError(f"jail {jail}: {len(result.findings)} problem(s)")
    click.echo(f"jail {jail}: clean ({result.files} files, {result.folders} folders checked)")


def _web_ids(jail: Path, uid: int | None, gid: int | None) -> WebIds:
    if uid is not None and gid is not None:
        return WebIds(uid, gid)
    found = read_web_ids(jail)
    return WebIds(uid if uid is not None else found.uid, gid if gid is not None else found.gid)
