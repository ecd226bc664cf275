"""Build the jail: make a folder hold exactly what the web side needs to run.

Rules:
1. What goes in is decided by modules.py from the probe's findings
   (discover.py); this module only makes the folder match, and records
   each file in the manifest (manifest.py).
2. A rebuild touches only what changed: a file whose source and copy still
   have the sizes and times recorded is left alone, a file no longer wanted
   is removed, and the probe runs again only when a file it depends on
   changed (or with rescan).
3. Files appear whole and never through a link (files.py): build runs as
   root in a tree that holds a folder the web user can write (the spool).
4. Owners and modes are perms.py's job: files are made root's, never
   writable by group or others, and the spool and tmp/ are only created.
5. It refuses a non-empty folder that has no manifest: a wrong --jail must
   not turn a folder of other files into a jail.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sysside.jail import JailError
from sysside.jail import manifest as manifest_io
from sysside.jail.discover import Discovery, discover
from sysside.jail.files import compile_pyc, copy, make_dirs, write
from sysside.jail.layout import DEVICES, MANIFEST, SPOOL, SPOOL_FIFO, SPOOL_JOBS, TMP, WebIds
from sysside.jail.manifest import Entry, Manifest, Stamp, stamp
from sysside.jail.modules import APP_PACKAGES, Item, Kind, make_plan, stubs_to_copy

PROBE = Path(__file__).with_name("probe.py")


@dataclass
class BuildReport:
    """What a build changed, what it left out, and what the jail came to."""

    jail: Path
    changes: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    probed: bool = False
    files: int = 0
    size_bytes: int = 0
    seconds: float = 0.0


def build(
    jail: Path,
    stubs_dir: Path,
    web_ids: WebIds,
    *,
    python: str | None = None,
    rescan: bool = False,
) -> BuildReport:
    """Make `jail` hold what the web side needs (probing it with `python`); see the module's rules."""
    started = time.monotonic()
    if os.geteuid() != 0:
        raise JailError("building a jail needs root (it makes device nodes and root-owned files); run it as root")
    python = python or sys.executable
    if not python:
        raise JailError("cannot tell which Python runs the web side: sys.executable is empty")
    jail = jail.absolute()
    stubs_dir = stubs_dir.absolute()
    report = BuildReport(jail)
    old = _open_jail(jail)

    discovery, digest = _discovery(old, python, stubs_dir, rescan, report)
    plan = make_plan(discovery, stubs_dir, web_ids)
    report.left_out = sorted(plan.left_out)
    report.notes.extend(plan.notes)
    new = Manifest(fingerprint=digest, discovery=discovery.to_json())
    cache_tag_ok = discovery.layout.cache_tag == sys.implementation.cache_tag
    if not cache_tag_ok:
        report.notes.append(
            f"no .pyc files: the jail's Python ({discovery.layout.cache_tag}) is not the one "
            f"building ({sys.implementation.cache_tag}); the web side will compile its modules at every start"
        )
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        report.notes.append(
            "objcopy not found: shared libraries keep their debug sections; install binutils for a smaller jail"
        )
    # .py files before the .pyc files compiled from them.
    ordered = sorted(plan.items.values(), key=lambda item: (item.kind is Kind.PYC, item.dest))
    for item in ordered:
        if item.kind is Kind.PYC and not cache_tag_ok:
            continue
        entry = old.files.get(item.dest)
        if entry is not None and _up_to_date(jail, item, entry):
            new.files[item.dest] = entry
            continue
        new.files[item.dest], verb = _make(jail, item, objcopy)
        report.changes.append(f"{verb} {item.dest}")

    for dest in sorted(set(old.files) - set(new.files)):
        if _remove(jail, dest):
            report.changes.append(f"removed {dest}")
    report.changes.extend(_make_places(jail))
    manifest_io.save(jail, new)
    report.files, report.size_bytes = _size(jail)
    report.seconds = time.monotonic() - started
    return report


def _open_jail(jail: Path) -> Manifest:
    """The jail's manifest, creating the folder; refuse a folder of other things."""
    try:
        info = os.lstat(jail)
    except FileNotFoundError:
        jail.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(jail, 0o755)
        os.chmod(jail, 0o755)  # noqa: S103 (a root-owned folder everyone may enter, as / is)
        return Manifest()
    if not stat.S_ISDIR(info.st_mode):
        raise JailError(f"{jail} is not a folder; give --jail a new or empty folder")
    found = manifest_io.load(jail)
    if found is None:
        with os.scandir(jail) as entries:
            empty = not any(entries)
        if not empty:
            raise JailError(
                f"{jail} is not empty and holds no {MANIFEST}: it was not made by this builder. "
                "Give --jail a new or empty folder, or remove this one's contents first."
            )
        return Manifest()
    return found


def _discovery(old: Manifest, python: str, stubs_dir: Path, rescan: bool, report: BuildReport) -> tuple[Discovery, str]:
    """The probe's findings: the cached ones when nothing they depend on changed."""
    if old.discovery and old.fingerprint and not rescan:
        # A cached record that cannot be read only means probing again.
        with contextlib.suppress(JailError):
            cached = Discovery.from_json(old.discovery)
            if fingerprint(cached, python, stubs_dir) == old.fingerprint:
                return cached, old.fingerprint
    names = [path.stem for path in stubs_to_copy(stubs_dir) if path.suffix == ".py"]
    found = discover(python, stubs_dir, names)
    report.probed = True
    return found, fingerprint(found, python, stubs_dir)


def fingerprint(found: Discovery, python: str, stubs_dir: Path) -> str:
    """A digest of every file and folder the probe's findings depend on.

    The module files it saw, the project's folders copied whole, the stubs,
    the interpreter, and the folders a new package would appear in.
    """
    paths: set[str] = {python, found.layout.executable, str(PROBE), *found.modules.values()}
    folders = {found.layout.stdlib, found.layout.purelib, found.layout.platlib, str(stubs_dir)}
    for name in (*APP_PACKAGES, "gunicorn"):
        if name in found.modules:
            root = Path(found.modules[name]).parent
            folders.add(str(root))
            paths.update(str(p) for p in root.rglob("*") if "__pycache__" not in p.parts)
    if "webside" in found.modules:
        templates = Path(found.modules["webside"]).parent.parent / "templates"
        paths.update(str(p) for p in templates.rglob("*"))
    paths.update(str(p) for p in stubs_to_copy(stubs_dir))
    digest = hashlib.sha256()
    for path in sorted(paths | folders):
        try:
            info = os.stat(path)
            digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def _up_to_date(jail: Path, item: Item, entry: Entry) -> bool:
    if entry.kind != item.kind.value or entry.source != item.source:
        return False
    if stamp(jail / item.dest, follow=False) != entry.dest_stamp:
        return False
    if item.kind is Kind.TEXT:
        return entry.source_stamp == _text_stamp(item.text)
    return stamp(item.source) == entry.source_stamp


def _text_stamp(text: str) -> tuple[int, int]:
    # A generated file has no source to stat: its content stands in for it.
    data = text.encode()
    return len(data), int.from_bytes(hashlib.sha256(data).digest()[:7], "big")


def _make(jail: Path, item: Item, objcopy: str | None) -> tuple[Entry, str]:
    """Make one file; return its manifest entry and what was done, in a word."""
    target = jail / item.dest
    make_dirs(jail, os.path.dirname(item.dest))
    if item.kind is Kind.TEXT:
        source_stamp: Stamp | None = _text_stamp(item.text)
        write(target, item.text.encode(), 0o644)
        verb = "wrote"
    elif item.kind is Kind.PYC:
        source_stamp = stamp(item.source)
        verb = compile_pyc(item, jail, target)
    else:
        source_stamp = stamp(item.source)
        copy(Path(item.source), target, objcopy if item.kind is Kind.STRIP else None)
        verb = "copied"
    made = stamp(target, follow=False)
    assert made is not None
    return Entry(item.kind.value, item.source, source_stamp, made), verb


def _remove(jail: Path, dest: str) -> bool:
    """Remove a file no longer wanted, then the folders it leaves empty."""
    target = jail / dest
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        return False
    os.unlink(target)
    parent = target.parent
    while parent != jail:
        try:
            os.rmdir(parent)
        except OSError:
            break
        parent = parent.parent
    return True


def _make_places(jail: Path) -> list[str]:
    """The device nodes, tmp/ and the spool: made when missing or of the wrong kind."""
    changes: list[str] = []
    make_dirs(jail, "dev")
    for device in DEVICES:
        target = jail / device.path
        wanted = os.makedev(device.major, device.minor)
        info = _lstat(target)
        if info is not None and stat.S_ISCHR(info.st_mode) and info.st_rdev == wanted:
            continue
        _clear(target, info)
        os.mknod(target, stat.S_IFCHR | device.mode, wanted)
        os.chmod(target, device.mode)
        changes.append(f"made {device.path} (character device {device.major},{device.minor})")
    # tmp/ is everyone's, sticky, as on any system: what Python's tempfile expects.
    changes.extend(_make_dir(jail, TMP, 0o1777))
    make_dirs(jail, os.path.dirname(SPOOL))
    changes.extend(_make_dir(jail, SPOOL, 0o755))
    changes.extend(_make_dir(jail, SPOOL_JOBS, 0o755))
    fifo = jail / SPOOL_FIFO
    info = _lstat(fifo)
    if info is None or not stat.S_ISFIFO(info.st_mode):
        _clear(fifo, info)
        os.mkfifo(fifo, 0o600)
        changes.append(f"made {SPOOL_FIFO} (FIFO)")
    return changes


def _make_dir(jail: Path, relative: str, mode: int) -> list[str]:
    target = jail / relative
    info = _lstat(target)
    if info is not None and stat.S_ISDIR(info.st_mode):
        return []
    _clear(target, info)
    os.mkdir(target, mode)
    os.chmod(target, mode)
    return [f"made {relative}/"]


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _clear(path: Path, info: os.stat_result | None) -> None:
    """Remove what stands where a node or folder must be made (never a folder's contents)."""
    if info is None:
        return
    if stat.S_ISDIR(info.st_mode):
        raise JailError(f"{path} is a folder where the jail needs something else; remove it and build again")
    os.unlink(path)


def _size(jail: Path) -> tuple[int, int]:
    """The number of regular files in the jail and their total size in bytes."""
    files = total = 0
    for folder, _dirs, names in os.walk(jail):
        for name in names:
            info = os.lstat(os.path.join(folder, name))
            if stat.S_ISREG(info.st_mode):
                files += 1
                total += info.st_size
    return files, total


def summary_lines(report: BuildReport, limit: int = 40) -> Iterable[str]:
    """The changes one per line, or counted by kind when there are more than `limit`."""
    if len(report.changes) <= limit:
        yield from report.changes
        return
    counts: dict[str, int] = {}
    for change in report.changes:
        verb = change.split(" ", 1)[0]
        counts[verb] = counts.get(verb, 0) + 1
    yield ", ".join(f"{verb} {count}" for verb, count in counts.items()) + " file(s)"
