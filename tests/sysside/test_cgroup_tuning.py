"""favordynmods on the cgroup2 hierarchy: read from mountinfo, given again on remount."""

from pathlib import Path

import pytest

from sysside import cgroup_tuning
from sysside.cgroup_tuning import FEATURES, MOUNTINFO, OPTION, cgroup2_mounts, favor_moves, favordynmods_state
from sysside.linux import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_REMOUNT, mount

MOUNTINFO_SAMPLE = """\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
35 22 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
41 35 0:38 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
42 35 0:39 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
50 22 0:40 / /srv/odd\\040place rw,relatime - cgroup2 none rw,favordynmods,memory_recursiveprot
"""


def test_cgroup2_mounts_are_read_with_their_flags_and_options() -> None:
    found = cgroup2_mounts(MOUNTINFO_SAMPLE)
    assert [entry.path for entry in found] == ["/sys/fs/cgroup/unified", "/srv/odd place"]
    unified = found[0]
    assert unified.remount_flags() == MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC | (1 << 21)
    # The superblock's own rw goes back with the hierarchy's options.
    assert unified.remount_data() == f"rw,nsdelegate,{OPTION}"
    assert OPTION in found[1].super_options


def test_read_only_cgroup2_mounts_are_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    features, mountinfo = tmp_path / "features", tmp_path / "mountinfo"
    features.write_text(f"nsdelegate\n{OPTION}\n", encoding="ascii")
    read_only = "41 35 0:38 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
    mountinfo.write_text(read_only, encoding="utf-8")
    monkeypatch.setattr(cgroup_tuning, "FEATURES", features)
    monkeypatch.setattr(cgroup_tuning, "MOUNTINFO", mountinfo)
    # Would it remount, mount(2) would be called on /sys/fs/cgroup; it must not be.
    monkeypatch.setattr(cgroup_tuning, "mount", _no_mount)
    assert favor_moves() == f"{OPTION}: the cgroup2 mounts here are read-only; left as they are"
    assert favordynmods_state() == "off"
    features.write_text("nsdelegate\n", encoding="ascii")
    assert favor_moves().startswith(f"{OPTION}: not offered by this kernel")
    assert favordynmods_state() == "not offered"


def _no_mount(*args: object) -> None:
    raise AssertionError(f"mount{args} was called")


def _cgroup2() -> dict[str, tuple[str, ...]]:
    return {entry.path: entry.super_options for entry in cgroup2_mounts(MOUNTINFO.read_text(encoding="utf-8"))}


def _mount_flags(path: str) -> str:
    for line in MOUNTINFO.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields[4] == path and " - cgroup2 " in line:
            return fields[5]
    raise AssertionError(f"{path} is not in mountinfo")


@pytest.mark.root
def test_hole_up_turns_favordynmods_on_and_keeps_the_rest() -> None:
    offered = OPTION in FEATURES.read_text(encoding="ascii").split()
    mounts = cgroup2_mounts(MOUNTINFO.read_text(encoding="utf-8"))
    if not offered or not mounts:
        # Nothing to set: said in words, and the service still starts.
        assert favor_moves().startswith(f"{OPTION}: not offered" if not offered else f"{OPTION}: no cgroup2")
        return
    target = mounts[0]
    before_flags = _mount_flags(target.path)
    state = [option for option in target.super_options if option in ("rw", "ro")]
    others = [option for option in target.super_options if option not in ("rw", "ro", OPTION)]
    # Off first (what a machine that never ran the service has), then on.
    mount("none", target.path, None, target.remount_flags(), ",".join([*state, *others]))
    assert OPTION not in _cgroup2()[target.path]
    said = favor_moves()
    assert said.startswith(f"{OPTION}: turned on at {target.path}"), said
    after = _cgroup2()[target.path]
    assert OPTION in after
    assert [option for option in after if option not in ("rw", "ro", OPTION)] == others
    assert [option for option in after if option in ("rw", "ro")] == state
    assert _mount_flags(target.path) == before_flags
    assert favor_moves() == f"{OPTION}: already on ({target.path})"
