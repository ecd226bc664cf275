"""`hole jail perms`, for real, as root: the clamp, the exceptions, and a second run."""

import os
import stat
from pathlib import Path

import pytest

from sysside.jail import JailError
from sysside.jail.layout import SPOOL, SPOOL_FIFO, SPOOL_JOBS, TMP
from sysside.jail.perms import RELAXED, fix_permissions
from tests.jail.conftest import BuiltJail, copy_jail
from tests.jail.support import WEB

pytestmark = pytest.mark.root


def test_first_run_relaxes_the_spool_and_a_second_changes_nothing(
    built_jail: BuiltJail, permed_changes: list[str]
) -> None:
    # A fresh build is already clamped: only the spool is handed to the web user.
    assert sorted(line.split(":")[0] for line in permed_changes) == sorted([SPOOL, SPOOL_FIFO, SPOOL_JOBS])
    assert fix_permissions(built_jail.path, WEB) == []


def test_tree_is_clamped_except_the_relaxed_paths(built_jail: BuiltJail, permed_changes: list[str]) -> None:
    del permed_changes
    relaxed = {r.path: r for r in RELAXED}
    for folder, dirnames, filenames in os.walk(built_jail.path):
        for name in dirnames + filenames:
            path = Path(folder, name)
            relative = path.relative_to(built_jail.path).as_posix()
            info = os.lstat(path)
            rule = relaxed.get(relative)
            if rule is not None:
                uid = WEB.uid if rule.owner == "web" else 0
                assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid, rule.mode), relative
                continue
            assert (info.st_uid, info.st_gid) == (0, 0), relative
            if not stat.S_ISLNK(info.st_mode):
                assert not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_ISUID | stat.S_ISGID), relative


@pytest.fixture
def damaged(built_jail: BuiltJail, permed_changes: list[str], tmp_path: Path) -> Path:
    """A permed copy of the session's jail, for one test to damage."""
    del permed_changes
    return copy_jail(built_jail.path, tmp_path / "jail")


def test_damage_is_repaired_and_reported(damaged: Path) -> None:
    module = damaged / "usr/lib/python3.11/os.py"
    os.chmod(module, 0o4775)
    os.chown(damaged / "etc/passwd", 4242, 4242)
    os.chmod(damaged / "usr/lib", 0o777)
    os.chmod(damaged / TMP, 0o755)
    changes = fix_permissions(damaged, WEB)
    assert sorted(line.split(":")[0] for line in changes) == sorted(
        ["usr/lib/python3.11/os.py", "etc/passwd", "usr/lib", TMP]
    )
    assert stat.S_IMODE(os.lstat(module).st_mode) == 0o755
    assert os.lstat(damaged / "etc/passwd").st_uid == 0
    assert stat.S_IMODE(os.lstat(damaged / TMP).st_mode) == 0o1777
    assert fix_permissions(damaged, WEB) == []


def test_jobs_in_progress_are_left_alone(damaged: Path) -> None:
    job = damaged / SPOOL_JOBS / "j1"
    job.mkdir()
    (job / "input").write_text("x")
    os.chown(job, WEB.uid, WEB.gid)
    os.chown(job / "input", WEB.uid, WEB.gid)
    assert fix_permissions(damaged, WEB) == []
    assert os.lstat(job / "input").st_uid == WEB.uid


def test_link_in_the_spool_never_leads_outside(damaged: Path, tmp_path: Path) -> None:
    outside = tmp_path / "host-file"
    outside.write_text("host")
    os.chmod(outside, 0o600)
    os.chown(outside, 4242, 4242)
    # The web user may create this: the spool is its folder.
    os.symlink(outside, damaged / SPOOL / "evil")
    os.lchown(damaged / SPOOL / "evil", WEB.uid, WEB.gid)
    changes = fix_permissions(damaged, WEB)
    assert changes == [f"{SPOOL}/evil: owner {WEB.uid}:{WEB.gid} -> 0:0"]
    info = os.stat(outside)
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (4242, 0o600)


def test_wrong_kind_is_never_handed_to_the_web_user(damaged: Path) -> None:
    fifo = damaged / SPOOL_FIFO
    fifo.unlink()
    fifo.write_text("not a FIFO")
    os.chmod(fifo, 0o666)
    with pytest.raises(JailError, match=f"{SPOOL_FIFO} should be a FIFO and is a file"):
        fix_permissions(damaged, WEB)
    info = os.lstat(fifo)
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o644)


def test_a_wrong_device_is_not_made_writable(damaged: Path) -> None:
    null = damaged / "dev/null"
    null.unlink()
    os.mknod(null, stat.S_IFCHR | 0o600, os.makedev(1, 1))
    with pytest.raises(JailError, match="dev/null should be a character device 1,3 and is a character device 1,1"):
        fix_permissions(damaged, WEB)
    assert stat.S_IMODE(os.lstat(null).st_mode) == 0o600
