"""`hole jail check`, for real, as root: a fresh jail is clean, and each offence is caught by name.

Each offence is planted in one scratch copy of the jail, audited, then
removed; every audit must name the planted paths and nothing else, so an
offence left behind by an earlier test shows up at once.
"""

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

import sysside
from sysside.jail.audit import audit
from sysside.jail.forbidden import KnownFiles
from sysside.jail.layout import SPOOL_JOBS
from tests.jail.conftest import BuiltJail
from tests.jail.support import WEB

pytestmark = pytest.mark.root

SECRET = b"4f1c2e-the-web-sides-session-key-for-this-test"


def findings(jail: Path, known: KnownFiles) -> dict[str, list[str]]:
    result = audit(jail, WEB, secrets=[SECRET], known=known)
    found: dict[str, list[str]] = {}
    for finding in result.findings:
        found.setdefault(finding.path, []).append(finding.problem)
    return found


def test_fresh_jail_is_clean(built_jail: BuiltJail, permed_changes: list[str], known: KnownFiles) -> None:
    del permed_changes
    result = audit(built_jail.path, WEB, secrets=[SECRET], known=known)
    assert result.findings == []
    assert result.files > 500


def test_web_side_files_in_the_spool_and_tmp_are_fine(scratch_jail: Path, known: KnownFiles) -> None:
    job = scratch_jail / SPOOL_JOBS / "abc"
    job.mkdir()
    os.mkfifo(job / "result")
    (scratch_jail / "tmp/worker").write_text("")
    for path in (job, job / "result", scratch_jail / "tmp/worker"):
        os.chown(path, WEB.uid, WEB.gid)
    try:
        assert findings(scratch_jail, known) == {}
    finally:
        shutil.rmtree(job)
        (scratch_jail / "tmp/worker").unlink()


def _host_program(*names: str) -> Path:
    for name in names:
        found = shutil.which(name, path="/usr/bin:/bin")
        if found:
            return Path(os.path.realpath(found))
    pytest.fail(f"none of {names} on the host to copy")


Planter = Callable[[Path, Path], dict[str, str]]


def plant_setuid(jail: Path, host: Path) -> dict[str, str]:
    os.chmod(jail / "usr/lib/python3.11/os.py", 0o4755)
    return {"usr/lib/python3.11/os.py": "setuid"}


def plant_setgid(jail: Path, host: Path) -> dict[str, str]:
    os.chmod(jail / "usr/lib/python3.11/os.py", 0o2755)
    return {"usr/lib/python3.11/os.py": "setgid"}


def plant_device(jail: Path, host: Path) -> dict[str, str]:
    os.mknod(jail / "dev/sda", stat.S_IFBLK | 0o600, os.makedev(8, 0))
    return {"dev/sda": "block device node (8,0) that is not allowed"}


def plant_wrong_null(jail: Path, host: Path) -> dict[str, str]:
    (jail / "dev/null").unlink()
    os.mknod(jail / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 1))
    return {"dev/null": "must be character device 1,3"}


def plant_shell(jail: Path, host: Path) -> dict[str, str]:
    (jail / "bin").mkdir()
    shutil.copy2(_host_program("sh"), jail / "bin/sh")
    # The same shell under an innocent name is found by its content.
    shutil.copy2(_host_program("sh"), jail / "usr/lib/helper")
    return {"bin/sh": "a shell", "usr/lib/helper": "a copy of the host's"}


def plant_gcc(jail: Path, host: Path) -> dict[str, str]:
    (jail / "usr/lib/gcc").write_text("#!/usr/bin/python3\nprint('a fake compiler')\n")
    return {"usr/lib/gcc": "a compiler, assembler or linker"}


def plant_curl(jail: Path, host: Path) -> dict[str, str]:
    shutil.copy2(_host_program("curl", "wget"), jail / "usr/bin/curl")
    return {"usr/bin/curl": "a network tool"}


def plant_web_writable(jail: Path, host: Path) -> dict[str, str]:
    os.chown(jail / "usr/lib/python3.11/site.py", WEB.uid, WEB.gid)
    os.chown(jail / "usr/lib/python3.11/io.py", 0, WEB.gid)
    os.chmod(jail / "usr/lib/python3.11/io.py", 0o664)
    return {"usr/lib/python3.11/site.py": "owned by holeweb", "usr/lib/python3.11/io.py": "writable by holeweb's group"}


def plant_open_folder(jail: Path, host: Path) -> dict[str, str]:
    (jail / "usr/share").mkdir()
    os.chmod(jail / "usr/share", 0o777)
    return {"usr/share": "world-writable folder without the sticky bit"}


def plant_foreign_owner(jail: Path, host: Path) -> dict[str, str]:
    (jail / "srv/hole/notes.txt").write_text("whose?")
    os.chown(jail / "srv/hole/notes.txt", 4242, 0)
    return {"srv/hole/notes.txt": "owned by uid 4242"}


def plant_sysside(jail: Path, host: Path) -> dict[str, str]:
    (jail / "srv/hole/sysside").mkdir()
    (jail / "srv/hole/sysside/__init__.py").write_text("")
    # A sys-side module under another name is found by its content.
    daemon = Path(sysside.__file__).parent / "daemon.py"
    shutil.copy2(daemon, jail / "srv/hole/webside/helpers.py")
    return {"srv/hole/sysside": "sys-side code", "srv/hole/webside/helpers.py": "sys-side file sysside/daemon.py"}


def plant_job_map(jail: Path, host: Path) -> dict[str, str]:
    (jail / "srv/hole/jobs.toml").write_text('[jobs.x]\ntitle = "X"\nsteps = [{ run = ["true"] }]\n')
    return {"srv/hole/jobs.toml": "a job map"}


def plant_database(jail: Path, host: Path) -> dict[str, str]:
    (jail / "srv/hole/fis.sqlite").write_bytes(b"")
    (jail / "srv/hole/cache.bin").write_bytes(b"SQLite format 3\x00" + bytes(100))
    return {"srv/hole/fis.sqlite": "named like a database", "srv/hole/cache.bin": "an SQLite database"}


def plant_secrets(jail: Path, host: Path) -> dict[str, str]:
    (jail / "srv/hole/secret_key").write_text("whatever")
    (jail / "srv/hole/settings.txt").write_bytes(b"SECRET_KEY = '" + SECRET + b"'\n")
    (jail / "srv/hole/tls.txt").write_text("-----BEGIN RSA PRIVATE KEY-----\nMII...\n")
    return {
        "srv/hole/secret_key": "named like a secret",
        "srv/hole/settings.txt": "the web side's secret key",
        "srv/hole/tls.txt": "private key",
    }


def plant_hard_link(jail: Path, host: Path) -> dict[str, str]:
    # host is on the jail's filesystem (both under pytest's tmp), outside the jail.
    outside = host / "host-file"
    outside.write_text("the host's")
    os.link(outside, jail / "srv/hole/linked")
    # A hard link between two names inside the jail is not an offence.
    os.link(jail / "srv/hole/templates/base.html", jail / "srv/hole/templates/base-again.html")
    return {"srv/hole/linked": "hard link to a file outside the jail (2 links, 1 inside the jail)"}


def plant_capability(jail: Path, host: Path) -> dict[str, str]:
    # cap_net_raw+ep, as setcap writes it (VFS_CAP_REVISION_2).
    value = bytes.fromhex("01000002") + (1 << 13).to_bytes(4, "little") + bytes(12)
    os.setxattr(jail / "usr/lib/python3.11/os.py", "security.capability", value)
    return {"usr/lib/python3.11/os.py": "file capabilities"}


OFFENCES = [
    plant_setuid, plant_setgid, plant_device, plant_wrong_null, plant_shell, plant_gcc, plant_curl,
    plant_web_writable, plant_open_folder, plant_foreign_owner, plant_sysside, plant_job_map,
    plant_database, plant_secrets, plant_hard_link, plant_capability,
]  # fmt: skip


@pytest.mark.parametrize("plant", OFFENCES, ids=lambda p: p.__name__.removeprefix("plant_"))
def test_offence_is_caught_by_name(
    plant: Planter, built_jail: BuiltJail, scratch_jail: Path, known: KnownFiles, tmp_path: Path
) -> None:
    try:
        expected = plant(scratch_jail, tmp_path)
        found = findings(scratch_jail, known)
        for path, words in expected.items():
            assert path in found, (path, found)
            assert any(words in problem for problem in found[path]), (path, found[path])
        assert set(found) <= set(expected), found
    finally:
        _restore(scratch_jail, built_jail.path)
    assert findings(scratch_jail, known) == {}


def _restore(scratch: Path, pristine: Path) -> None:
    """Put the scratch jail back as the permed session jail is, whatever a test planted."""
    for relative in ("bin", "usr/share", "srv/hole/sysside"):
        shutil.rmtree(scratch / relative, ignore_errors=True)
    for relative in (
        "usr/bin/curl", "usr/lib/helper", "usr/lib/gcc", "dev/sda", "srv/hole/notes.txt", "srv/hole/jobs.toml",
        "srv/hole/fis.sqlite", "srv/hole/cache.bin", "srv/hole/secret_key", "srv/hole/settings.txt",
        "srv/hole/tls.txt", "srv/hole/linked", "srv/hole/webside/helpers.py", "srv/hole/templates/base-again.html",
    ):  # fmt: skip
        path = scratch / relative
        if os.path.lexists(path):
            path.unlink()
    # New files, not the planted inodes: no set-id bits, owners or capabilities left.
    for relative in ("usr/lib/python3.11/os.py", "usr/lib/python3.11/site.py", "usr/lib/python3.11/io.py"):
        (scratch / relative).unlink()
        shutil.copy2(pristine / relative, scratch / relative)
    null = scratch / "dev/null"
    null.unlink()
    os.mknod(null, stat.S_IFCHR | 0o666, os.lstat(pristine / "dev/null").st_rdev)
    os.chmod(null, 0o666)
