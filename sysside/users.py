"""The two unprivileged users: holeweb (inside the jail) and holesys (outside).

Rules:
1. Neither side ever runs as root, and they never run as the same user:
   different uids are what stop signals and ptrace across the wall.
2. holesys is in holeweb's group, so the daemon can read the job files the
   web side writes and write the result FIFOs; holeweb is in no group of
   holesys's, so the web side can read nothing of the sys side.
3. Users are looked up by name before any chroot, never inside it.
"""

import grp
import pwd
import subprocess
from dataclasses import dataclass

from sysside import DaemonError

WEB_USER = "holeweb"
SYS_USER = "holesys"
DEFAULT_FIRST_UID = 10001
NOLOGIN = "/usr/sbin/nologin"


@dataclass(frozen=True)
class Account:
    """A user resolved by name: uid, its own gid, and its supplementary gids."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def lookup(name: str) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    extra = tuple(g.gr_gid for g in grp.getgrall() if name in g.gr_mem and g.gr_gid != entry.pw_gid)
    return Account(name, entry.pw_uid, entry.pw_gid, extra)


def _free_id(start: int) -> int:
    uid = start
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            try:
                grp.getgrgid(uid)
            except KeyError:
                return uid
        uid += 1


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DaemonError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.returncode}")


def ensure_users(
    web: str = WEB_USER, sys_user: str = SYS_USER, first_uid: int = DEFAULT_FIRST_UID
) -> tuple[Account, Account, list[str]]:
    """Create the two users if missing (as root); return them and what was done."""
    done: list[str] = []
    for name in (web, sys_user):
        if lookup(name) is None:
            uid = _free_id(first_uid)
            _run(["groupadd", "--gid", str(uid), name])
            _run(
                [
                    "useradd",
                    "--uid", str(uid),
                    "--gid", str(uid),
                    "--no-create-home",
                    "--home-dir", "/nonexistent",
                    "--shell", NOLOGIN,
                    "--comment", f"hole-in-the-chroot {'web side' if name == web else 'sys side'}",
                    name,
                ]
            )  # fmt: skip
            done.append(f"created user {name} (uid {uid}, group {name})")
    web_account = lookup(web)
    sys_account = lookup(sys_user)
    assert web_account is not None and sys_account is not None
    if web_account.gid not in sys_account.groups:
        _run(["usermod", "--append", "--groups", grp.getgrgid(web_account.gid).gr_name, sys_user])
        done.append(f"added {sys_user} to group {grp.getgrgid(web_account.gid).gr_name}")
        sys_account = lookup(sys_user)
        assert sys_account is not None
    check_separation(web_account, sys_account)
    return web_account, sys_account, done


def check_separation(web: Account, sys_account: Account) -> None:
    """Refuse root, a shared uid, or a web user that can reach the sys side's group."""
    for account in (web, sys_account):
        if account.uid == 0 or account.gid == 0:
            raise DaemonError(f"user {account.name} is root (uid {account.uid}, gid {account.gid}); refusing")
    if web.uid == sys_account.uid:
        raise DaemonError(f"{web.name} and {sys_account.name} share uid {web.uid}; each side needs its own")
    if web.gid == sys_account.gid:
        raise DaemonError(f"{web.name} and {sys_account.name} share group {web.gid}; each side needs its own")
    if sys_account.gid in web.groups or sys_account.gid == web.gid:
        raise DaemonError(f"{web.name} is in {sys_account.name}'s group; the web side must not reach the sys side")
