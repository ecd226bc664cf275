"""Cheap moves between control groups: cgroup2's `favordynmods` mount option.

Rules:
1. Every step moves itself into its job's groups before its exec (and,
   without the daemon's C spawner, the daemon moves itself in and back
   around every spawn). Without favordynmods, a move may have to wait out an RCU
   grace period (the kernel's lock that keeps forks and moves apart
   switches modes on the first move after a quiet spell): writes of a pid
   to cgroup.procs then took 8-24 ms now and then, and at one client the
   jailed service's p99 was 15 ms against 5 ms with the option on (see
   docs/benchmarks.md). The kernel's documentation names this trade:
   faster moves, slightly dearer forks and exits.
2. The option belongs to the whole machine's cgroup2 hierarchy (and it
   speeds up moves in the v1 hierarchies too: the lock is shared). Linux
   6.18 keeps part of it on until reboot once set. Only root's `hole up`
   sets it, only when the kernel offers it, and says so.
3. A remount replaces the hierarchy's options and the mount's flags with
   the ones given, so both are read back from mountinfo and given again
   with favordynmods added.
"""

from dataclasses import dataclass
from pathlib import Path

from sysside.linux import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REMOUNT, mount

OPTION = "favordynmods"
FEATURES = Path("/sys/kernel/cgroup/features")
MOUNTINFO = Path("/proc/self/mountinfo")

# Per-mount flags as mountinfo spells them; a remount must pass them again.
_MOUNT_FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "nosymfollow": 256,
    "noatime": 1024,
    "nodiratime": 2048,
    "relatime": 1 << 21,
    "strictatime": 1 << 24,
}


@dataclass(frozen=True)
class Cgroup2Mount:
    path: str
    mount_options: tuple[str, ...]
    super_options: tuple[str, ...]

    def remount_flags(self) -> int:
        flags = MS_REMOUNT
        for option in self.mount_options:
            flags |= _MOUNT_FLAGS.get(option, 0)
        return flags

    def remount_data(self) -> str:
        # The superblock's own rw/ro goes back too: left out, it would be
        # taken from the mount's flags, and one read-only view would make
        # the whole hierarchy read-only.
        return ",".join([*self.super_options, OPTION])


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \ooo.
    out, index = [], 0
    while index < len(field):
        if field[index] == "\\" and field[index + 1 : index + 4].isdigit():
            out.append(chr(int(field[index + 1 : index + 4], 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)


def cgroup2_mounts(mountinfo: str) -> list[Cgroup2Mount]:
    """The cgroup2 mounts listed in a /proc/PID/mountinfo text."""
    found = []
    for line in mountinfo.splitlines():
        head, separator, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not separator or len(fields) < 6 or len(rest) < 3 or rest[0] != "cgroup2":
            continue
        found.append(Cgroup2Mount(_unescape(fields[4]), tuple(fields[5].split(",")), tuple(rest[2].split(","))))
    return found


def favordynmods_state() -> str:
    """ "on", "off", "not offered" (by this kernel) or "unknown", for reports."""
    try:
        if OPTION not in FEATURES.read_text(encoding="ascii").split():
            return "not offered"
        mounts = cgroup2_mounts(MOUNTINFO.read_text(encoding="utf-8"))
    except OSError:
        return "unknown"
    return "on" if any(OPTION in found.super_options for found in mounts) else "off"


def favor_moves() -> str:
    """Turn favordynmods on if the kernel offers it; say what was done, in words.

    Never raises: a machine without the option still serves, at the old cost.
    """
    try:
        offered = OPTION in FEATURES.read_text(encoding="ascii").split()
        mounts = cgroup2_mounts(MOUNTINFO.read_text(encoding="utf-8"))
    except OSError as exc:
        return f"{OPTION}: left as it is ({exc.strerror or exc})"
    if not offered:
        return f"{OPTION}: not offered by this kernel; moves between control groups may wait now and then"
    if not mounts:
        return f"{OPTION}: no cgroup2 hierarchy is mounted to set it on"
    for found in mounts:
        if OPTION in found.super_options:
            return f"{OPTION}: already on ({found.path})"
    writable = [found for found in mounts if "ro" not in found.mount_options]
    if not writable:
        return f"{OPTION}: the cgroup2 mounts here are read-only; left as they are"
    target = writable[0]
    try:
        mount("none", target.path, None, target.remount_flags(), target.remount_data())
        after = cgroup2_mounts(MOUNTINFO.read_text(encoding="utf-8"))
    except OSError as exc:
        return f"{OPTION}: could not be turned on at {target.path}: {exc.strerror or exc}"
    # A cgroup namespace other than the first ignores the option quietly.
    if not any(found.path == target.path and OPTION in found.super_options for found in after):
        return f"{OPTION}: the kernel did not take it at {target.path} (a cgroup namespace of its own?)"
    return (
        f"{OPTION}: turned on at {target.path}, for cheap moves between control groups"
        " (it stays on after the service stops)"
    )
