"""The jail audit: every path that breaks the jail's rules, one finding each.

Rules (the jail must not hold, or have):
1. setuid or setgid files; file capabilities; POSIX ACLs (which this audit
   cannot judge, so it refuses them).
2. device nodes other than dev/null, dev/zero and dev/urandom with their
   own numbers; FIFOs or sockets outside the spool and tmp/.
3. a shell, a compiler, assembler or linker, or a network tool, by name or
   as a copy of the host's; any program in a bin/ folder but the
   interpreter.
4. anything the web user could write outside the spool and tmp/: owned by
   it (an owner can chmod), writable by its group, or by everyone; a
   world-writable folder without the sticky bit anywhere.
5. anything owned by a user, or a group, other than root or the web user.
6. sys-side code (a `sysside` path, or a copy of any sysside file), a job
   map (a TOML file with a [jobs.*] table), a database (by name, or the
   SQLite header), a secret (by name, a private-key block, or the web
   side's own secret key).
7. a hard link to a file outside the jail. A regular file's links are
   counted as the walk meets them: a file whose link count is higher than
   the number of its names inside the jail has a name outside it.
8. another filesystem mounted inside it (except on the spool and tmp/),
   which is not walked; users other than root and the web user in
   etc/passwd or etc/group.

The audit reads the jail as root without following any link: a walk with
os.fwalk, every open relative to a folder fd with O_NOFOLLOW, and never an
open of anything but a regular file (a FIFO or a device could block or act).
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sysside.jail.forbidden import (
    DATABASE_NAME_RE,
    JOB_MAP_RE,
    PRIVATE_KEY_MARK,
    SECRET_NAME_RE,
    SQLITE_HEADER,
    SYSSIDE_NAME_RE,
    KnownFiles,
    known_files,
    program_named,
)
from sysside.jail.layout import DEVICES, GROUP, INTERPRETER, PASSWD, SPOOL, TMP, WEB_USER, WebIds

ALLOWED_DEVICES = {device.path: (device.major, device.minor) for device in DEVICES}
# The places the web user may write, and where another filesystem may be mounted.
WRITABLE_PLACES = (SPOOL, TMP)
ACL_XATTRS = ("system.posix_acl_access", "system.posix_acl_default")
CAPABILITY_XATTR = "security.capability"
# Content checks read whole files; nothing the web side needs is near this.
MAX_READ_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    """One path and what is wrong with it."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class AuditResult:
    """The findings, and how much was looked at."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    folders: int = 0

    @property
    def clean(self) -> bool:
        return not self.findings


def audit(jail: Path, web: WebIds, *, secrets: Iterable[bytes] = (), known: KnownFiles | None = None) -> AuditResult:
    """Check every path of `jail` against the module's rules."""
    auditor = _Auditor(jail.absolute(), web, [s for s in secrets if s], known or known_files())
    return auditor.run()


@dataclass
class _Links:
    """A file with more than one name: how many it has, and how many the walk found in the jail."""

    total: int
    first: str
    inside: int = 0


def _under(relative: str, places: Iterable[str]) -> bool:
    return any(relative == place or relative.startswith(place + "/") for place in places)


class _Auditor:
    def __init__(self, jail: Path, web: WebIds, secrets: list[bytes], known: KnownFiles) -> None:
        self.jail = jail
        self.web = web
        self.secrets = secrets
        self.known = known
        self.result = AuditResult()
        self.links: dict[tuple[int, int], _Links] = {}

    def flag(self, relative: str, problem: str) -> None:
        self.result.findings.append(Finding(relative, problem))

    def run(self) -> AuditResult:
        root = os.stat(self.jail, follow_symlinks=False)
        if not stat.S_ISDIR(root.st_mode):
            self.flag(".", "the jail is not a folder")
            return self.result
        self.check_node(".", root)
        for folder, dirnames, filenames, dir_fd in os.fwalk(self.jail, follow_symlinks=False):
            here = os.path.relpath(folder, self.jail)
            keep: list[str] = []
            for name in sorted(dirnames + filenames):
                relative = name if here == "." else f"{here}/{name}"
                try:
                    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(info.st_mode) and info.st_dev != root.st_dev:
                    if not _under(relative, WRITABLE_PLACES):
                        self.flag(relative, f"another filesystem is mounted here (device {info.st_dev}); not walked")
                    continue
                self.check_node(relative, info)
                self.check_xattrs(dir_fd, name, relative)
                if stat.S_ISREG(info.st_mode):
                    self.check_file(dir_fd, name, relative, info)
                elif stat.S_ISDIR(info.st_mode) and name in dirnames:
                    keep.append(name)
            dirnames[:] = keep
        self.check_links()
        self.check_users()
        self.result.findings.sort(key=lambda f: f.path)
        return self.result

    def check_node(self, relative: str, info: os.stat_result) -> None:
        """Rules 1, 2, 3 (by name), 4 and 5: what the inode's metadata says."""
        mode = info.st_mode
        kind = stat.S_IFMT(mode)
        name = os.path.basename(relative)
        if kind == stat.S_IFDIR:
            self.result.folders += 1
        elif kind == stat.S_IFREG:
            self.result.files += 1
        if mode & stat.S_ISUID:
            self.flag(relative, "setuid")
        if mode & stat.S_ISGID and kind != stat.S_IFDIR:
            self.flag(relative, "setgid")
        self.check_kind(relative, info)
        if kind != stat.S_IFDIR:
            what = program_named(name)
            if what:
                self.flag(relative, what)
            if SYSSIDE_NAME_RE.fullmatch(name):
                self.flag(relative, "sys-side code (named sysside)")
            if kind in (stat.S_IFREG, stat.S_IFLNK):
                self.check_name(relative, name)
        elif name == "sysside":
            self.flag(relative, "sys-side code (a sysside package)")
        parts = relative.split("/")
        if len(parts) >= 2 and parts[-2] in ("bin", "sbin") and relative != INTERPRETER and kind != stat.S_IFDIR:
            self.flag(relative, f"a program in {parts[-2]}/: the jail runs only {INTERPRETER}")
        if info.st_uid not in (0, self.web.uid):
            self.flag(relative, f"owned by uid {info.st_uid}, neither root nor {WEB_USER}")
        if info.st_gid not in (0, self.web.gid):
            self.flag(relative, f"group gid {info.st_gid}, neither root's nor {WEB_USER}'s")
        if kind == stat.S_IFDIR and mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            self.flag(relative, "a world-writable folder without the sticky bit")
        if kind != stat.S_IFLNK and not _under(relative, WRITABLE_PLACES) and relative not in ALLOWED_DEVICES:
            self.check_writable(relative, info)

    def check_kind(self, relative: str, info: os.stat_result) -> None:
        kind = stat.S_IFMT(info.st_mode)
        if kind in (stat.S_IFCHR, stat.S_IFBLK):
            numbers = (os.major(info.st_rdev), os.minor(info.st_rdev))
            label = "character" if kind == stat.S_IFCHR else "block"
            allowed = ALLOWED_DEVICES.get(relative)
            if allowed is None:
                self.flag(relative, f"a {label} device node ({numbers[0]},{numbers[1]}) that is not allowed")
            elif kind != stat.S_IFCHR or numbers != allowed:
                wanted = f"character device {allowed[0]},{allowed[1]}"
                self.flag(relative, f"a {label} device {numbers[0]},{numbers[1]}; it must be {wanted}")
        elif kind == stat.S_IFIFO and not _under(relative, WRITABLE_PLACES):
            self.flag(relative, "a FIFO outside the spool and tmp/")
        elif kind == stat.S_IFSOCK and not _under(relative, (TMP,)):
            self.flag(relative, "a socket outside tmp/")

    def check_writable(self, relative: str, info: os.stat_result) -> None:
        mode = info.st_mode
        if info.st_uid == self.web.uid:
            self.flag(relative, f"owned by {WEB_USER} outside the spool and tmp/ (an owner can make it writable)")
        elif mode & stat.S_IWGRP and info.st_gid == self.web.gid:
            self.flag(relative, f"writable by {WEB_USER}'s group outside the spool and tmp/")
        if mode & stat.S_IWOTH:
            self.flag(relative, "writable by everyone outside the spool and tmp/")

    def check_name(self, relative: str, name: str) -> None:
        if SECRET_NAME_RE.fullmatch(name):
            self.flag(relative, "named like a secret (key, certificate, credentials)")
        if DATABASE_NAME_RE.fullmatch(name):
            self.flag(relative, "named like a database")

    def check_xattrs(self, dir_fd: int, name: str, relative: str) -> None:
        try:
            # listxattr has no dir_fd form: /proc/self/fd names the folder without a path to race.
            names = os.listxattr(f"/proc/self/fd/{dir_fd}/{name}", follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.ENOENT):
                return
            raise
        if any(attr in names for attr in ACL_XATTRS):
            self.flag(relative, "has a POSIX ACL, which this audit cannot judge; remove it (setfacl -b)")
        if CAPABILITY_XATTR in names:
            self.flag(relative, "has file capabilities")

    def check_file(self, dir_fd: int, name: str, relative: str, info: os.stat_result) -> None:
        """Rules 3 and 6 by content, and rule 7's counting."""
        if info.st_nlink > 1:
            self.links.setdefault((info.st_dev, info.st_ino), _Links(info.st_nlink, relative)).inside += 1
        data = self.read(dir_fd, name, info)
        if data is None:
            return
        what = self.known.recognise(data)
        if what:
            self.flag(relative, what)
        if data.startswith(SQLITE_HEADER):
            self.flag(relative, "an SQLite database")
        if PRIVATE_KEY_MARK in data:
            self.flag(relative, "holds a private key")
        if any(secret in data for secret in self.secrets):
            self.flag(relative, "holds the web side's secret key")
        if name.endswith(".toml") and self.is_job_map(data):
            self.flag(relative, "a job map (a TOML file with a [jobs.*] table)")

    def read(self, dir_fd: int, name: str, info: os.stat_result) -> bytes | None:
        if info.st_size > MAX_READ_BYTES:
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            now = os.fstat(fd)
            # Replaced since the walk saw it: the audit reads only what it stat'ed.
            if not stat.S_ISREG(now.st_mode) or now.st_ino != info.st_ino:
                return None
            return handle.read(MAX_READ_BYTES)

    @staticmethod
    def is_job_map(data: bytes) -> bool:
        if JOB_MAP_RE.search(data):
            return True
        try:
            return isinstance(tomllib.loads(data.decode("utf-8")).get("jobs"), dict)
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            return False

    def check_links(self) -> None:
        for links in self.links.values():
            if links.total > links.inside:
                self.flag(
                    links.first,
                    f"a hard link to a file outside the jail ({links.total} links, {links.inside} inside the jail)",
                )

    def check_users(self) -> None:
        for relative in (PASSWD, GROUP):
            data = self.read_small(relative)
            for line in data.splitlines():
                entry = line.split(":", 1)[0].strip()
                if entry and not entry.startswith("#") and entry not in ("root", WEB_USER):
                    self.flag(relative, f"names {entry!r}; the jail knows only root and {WEB_USER}")

    def read_small(self, relative: str) -> str:
        try:
            fd = os.open(self.jail / relative, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return ""
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            return handle.read(1024 * 1024).decode("utf-8", errors="replace")
