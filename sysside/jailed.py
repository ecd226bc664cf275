"""Serving from the jail: everything `hole up` does as root before it starts.

Rules:
1. The order is fixed: users, build, permissions, spool, audit. A failed
   audit stops here: a jail that breaks a rule is never served.
2. The spool is a tmpfs of its own, mounted on the host over the jail's
   spool folder (so the daemon outside sees it): creating and removing a
   job's files there costs microseconds, not the milliseconds of a
   journalled disk. It is nosuid, nodev and noexec.
3. Control groups: <base>/web for the jail, <base>/daemon for the daemon
   and <base>/jobs, handed to the daemon's user, for its jobs.
4. The sys side's files (demo database, job map, programs) are made
   readable by the daemon's user and nobody else but root.
"""

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sysside import DaemonError
from sysside.cgroup_tuning import favor_moves
from sysside.cgroups import Group, detect
from sysside.jail import JailError
from sysside.jail.audit import audit
from sysside.jail.builder import build, summary_lines
from sysside.jail.layout import SPOOL, SPOOL_FIFO, SPOOL_JOBS, WebIds
from sysside.jail.perms import fix_permissions
from sysside.landlock import abi_version
from sysside.linux import MS_NODEV, MS_NOEXEC, MS_NOSUID, mount
from sysside.state import StateDir
from sysside.users import Account, ensure_users

SPOOL_SIZE = "64m"
# How long release() waits for the jail's groups to empty.
CGROUP_EMPTY_TIMEOUT = 5.0
WEB_MEMORY = 2 * 1024**3
WEB_PIDS = 1024


@dataclass
class JailedSetup:
    """What the supervisor needs to start both sides jailed."""

    jail: Path
    web: Account
    sys_user: Account
    cgroup_base: str | None
    layers: dict[str, str] = field(default_factory=dict)

    @property
    def spool(self) -> Path:
        return self.jail / SPOOL


def cgroup_base(state: StateDir) -> str:
    """A control-group folder name of this service's own, from its state folder."""
    digest = hashlib.sha256(str(state.root).encode()).hexdigest()[:12]
    return f"hole-in-the-chroot/{digest}"


def prepare(state: StateDir, stubs_dir: Path, echo: Callable[[str], None]) -> JailedSetup:
    """Users, jail, permissions, spool, audit and control groups; DaemonError on any failure."""
    for folder in (state.root, *state.root.parents):
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            raise DaemonError(
                f"the daemon's user cannot enter {folder} (no search permission for others), so it cannot reach"
                f" the state folder {state.root}; choose a --state under folders others may enter,"
                f" or chmod o+x {folder}"
            )
    web, sys_user, done = ensure_users()
    for line in done:
        echo(line)
    ids = WebIds(web.uid, web.gid)
    jail = state.root / "jail"
    try:
        report = build(jail, stubs_dir, ids)
        for line in summary_lines(report, limit=10):
            echo(f"jail: {line}")
        echo(f"jail: {jail}, {report.size_bytes / 1e6:.1f} MB in {report.files} files, built in {report.seconds:.1f} s")
        for line in fix_permissions(jail, ids):
            echo(f"perms: {line}")
    except JailError as exc:
        raise DaemonError(str(exc)) from None
    if mount_spool(jail, web):
        echo(f"spool: mounted a {SPOOL_SIZE} tmpfs on {jail / SPOOL}")
    secret = state.secret_key().encode()
    result = audit(jail, ids, secrets=[secret])
    record_audit(state, [str(f) for f in result.findings])
    if not result.clean:
        lines = "\n".join(f"  {finding}" for finding in result.findings[:20])
        raise DaemonError(f"the jail audit failed; refusing to serve from it:\n{lines}")
    echo(f"audit: clean ({result.files} files, {result.folders} folders)")
    protect_sys_files(state, sys_user)
    base = prepare_cgroups(state, sys_user)
    if base is not None:
        echo(f"cgroups: {favor_moves()}")
    setup = JailedSetup(jail, web, sys_user, base)
    setup.layers = layers(base)
    return setup


def mount_spool(jail: Path, web: Account) -> bool:
    """Mount the spool tmpfs if it is not mounted yet; return True if it was mounted now."""
    spool = jail / SPOOL
    if os.stat(spool).st_dev != os.stat(spool.parent).st_dev:
        _make_spool_entries(jail, web)
        return False
    options = f"size={SPOOL_SIZE},mode=0770,uid={web.uid},gid={web.gid}"
    mount("tmpfs", str(spool), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)
    _make_spool_entries(jail, web)
    return True


def _make_spool_entries(jail: Path, web: Account) -> None:
    """jobs/ and the daemon FIFO, as the permission script wants them."""
    jobs = jail / SPOOL_JOBS
    fifo = jail / SPOOL_FIFO
    if not jobs.is_dir():
        jobs.mkdir(0o770)
    if not fifo.exists():
        os.mkfifo(fifo, 0o660)
    for path, mode in ((jobs, 0o770), (fifo, 0o660)):
        os.chown(path, web.uid, web.gid, follow_symlinks=False)
        os.chmod(path, mode, follow_symlinks=False)


def unmount_spool(jail: Path) -> None:
    from sysside.linux import umount2  # noqa: PLC0415 (only at shutdown)

    spool = jail / SPOOL
    with contextlib.suppress(OSError):
        if os.stat(spool).st_dev != os.stat(spool.parent).st_dev:
            umount2(str(spool), 0)


def release(setup: "JailedSetup") -> list[str]:
    """Undo what prepare() made outside the state folder: the spool's mount, the control groups.

    Called once the service has stopped; returns what could not be undone,
    in words (a mount or a group that something still holds).
    """
    problems = []
    unmount_spool(setup.jail)
    if os.path.ismount(setup.spool):
        problems.append(f"the spool {setup.spool} is still mounted")
    group = Group.at(setup.cgroup_base) if setup.cgroup_base is not None else None
    # The jail's last processes may still be exiting when the launcher has;
    # a group is removable only once it is empty.
    deadline = time.monotonic() + CGROUP_EMPTY_TIMEOUT
    while group is not None:
        try:
            group.remove()
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                problems.append(f"control group {setup.cgroup_base} was not removed: {exc.strerror or exc}")
                break
            time.sleep(0.05)
    return problems


def record_audit(state: StateDir, problems: list[str]) -> None:
    path = state.run / "audit.json"
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path.write_text(json.dumps({"ok": not problems, "problems": problems, "when": when}, indent=2) + "\n")


def protect_sys_files(state: StateDir, sys_user: Account) -> None:
    """The demo's files: root-owned, readable by the daemon's group only."""
    demo = state.demo
    if not demo.is_dir():
        return
    for folder, dirnames, filenames in os.walk(demo):
        os.chown(folder, 0, sys_user.gid)
        os.chmod(folder, 0o750)  # noqa: S103 (group: the daemon's own)
        for name in filenames:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                continue
            os.chown(path, 0, sys_user.gid)
            os.chmod(path, 0o750 if info.st_mode & stat.S_IXUSR else 0o640)
        dirnames.sort()
    # The fragile program's tripwire log is written by the daemon's steps,
    # which cannot create files in the demo folder.
    tripwire = demo / "tripwire.log"
    tripwire.touch(exist_ok=True)
    os.chown(tripwire, 0, sys_user.gid)
    os.chmod(tripwire, 0o660)


def prepare_cgroups(state: StateDir, sys_user: Account) -> str | None:
    if not detect():
        return None
    base = cgroup_base(state)
    web = Group.at(f"{base}/web")
    daemon = Group.at(f"{base}/daemon")
    jobs = Group.at(f"{base}/jobs")
    assert web is not None and daemon is not None and jobs is not None
    for group in (web, daemon, jobs):
        group.create()
    web.set_limits(WEB_MEMORY, WEB_PIDS)
    daemon.hand_to(sys_user.uid, sys_user.gid)
    jobs.hand_to(sys_user.uid, sys_user.gid)
    return base


def layers(base: str | None) -> dict[str, str]:
    """Which confinement layers this machine gives the jail, in words."""
    abi = abi_version()
    found = {
        "namespaces": "mount, pid, ipc, uts, net",
        "root": "pivot_root into an empty read-only tmpfs, chroot into a read-only, nosuid, nodev bind of the jail",
        "ids": "holeweb, no supplementary groups, no_new_privs",
        "landlock": f"ABI {abi}" if abi else "NOT AVAILABLE in this kernel",
        "cgroups": f"{detect()} memory+pids under {base}" if base else "NOT AVAILABLE",
    }
    try:
        from sysside.seccomp import jail_filter  # noqa: PLC0415 (needs libseccomp)

        built = jail_filter()
        found["seccomp"] = built.describe()
        built.release()
    except DaemonError as exc:
        found["seccomp"] = f"NOT AVAILABLE ({exc})"
    return found


def daemon_cgroup_entry(base: str | None) -> Callable[[], None] | None:
    """A preexec_fn that puts the daemon in its own group (it runs after the uid change)."""
    if base is None:
        return None
    group = Group.at(f"{base}/daemon")
    if group is None:
        return None

    def enter() -> None:
        group.add(os.getpid())

    return enter


def service_record(setup: JailedSetup) -> dict[str, Any]:
    return {"jailed": True, "jail": str(setup.jail), "layers": setup.layers}
