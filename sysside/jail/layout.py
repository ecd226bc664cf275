"""The jail's fixed layout: where things go, the device nodes, the web user's entries.

<jail>/usr/bin/python3               the interpreter (the real binary)
<jail>/lib64/ld-linux-x86-64.so.2    its loader, at the path the binary names
<jail>/usr/lib/<soname>              the shared libraries, one folder
<jail>/usr/lib/python3.X/            the standard library modules used
<jail>/usr/lib/python3.X/site-packages/   third-party modules used, gunicorn,
                                     and hole-app.pth, which puts APP_DIR on sys.path
                                     (Debian's Python: usr/local/lib/python3.X/dist-packages,
                                     where its site module looks)
<jail>/srv/hole/                     webside/, hole/, templates/, stubs/
<jail>/dev/{null,zero,urandom}       the only device nodes
<jail>/etc/{passwd,group,nsswitch.conf}   root and the web user only
<jail>/tmp/                          1777
<jail>/var/spool/hole/               the spool: daemon FIFO and jobs/
<jail>/.hole-manifest.json           what the builder copied, from where (root only)

Paths here are relative to the jail, in POSIX form, without a leading slash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hole.spool import DAEMON_FIFO, JOBS_DIR
from sysside.jail import JailError

INTERPRETER = "usr/bin/python3"
LIB_DIR = "usr/lib"
APP_DIR = "srv/hole"
APP_PTH = "hole-app.pth"
SPOOL = "var/spool/hole"
SPOOL_JOBS = f"{SPOOL}/{JOBS_DIR}"
SPOOL_FIFO = f"{SPOOL}/{DAEMON_FIFO}"
TMP = "tmp"
MANIFEST = ".hole-manifest.json"
PASSWD = "etc/passwd"  # noqa: S105 (a file's name, not a password)
GROUP = "etc/group"
NSSWITCH = "etc/nsswitch.conf"

WEB_USER = "holeweb"
DEFAULT_WEB_UID = 10001
DEFAULT_WEB_GID = 10001


@dataclass(frozen=True)
class Device:
    """A character device node the jail may hold, with the mode it gets."""

    path: str
    major: int
    minor: int
    mode: int


# /dev/null is written to (output thrown away), so everyone may write it as
# on any system; nothing needs to write the other two.
DEVICES = (
    Device("dev/null", 1, 3, 0o666),
    Device("dev/zero", 1, 5, 0o444),
    Device("dev/urandom", 1, 9, 0o444),
)


@dataclass(frozen=True)
class WebIds:
    """The web user's uid and gid, as the jail's etc/passwd and etc/group give them."""

    uid: int
    gid: int


def passwd_text(ids: WebIds) -> str:
    """The jail's etc/passwd: root and the web user, neither with a shell."""
    return (
        "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
        f"{WEB_USER}:x:{ids.uid}:{ids.gid}:hole web side:/nonexistent:/usr/sbin/nologin\n"
    )


def group_text(ids: WebIds) -> str:
    """The jail's etc/group: root's group and the web user's."""
    return f"root:x:0:\n{WEB_USER}:x:{ids.gid}:\n"


# The name service reads only the two files above. glibc (2.34 and later)
# has the "files" service built in, so no libnss_*.so is copied or loaded.
NSSWITCH_TEXT = "passwd: files\ngroup: files\nshadow: files\n"


def read_web_ids(jail: Path) -> WebIds:
    """The web user's uid (from etc/passwd) and gid (from etc/group) inside `jail`."""
    uid = gid = None
    for line in _read_jail_text(jail, PASSWD).splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == WEB_USER:
            uid, gid = _number(jail, PASSWD, fields[2]), _number(jail, PASSWD, fields[3])
    for line in _read_jail_text(jail, GROUP).splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == WEB_USER:
            gid = _number(jail, GROUP, fields[2])
    if uid is None or gid is None:
        raise JailError(
            f"{jail / PASSWD} names no {WEB_USER} user; build the jail first, or give --web-uid and --web-gid"
        )
    return WebIds(uid, gid)


def _read_jail_text(jail: Path, relative: str) -> str:
    # Never follow a link out of the jail, even to read.
    try:
        fd = os.open(jail / relative, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise JailError(f"cannot read {jail / relative}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(64 * 1024).decode("utf-8", errors="replace")


def _number(jail: Path, relative: str, text: str) -> int:
    if not text.isdigit():
        raise JailError(f"{jail / relative}: {WEB_USER}'s id {text!r} is not a number")
    return int(text)
