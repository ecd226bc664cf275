"""Writing one file into the jail: whole, and never through a link.

Rules:
1. A file appears whole: it is written under a temporary name in its
   folder (created O_EXCL|O_NOFOLLOW), then renamed over the old one, so a
   running web side never reads half a file.
2. A folder on the way that is not a folder (a link, a file) stops the
   build rather than being followed: the builder runs as root.
3. Copies keep their modification time (the manifest and the .pyc headers
   rely on it), never carry set-id bits or write access beyond the owner,
   and only ELF files keep execute bits.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import py_compile
import stat
import subprocess
from pathlib import Path

from sysside.jail import JailError
from sysside.jail.elfdeps import is_elf
from sysside.jail.modules import Item

_PART = ".hole-part"
_ELF_MODE_MASK = 0o755
_DATA_MODE_MASK = 0o644


def make_dirs(jail: Path, relative: str) -> None:
    """Create the folders of `relative` inside `jail`, refusing anything on the way that is not a folder."""
    current = jail
    for part in Path(relative).parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            os.chmod(current, 0o755)  # noqa: S103 (root's, and the web user must enter it)
            continue
        if not stat.S_ISDIR(info.st_mode):
            raise JailError(f"{current} should be a folder and is not (a link or a file); remove it and build again")


def _open_part(target: Path, mode: int) -> tuple[int, Path]:
    part = target.with_name(target.name + _PART)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(part)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    return fd, part


def copy(source: Path, target: Path, objcopy: str | None = None) -> None:
    """Copy `source` over `target` whole, with its time; with `objcopy`, without debug sections."""
    info = os.stat(source)
    fd, part = _open_part(target, 0o600)
    try:
        with open(source, "rb") as reader:
            remaining = info.st_size
            offset = 0
            while remaining > 0:
                sent = os.sendfile(fd, reader.fileno(), offset, remaining)
                if sent == 0:
                    raise JailError(f"{source} shrank while it was copied")
                offset += sent
                remaining -= sent
    finally:
        os.close(fd)
    if objcopy is not None:
        done = subprocess.run([objcopy, "--strip-debug", str(part)], capture_output=True, check=False)
        if done.returncode != 0:
            raise JailError(
                f"objcopy --strip-debug failed on a copy of {source}: {done.stderr.decode(errors='replace')}"
            )
    mask = _ELF_MODE_MASK if is_elf(part) else _DATA_MODE_MASK
    os.chmod(part, stat.S_IMODE(info.st_mode) & mask)
    os.utime(part, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.replace(part, target)


def write(target: Path, data: bytes, mode: int) -> None:
    fd, part = _open_part(target, 0o600)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(part, target)


def compile_pyc(item: Item, jail: Path, target: Path) -> str:
    """The .pyc of a copied .py: the host's own when it is valid for that .py, else compiled here."""
    host_pyc = importlib.util.cache_from_source(item.source)
    if _valid_pyc(Path(host_pyc), Path(item.source)):
        copy(Path(host_pyc), target)
        os.chmod(target, 0o644)
        return "copied"
    part = target.with_name(target.name + _PART)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(part)
    try:
        # dfile: tracebacks name the file as the jail sees it.
        py_compile.compile(str(jail / item.of), cfile=str(part), dfile=f"/{item.of}", doraise=True)
    except py_compile.PyCompileError as exc:
        raise JailError(f"cannot compile {item.source}: {exc.msg}") from None
    os.chmod(part, 0o644)
    os.replace(part, target)
    return "compiled"


def _valid_pyc(pyc: Path, source: Path) -> bool:
    """True when `pyc` is a timestamp pyc of this interpreter for `source` as it is now."""
    try:
        with open(pyc, "rb") as handle:
            header = handle.read(16)
        info = os.stat(source)
    except OSError:
        return False
    return (
        len(header) == 16
        and header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == 0
        and int.from_bytes(header[8:12], "little") == int(info.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(header[12:16], "little") == info.st_size & 0xFFFFFFFF
    )
