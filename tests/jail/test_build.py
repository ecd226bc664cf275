"""`hole jail build`, for real, as root: the tree it makes, and rebuilding it."""

import json
import os
import shutil
import stat
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from sysside.jail import JailError
from sysside.jail.builder import build
from sysside.jail.layout import DEVICES, INTERPRETER, MANIFEST, SPOOL_FIFO, SPOOL_JOBS, TMP
from tests.jail.conftest import BuiltJail
from tests.jail.support import WEB, jail_python, json_lines
from tests.webside.support import GOOD_STUB, approve_as_is

pytestmark = pytest.mark.root

# The targets the jail is built to: smaller than this, and built within this.
MAX_SIZE_BYTES = 40_000_000
MAX_COLD_SECONDS = 15.0
MAX_WARM_SECONDS = 2.0


def test_imports_inside_the_jail(built_jail: BuiltJail) -> None:
    done = jail_python(built_jail.path, "import webside, gunicorn, flask_babel; print('imported')")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


def test_a_date_field_parses_inside_the_jail(built_jail: BuiltJail) -> None:
    # datetime.strptime imports _strptime on first use, from C: no page the
    # probe visits does it, so the builder must know.
    code = "import datetime; print(datetime.datetime.strptime('2026-11-23', '%Y-%m-%d').date())"
    done = jail_python(built_jail.path, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2026-11-23"


def test_python_sees_only_the_jail(built_jail: BuiltJail) -> None:
    code = "import json, sys; print(json.dumps([sys.prefix, sys.exec_prefix, sys.executable, sys.path]))"
    done = jail_python(built_jail.path, code, env={"HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    found = json_lines(done.stdout)
    assert isinstance(found, list)
    prefix, exec_prefix, executable, path = found
    assert (prefix, exec_prefix, executable) == ("/usr", "/usr", "/" + INTERPRETER)
    # "" is the current folder, which -c puts first. Site-packages is where
    # the interpreter's site module looks: Debian's looks in /usr/local/lib.
    assert all(entry.startswith(("/usr/lib/", "/usr/local/lib/", "/srv/hole")) for entry in path if entry), path
    assert "/srv/hole" in path


def test_encoding_is_utf8_even_with_no_locale_set(built_jail: BuiltJail) -> None:
    code = "import sys, locale; print(sys.getfilesystemencoding(), locale.getpreferredencoding())"
    done = jail_python(built_jail.path, code, env={"LANG": "", "TZ": "UTC"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["utf-8", "utf-8"]


def test_the_jail_has_what_the_builder_says(built_jail: BuiltJail) -> None:
    jail = built_jail.path
    for device in DEVICES:
        info = os.lstat(jail / device.path)
        assert stat.S_ISCHR(info.st_mode)
        assert (os.major(info.st_rdev), os.minor(info.st_rdev)) == (device.major, device.minor)
    assert stat.S_IMODE(os.lstat(jail / TMP).st_mode) == 0o1777
    assert stat.S_ISFIFO(os.lstat(jail / SPOOL_FIFO).st_mode)
    assert stat.S_ISDIR(os.lstat(jail / SPOOL_JOBS).st_mode)
    assert (jail / "etc/passwd").read_text().splitlines() == [
        "root:x:0:0:root:/nonexistent:/usr/sbin/nologin",
        f"holeweb:x:{WEB.uid}:{WEB.gid}:hole web side:/nonexistent:/usr/sbin/nologin",
    ]
    assert stat.S_IMODE(os.lstat(jail / MANIFEST).st_mode) == 0o600
    assert not list(jail.rglob("sysside*"))
    assert (jail / "srv/hole/templates/base.html").is_file()
    assert list((jail / "srv/hole/webside/translations").rglob("*.mo"))
    assert not list((jail / "srv/hole/webside/translations").rglob("*.po"))
    assert sorted(p.name for p in (jail / "srv/hole/stubs").iterdir()) == sorted(
        p.name for p in built_jail.stubs.iterdir()
    )


def test_every_copy_is_recorded_with_its_source(built_jail: BuiltJail) -> None:
    manifest = json.loads((built_jail.path / MANIFEST).read_text())
    files = manifest["files"]
    assert files[INTERPRETER]["source"] == os.path.realpath(sys.executable)
    for dest, entry in files.items():
        assert (built_jail.path / dest).is_file(), dest
        assert entry["source"] == "" or os.path.exists(entry["source"]), dest


def test_only_the_modules_the_web_side_uses(built_jail: BuiltJail) -> None:
    host = Path(sysconfig.get_path("stdlib"))
    jail = built_jail.path / "usr/lib" / host.name
    assert (jail / "os.py").is_file()
    assert (jail / "json/__init__.py").is_file()
    for unused in ("tkinter", "sqlite3", "idlelib", "ensurepip", "lib2to3", "unittest"):
        assert not (jail / unused).exists(), unused
    # site-packages sits inside the standard library's folder in the jail.
    in_jail = [p for p in jail.rglob("*.py") if "site-packages" not in p.parts]
    assert len(in_jail) < len(list(host.rglob("*.py"))) / 4


def test_cold_build_within_targets(built_jail: BuiltJail) -> None:
    report = built_jail.report
    assert report.probed
    assert report.seconds < MAX_COLD_SECONDS
    if shutil.which("objcopy"):
        assert report.size_bytes < MAX_SIZE_BYTES, f"{report.size_bytes / 1e6:.1f} MB"


def test_rebuild_copies_nothing_and_is_fast(built_jail: BuiltJail) -> None:
    started = time.monotonic()
    report = build(built_jail.path, built_jail.stubs, WEB)
    assert report.changes == []
    assert not report.probed
    assert time.monotonic() - started < MAX_WARM_SECONDS


def test_only_approved_stubs_are_probed_and_copied(built_jail: BuiltJail) -> None:
    extra = built_jail.stubs / "echo.py"
    manifest = built_jail.stubs / "approved.json"
    before = manifest.read_bytes()
    extra.write_text(GOOD_STUB, encoding="utf-8")
    try:
        unapproved = build(built_jail.path, built_jail.stubs, WEB)
        assert unapproved.changes == []
        assert not (built_jail.path / "srv/hole/stubs/echo.py").exists()
        approve_as_is(extra)
        added = build(built_jail.path, built_jail.stubs, WEB)
        assert added.probed
        assert sorted(added.changes) == ["copied srv/hole/stubs/approved.json", "copied srv/hole/stubs/echo.py"]
    finally:
        extra.unlink()
        manifest.write_bytes(before)
    removed = build(built_jail.path, built_jail.stubs, WEB)
    assert sorted(removed.changes) == ["copied srv/hole/stubs/approved.json", "removed srv/hole/stubs/echo.py"]
    assert not (built_jail.path / "srv/hole/stubs/echo.py").exists()


def test_damaged_copy_is_made_again(built_jail: BuiltJail) -> None:
    target = built_jail.path / "srv/hole/webside/__init__.py"
    original = target.read_bytes()
    target.write_bytes(original + b"\n# changed in the jail\n")
    report = build(built_jail.path, built_jail.stubs, WEB)
    assert report.changes == ["copied srv/hole/webside/__init__.py"]
    assert target.read_bytes() == original


def test_refuses_a_folder_it_did_not_make(tmp_path: Path, built_jail: BuiltJail) -> None:
    (tmp_path / "precious.txt").write_text("not a jail")
    with pytest.raises(JailError, match="not empty"):
        build(tmp_path, built_jail.stubs, WEB)
    assert (tmp_path / "precious.txt").read_text() == "not a jail"
