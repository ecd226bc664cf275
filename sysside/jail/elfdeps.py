"""The shared libraries an ELF file needs, found the way the dynamic loader finds them.

How: this module reads the ELF files itself (it never runs `ldd`, which
runs the loader on the file): the program interpreter (PT_INTERP), then
from the dynamic section each DT_NEEDED name and the DT_RPATH / DT_RUNPATH
search lists. Each name is resolved in the order ld.so(8) documents, for a
process started with a clean environment (no LD_LIBRARY_PATH, as the jail's
launcher starts it):

1. a name with a slash is a path;
2. a library of that soname already loaded is used again;
3. DT_RPATH of the object, then of the objects that loaded it, when the
   object has no DT_RUNPATH;
4. DT_RUNPATH of the object itself;
5. /etc/ld.so.cache (its "glibc-ld.so.cache1.1" format, read here);
6. the loader's default directories.

Rules:
1. Only 64-bit little-endian x86-64 files are read, which is what the
   cache entries below are for; anything else is an ElfError that names
   the file.
2. $ORIGIN is expanded; $LIB and $PLATFORM are refused rather than guessed.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

LD_SO_CACHE = Path("/etc/ld.so.cache")
# The loader's own search path after the cache (ld.so --help, "system search path").
DEFAULT_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib", "/lib64", "/usr/lib64")

_ELF_MAGIC = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_EM_X86_64 = 62
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 15, 29

_CACHE_MAGIC = b"glibc-ld.so.cache1.1"
# Cache entry flags for an x86-64 libc6 library (FLAG_ELF_LIBC6 | FLAG_X8664_LIB64).
_CACHE_X86_64 = 0x0303


class ElfError(Exception):
    """A file cannot be read as an ELF object, or a library it needs cannot be found."""


@dataclass(frozen=True)
class ElfInfo:
    """What the loader reads from one ELF file."""

    interpreter: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]


def is_elf(path: str | os.PathLike[str]) -> bool:
    """True when the file starts with the ELF magic."""
    with open(path, "rb") as handle:
        return handle.read(4) == _ELF_MAGIC


def read_elf(path: str | os.PathLike[str]) -> ElfInfo:
    """Read the interpreter, DT_NEEDED, DT_RPATH and DT_RUNPATH of an ELF file."""
    with open(path, "rb") as handle:
        data = handle.read()
    name = os.fspath(path)
    if data[:4] != _ELF_MAGIC:
        raise ElfError(f"{name}: not an ELF file")
    if data[4] != _ELFCLASS64 or data[5] != _ELFDATA2LSB:
        raise ElfError(f"{name}: not a 64-bit little-endian ELF file")
    (machine,) = struct.unpack_from("<H", data, 18)
    if machine != _EM_X86_64:
        raise ElfError(f"{name}: machine {machine}, only x86-64 ({_EM_X86_64}) is supported")
    phoff, phentsize, phnum = _unpack(name, data, "<Q", 32)[0], *_unpack(name, data, "<HH", 54)
    segments = [_unpack(name, data, "<IIQQQQQQ", phoff + i * phentsize) for i in range(phnum)]
    interpreter = None
    dynamic: tuple[int, int] | None = None
    loads: list[tuple[int, int, int]] = []
    for p_type, _flags, offset, vaddr, _paddr, filesz, _memsz, _align in segments:
        if p_type == _PT_INTERP:
            interpreter = data[offset : offset + filesz].split(b"\0", 1)[0].decode()
        elif p_type == _PT_DYNAMIC:
            dynamic = (offset, filesz)
        elif p_type == _PT_LOAD:
            loads.append((vaddr, offset, filesz))
    if dynamic is None:
        return ElfInfo(interpreter, (), (), ())
    entries: list[tuple[int, int]] = []
    offset, size = dynamic
    for position in range(offset, offset + size, 16):
        tag, value = _unpack(name, data, "<qQ", position)
        if tag == _DT_NULL:
            break
        entries.append((tag, value))
    strtab_vaddr = next((value for tag, value in entries if tag == _DT_STRTAB), None)
    if strtab_vaddr is None:
        raise ElfError(f"{name}: a dynamic section without a string table")
    strtab = _file_offset(name, loads, strtab_vaddr)

    def string(at: int) -> str:
        end = data.find(b"\0", strtab + at)
        if end < 0:
            raise ElfError(f"{name}: a dynamic string runs off the end of the file")
        return data[strtab + at : end].decode()

    def paths(wanted: int) -> tuple[str, ...]:
        found: list[str] = []
        for tag, value in entries:
            if tag == wanted:
                found.extend(part for part in string(value).split(":") if part)
        return tuple(found)

    needed = tuple(string(value) for tag, value in entries if tag == _DT_NEEDED)
    return ElfInfo(interpreter, needed, paths(_DT_RPATH), paths(_DT_RUNPATH))


def _unpack(name: str, data: bytes, fmt: str, offset: int) -> tuple[int, ...]:
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise ElfError(f"{name}: truncated ELF structure at offset {offset}")
    return struct.unpack_from(fmt, data, offset)


def _file_offset(name: str, loads: list[tuple[int, int, int]], vaddr: int) -> int:
    for start, offset, size in loads:
        if start <= vaddr < start + size:
            return offset + vaddr - start
    raise ElfError(f"{name}: address {vaddr:#x} is in no loaded segment")


def read_ld_cache(path: Path = LD_SO_CACHE) -> dict[str, str]:
    """soname -> path from the loader's cache, first entry winning as in the loader; {} if there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    start = data.find(_CACHE_MAGIC)
    if start < 0:
        raise ElfError(f"{path}: not in the glibc-ld.so.cache1.1 format")
    nlibs, _strings_len = struct.unpack_from("<II", data, start + 20)
    entries = start + 48
    found: dict[str, str] = {}
    for index in range(nlibs):
        flags, key, value, _osversion, hwcap = struct.unpack_from("<iIIIQ", data, entries + index * 24)
        # Entries for glibc-hwcaps subdirectories (hwcap set) are left to the
        # plain ones: the jail gets one copy of each library.
        if flags != _CACHE_X86_64 or hwcap:
            continue
        soname = data[key : data.index(b"\0", key)].decode()
        found.setdefault(soname, data[value : data.index(b"\0", value)].decode())
    return found


@dataclass
class Resolver:
    """Resolve the libraries of a process, object after object, as its loader would."""

    cache: dict[str, str] = field(default_factory=read_ld_cache)
    default_dirs: tuple[str, ...] = DEFAULT_DIRS
    # soname (or path, for names with a slash) -> the file it resolved to.
    loaded: dict[str, str] = field(default_factory=dict)
    interpreters: set[str] = field(default_factory=set)

    def add(self, path: str, rpath_chain: tuple[tuple[str, ...], ...] = ()) -> None:
        """Resolve `path` and, depth first, every library it needs; raise ElfError if one is missing."""
        info = read_elf(path)
        if info.interpreter:
            self.interpreters.add(info.interpreter)
        origin = os.path.dirname(os.path.realpath(path))
        own_rpath = () if info.runpath else tuple(_expand(entry, origin, path) for entry in info.rpath)
        chain = (*rpath_chain, own_rpath) if own_rpath else rpath_chain
        runpath = tuple(_expand(entry, origin, path) for entry in info.runpath)
        for name in info.needed:
            if name in self.loaded:
                continue
            found = self.find(name, chain, runpath)
            if found is None:
                raise ElfError(f"{path} needs {name}, which the loader would not find")
            self.loaded[name] = found
            self.add(found, chain)

    def add_name(self, name: str) -> None:
        """Resolve a library opened by name at run time (dlopen), and what it needs."""
        if name in self.loaded:
            return
        found = self.find(name, (), ())
        if found is None:
            raise ElfError(f"{name} is opened at run time, and the loader would not find it")
        self.loaded[name] = found
        self.add(found)

    def find(self, name: str, chain: tuple[tuple[str, ...], ...], runpath: tuple[str, ...]) -> str | None:
        """The file the loader takes for `name`, given the RPATH chain and the object's RUNPATH."""
        if "/" in name:
            return name if os.path.isfile(name) else None
        search: list[str] = [directory for rpath in reversed(chain) for directory in rpath] if not runpath else []
        for directory in [*search, *runpath]:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
        if name in self.cache and os.path.isfile(self.cache[name]):
            return self.cache[name]
        for directory in self.default_dirs:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
        return None


def _expand(entry: str, origin: str, path: str) -> str:
    for token in ("$LIB", "${LIB}", "$PLATFORM", "${PLATFORM}"):
        if token in entry:
            raise ElfError(f"{path}: search path {entry!r} uses {token}, which is not supported")
    return entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)


def libraries_of(paths: Iterable[str]) -> tuple[dict[str, str], set[str]]:
    """soname -> file for everything `paths` need, and the program interpreters they name."""
    resolver = Resolver()
    for path in paths:
        resolver.add(path)
    return resolver.loaded, resolver.interpreters
