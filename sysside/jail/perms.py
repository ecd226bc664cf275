"""The permission script: every file of the jail root's and read-only, then a short list of exceptions.

Rules:
1. The clamp: every file, folder and link becomes owned by root (uid 0,
   gid 0); files and folders lose write access for group and others, and
   their setuid, setgid and sticky bits.
2. Then RELAXED, below: each exception with its reason beside it. Nothing
   else in the jail may differ from the clamp.
3. What lies below the spool's jobs/ and below tmp/ is left alone: it
   belongs to the web side at run time (the files of jobs in progress).
4. A second run changes nothing. Each change is one line of the result.
5. It runs as root in a tree where the web user can write two folders: the
   tree is walked with os.fwalk and every change is made relative to a
   folder fd, never following a link, so a link planted there cannot lead
   a chown outside the jail.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sysside.jail import JailError
from sysside.jail.layout import SPOOL, SPOOL_FIFO, SPOOL_JOBS, TMP, WebIds

Owner = Literal["root", "web"]

# What the clamp takes away from every file and folder.
CLAMPED_BITS = stat.S_IWGRP | stat.S_IWOTH | stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


@dataclass(frozen=True)
class Relaxed:
    """An exception to the clamp: the owner, group, mode and kind one path gets, and why."""

    path: str
    owner: Owner
    group: Owner
    mode: int
    kind: int  # stat.S_IFDIR, S_IFIFO or S_IFCHR: anything else there is not relaxed
    why: str
    device: tuple[int, int] | None = None  # a device's major and minor: any other is not relaxed


RELAXED = (
    Relaxed(
        SPOOL,
        "web",
        "web",
        0o770,
        stat.S_IFDIR,
        "The hole itself: the web side and the daemon (whose user is in the web group) meet here; nobody else enters.",
    ),
    Relaxed(
        SPOOL_JOBS,
        "web",
        "web",
        0o770,
        stat.S_IFDIR,
        "The web side makes a folder per job here; the daemon, through the group, removes it when the job is done.",
    ),
    Relaxed(
        SPOOL_FIFO,
        "web",
        "web",
        0o660,
        stat.S_IFIFO,
        "The web side writes request lines; the daemon reads them, and holds a write end of its own "
        "(so it never reads end-of-file), through the group.",
    ),
    Relaxed(
        TMP,
        "root",
        "root",
        0o1777,
        stat.S_IFDIR,
        "Python's tempfile and gunicorn's worker heartbeat files need a writable tmp; the sticky bit keeps "
        "each file's removal to its owner. The launcher mounts a fresh tmpfs here anyway.",
    ),
    Relaxed(
        "dev/null",
        "root",
        "root",
        0o666,
        stat.S_IFCHR,
        "Output is thrown away by writing it here, by whoever runs.",
        device=(1, 3),
    ),
)

# Folders whose contents are the web side's at run time (rule 3).
NOT_DESCENDED = (SPOOL_JOBS, TMP)


@dataclass(frozen=True)
class Wanted:
    uid: int
    gid: int
    mode: int | None  # None: a link, whose mode means nothing


def fix_permissions(jail: Path, web: WebIds) -> list[str]:
    """Clamp and relax the jail's owners and modes; return one line per path changed.

    Raises JailError, after fixing everything else, when a relaxed path is
    missing or is not of its kind (such a path is clamped, never relaxed).
    """
    if os.geteuid() != 0:
        raise JailError("setting the jail's owners needs root; run it as root")
    jail = jail.absolute()
    relaxed = {r.path: r for r in RELAXED}
    ids = {"root": 0, "web": web.uid}
    gids = {"root": 0, "web": web.gid}
    changes: list[str] = []
    wrong: list[str] = []
    seen: set[str] = set()

    def wanted(relative: str, info: os.stat_result) -> Wanted:
        if stat.S_ISLNK(info.st_mode):
            return Wanted(0, 0, None)
        rule = relaxed.get(relative)
        if rule is not None:
            seen.add(relative)
            is_kind = stat.S_IFMT(info.st_mode) == rule.kind
            if is_kind and (rule.device is None or info.st_rdev == os.makedev(*rule.device)):
                return Wanted(ids[rule.owner], gids[rule.group], rule.mode)
            wrong.append(f"{relative} should be {_describe(rule.kind, rule.device)} and is {_describe_stat(info)}")
        return Wanted(0, 0, stat.S_IMODE(info.st_mode) & ~CLAMPED_BITS)

    root_fd = os.open(jail, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        change = _apply(root_fd, ".", ".", wanted(".", os.fstat(root_fd)), follow=True)
        if change:
            changes.append(change)
    finally:
        os.close(root_fd)
    for folder, dirnames, filenames, dir_fd in os.fwalk(jail, follow_symlinks=False):
        relative_folder = os.path.relpath(folder, jail)
        for name in sorted(dirnames + filenames):
            relative = name if relative_folder == "." else f"{relative_folder}/{name}"
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            change = _apply(dir_fd, name, relative, wanted(relative, info), info=info)
            if change:
                changes.append(change)
        dirnames[:] = [d for d in dirnames if _join(relative_folder, d) not in NOT_DESCENDED]
    missing = sorted(set(relaxed) - seen)
    wrong.extend(f"{path} is missing" for path in missing)
    if wrong:
        raise JailError("; ".join(wrong) + ". Build the jail again (hole jail build) to remake them.")
    return changes


def _join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def _apply(
    dir_fd: int,
    name: str,
    relative: str,
    want: Wanted,
    *,
    info: os.stat_result | None = None,
    follow: bool = False,
) -> str:
    """Make one path match `want`, relative to `dir_fd` and without following links; describe the change."""
    current = info or os.stat(name, dir_fd=dir_fd, follow_symlinks=follow)
    said: list[str] = []
    if (current.st_uid, current.st_gid) != (want.uid, want.gid):
        os.chown(name, want.uid, want.gid, dir_fd=dir_fd, follow_symlinks=follow)
        said.append(f"owner {current.st_uid}:{current.st_gid} -> {want.uid}:{want.gid}")
        # chown drops setuid and setgid bits: compare the mode as it is now.
        current = os.stat(name, dir_fd=dir_fd, follow_symlinks=follow)
    if want.mode is not None and stat.S_IMODE(current.st_mode) != want.mode:
        os.chmod(name, want.mode, dir_fd=dir_fd, follow_symlinks=follow)
        said.append(f"mode {stat.S_IMODE(current.st_mode):04o} -> {want.mode:04o}")
    return f"{relative}: {', '.join(said)}" if said else ""


def _describe(kind: int, device: tuple[int, int] | None) -> str:
    return f"{_kind_name(kind)} {device[0]},{device[1]}" if device else _kind_name(kind)


def _describe_stat(info: os.stat_result) -> str:
    kind = stat.S_IFMT(info.st_mode)
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        return _describe(kind, (os.major(info.st_rdev), os.minor(info.st_rdev)))
    return _kind_name(kind)


def _kind_name(kind: int) -> str:
    names = {
        stat.S_IFDIR: "a folder",
        stat.S_IFIFO: "a FIFO",
        stat.S_IFCHR: "a character device",
        stat.S_IFREG: "a file",
        stat.S_IFLNK: "a link",
        stat.S_IFSOCK: "a socket",
        stat.S_IFBLK: "a block device",
    }
    return names.get(kind, "something else")
