"""The launcher: starts a program inside the jail, confined, as the web user.

Runs outside the jail, as root, in one process, in this order (each step
stops an escape the others miss, so none is optional):

1. Users and groups are resolved by name on the host, before any chroot.
2. The listening socket was bound on the host by the caller and is
   inherited: inside, the web side has no network at all.
3. unshare: new mount, pid, ipc, uts and network namespaces. The network
   namespace holds only a loopback that is down, so nothing can be reached,
   not even the host's loopback or its abstract unix sockets.
4. fork: the child is pid 1 of the new pid namespace; the parent stays
   outside, relays the child's output and forwards signals to it.
5. In the child, the mounts: everything private; the jail bound onto
   itself and remounted read-only, nosuid, nodev; tmp a fresh tmpfs and the
   spool a bind, both nosuid, nodev, noexec; the three device nodes bound
   on their own (nodev would make them unusable). No /proc: nothing in the
   web side needs it, and without it there is no /proc/PID/root of
   anything, nor /proc/sys, to reach for.
6. pivot_root into an empty read-only tmpfs that holds the jail's mount
   at /jail, detach the old root, chroot into /jail: no host mount is
   reachable. A directory renamed on the host out of the jail cannot lead
   back out either: the jail's root is a bind mount of the jail folder,
   and `..` from a folder no longer under a mount's root fails (ENOENT).
   To the kernel the jail is chrooted, and a chrooted process can make no
   user namespace (see enter_jail).
7. A new session (no controlling terminal, so no TIOCSTI), umask 007,
   rlimits, then supplementary groups, gid and uid dropped for good (a
   setuid(0) afterwards must fail, and is tried), the parent-death signal
   (set after the uid change, which clears it), no_new_privs.
8. Landlock: read-only everywhere, writes only in the spool and tmp,
   execution of the interpreter and its loader only, no TCP, no abstract
   sockets or signals beyond the jail. A kernel without it is said in the
   log, loudly; a kernel with it that refuses the ruleset stops the jail.
9. Every fd but stdin (/dev/null), stdout and stderr (a pipe to the
   launcher) and the listening socket (as fd 3) is closed; the seccomp
   filter (an allow list of the calls the web side makes, see
   sysside/seccomp.py) is loaded, last; then exec, which it allows.

Before all that, while still root in the new pid namespace, the child
joins its control group and sets vm.memfd_noexec to 2 for the namespace:
memfd_create + fexecve would otherwise run any binary whatever the mounts
say (the seccomp filter refuses memfd_create too; this holds without it).
"""

import contextlib
import errno
import os
import resource
import select
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sysside import DaemonError
from sysside.cgroups import Group
from sysside.landlock import Ruleset
from sysside.linux import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUTS,
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    PR_CAPBSET_DROP,
    PR_SET_PDEATHSIG,
    attach_mount_tree,
    clone_mount_tree,
    mount,
    pivot_root,
    prctl,
    set_no_new_privs,
    umount2,
    unshare,
)
from sysside.seccomp import jail_filter
from sysside.users import Account

LISTEN_FD = 3
NAMESPACES = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET
DEVICES = ("dev/null", "dev/zero", "dev/urandom")
HOSTNAME = "hole-jail"


@dataclass(frozen=True)
class JailSpec:
    """What to run in the jail, as whom, and what may be written there."""

    root: Path
    user: Account
    argv: Sequence[str]
    env: Mapping[str, str]
    listen_fd: int | None = None
    cgroup: str | None = None
    spool: str = "var/spool/hole"
    tmp: str = "tmp"
    tmp_size: str = "64m"
    rlimits: Mapping[int, int] = field(
        default_factory=lambda: {
            resource.RLIMIT_CORE: 0,
            resource.RLIMIT_NOFILE: 4096,
            resource.RLIMIT_NPROC: 512,
            resource.RLIMIT_FSIZE: 256 * 1024 * 1024,
        }
    )


def launch(spec: JailSpec) -> int:
    """Start spec.argv in the jail; relay its output; return its exit status."""
    if os.geteuid() != 0:
        raise DaemonError("the launcher must run as root (it drops to the web user itself)")
    if spec.user.uid == 0 or spec.user.gid == 0:
        raise DaemonError(f"refusing to run the jail as root ({spec.user.name})")
    root = spec.root.resolve()
    if not (root / spec.argv[0].lstrip("/")).exists():
        raise DaemonError(f"{spec.argv[0]} is not in the jail {root}; build it with `hole jail build`")
    log_read, log_write = os.pipe2(os.O_CLOEXEC)
    life_read, life_write = os.pipe2(os.O_CLOEXEC)
    unshare(NAMESPACES)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(log_read)
            os.close(life_write)
            _child(spec, root, log_write, life_read)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.write(log_write, f"launcher: {exc}\n".encode())
        finally:
            os._exit(127)
    os.close(log_write)
    os.close(life_read)
    return _supervise(pid, log_read, life_write)


# Where the jail's mount sits in the namespace's root tmpfs.
NAMESPACE_ROOT_JAIL = "jail"


def enter_jail(root: Path) -> None:
    """Make the jail this process's root, below an empty read-only tmpfs that is the namespace's root.

    The jail (already bound and mounted by _mount_jail) is bound, with its
    mounts, into the tmpfs at /jail; pivot_root makes the tmpfs the mount
    namespace's root and detaches the host's; chroot then enters the jail.
    To the kernel the jail is chrooted (its root is not its namespace's
    root), and a chrooted process may make no user namespace (EPERM,
    `current_chrooted` in create_user_ns), which would give it every
    capability over the mounts and network it could then make; seccomp
    refuses unshare and clone's namespace flags too, and this holds without
    it. Nothing is mounted on the jail's own root, so `..` from a top
    folder stays in the jail, and a folder renamed out of the jail on the
    host still leads nowhere (`..` fails where it has left its mount's root).
    """
    # A detached copy, taken before the tmpfs goes on top: a recursive bind
    # made afterwards would copy the tmpfs too, stacked on the jail's root.
    tree = clone_mount_tree(str(root))
    try:
        mount("tmpfs", str(root), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,nr_inodes=8,mode=0755")
        os.mkdir(root / NAMESPACE_ROOT_JAIL, 0o755)
        attach_mount_tree(tree, str(root / NAMESPACE_ROOT_JAIL))
    finally:
        os.close(tree)
    mount("none", str(root), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(root)
    pivot_root(".", ".")
    umount2(".", MNT_DETACH)
    os.chroot(NAMESPACE_ROOT_JAIL)
    os.chdir("/")


def _child(spec: JailSpec, root: Path, log_fd: int, life_fd: int) -> None:
    devnull = os.open("/dev/null", os.O_RDWR)
    if spec.cgroup:
        group = Group.at(spec.cgroup)
        if group is None:
            raise DaemonError(f"control group {spec.cgroup} asked for, but this machine has none")
        group.add(os.getpid())
    _say(log_fd, _memfd_noexec())
    # libseccomp is loaded now: the jail has no copy of it.
    syscall_filter = jail_filter()
    loaders = [f"/{p.relative_to(root)}" for p in sorted(root.glob("lib*/ld-linux*"))]
    _mount_jail(spec, root)
    enter_jail(root)
    socket.sethostname(HOSTNAME)
    os.setsid()
    os.umask(0o007)
    for which, value in spec.rlimits.items():
        resource.setrlimit(which, (value, value))
    drop_privileges(spec.user)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # The launcher may have died before the signal was asked for: its end
    # of the life pipe then reads as EOF, and the jail must not start.
    if select.select([life_fd], [], [], 0)[0]:
        os._exit(1)
    set_no_new_privs()
    ruleset = Ruleset(
        read_only=["/"],
        read_write=[f"/{spec.spool}", f"/{spec.tmp}", "/dev/null"],
        executable=[spec.argv[0], *loaders],
    )
    abi, missing = ruleset.apply()
    for line in missing:
        _say(log_fd, f"WARNING {line}")
    _say(log_fd, f"layers: landlock ABI {abi}, seccomp {syscall_filter.describe()}, uid {os.getuid()}")
    _arrange_fds(devnull, log_fd, spec.listen_fd)
    syscall_filter.load()
    os.execve(spec.argv[0], list(spec.argv), dict(spec.env))


def _say(log_fd: int, line: str) -> None:
    os.write(log_fd, f"launcher: {line}\n".encode())


def _memfd_noexec() -> str:
    # The sysctl is per pid namespace, set by a writer inside it: this
    # child is pid 1 of the new one, so the host's setting is untouched.
    try:
        with open("/proc/sys/vm/memfd_noexec", "w", encoding="ascii") as sysctl:
            sysctl.write("2")
    except OSError as exc:
        return f"WARNING vm.memfd_noexec not set ({exc.strerror}): memfd_create is refused by seccomp only"
    return "vm.memfd_noexec = 2 in the jail's pid namespace"


def _mount_jail(spec: JailSpec, root: Path) -> None:
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount(str(root), str(root), None, MS_BIND | MS_REC)
    tmp = str(root / spec.tmp)
    mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"size={spec.tmp_size},mode=1777")
    spool = str(root / spec.spool)
    mount(spool, spool, None, MS_BIND | MS_REC)
    mount("none", spool, None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for device in DEVICES:
        path = str(root / device)
        mount(path, path, None, MS_BIND)
        mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    mount("none", str(root), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def drop_privileges(user: Account) -> None:
    """The capability bounding set, supplementary groups, gid, uid; then prove root is gone."""
    # An empty bounding set: even a set-id program (which no_new_privs and
    # nosuid already neuter) could gain no capability back.
    for capability in range(64):
        try:
            prctl(PR_CAPBSET_DROP, capability)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # past the last capability this kernel has
                break
            raise
    os.setgroups([])
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise DaemonError("root could be regained after dropping privileges; refusing to go on")


def _arrange_fds(devnull: int, log_fd: int, listen_fd: int | None) -> None:
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    keep = {0, 1, 2}
    if listen_fd is not None:
        if listen_fd != LISTEN_FD:
            os.dup2(listen_fd, LISTEN_FD)
        os.set_inheritable(LISTEN_FD, True)
        keep.add(LISTEN_FD)
    top = max(keep) + 1
    os.closerange(top, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    for fd in range(3, top):
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _supervise(pid: int, log_fd: int, life_fd: int) -> int:
    """Relay the jail's output; pass SIGTERM, SIGINT and SIGHUP on; reap it."""

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    out = sys.stdout.buffer
    while True:
        try:
            chunk = os.read(log_fd, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        out.write(chunk)
        out.flush()
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os.close(life_fd)
    return os.waitstatus_to_exitcode(status)
