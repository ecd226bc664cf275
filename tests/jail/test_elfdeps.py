"""The ELF reader and resolver, against the loader's own answer (ldd) on this machine's Python."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from sysside.jail.elfdeps import ElfError, Resolver, libraries_of, read_elf, read_ld_cache
from tests.conftest import cannot_run

INTERPRETER = os.path.realpath(sys.executable)
LIB_DYNLOAD = Path(sysconfig.get_path("platstdlib", vars={"platbase": sys.base_exec_prefix})) / "lib-dynload"
EXTENSIONS = sorted(str(p) for p in LIB_DYNLOAD.glob("*.so"))


def ldd(path: str) -> dict[str, str]:
    """soname -> real path, as the dynamic loader resolves them (the loader itself left out)."""
    done = subprocess.run(["ldd", path], capture_output=True, text=True, check=True)
    found = {}
    for line in done.stdout.splitlines():
        match = re.match(r"\s*(\S+) => (/\S+)", line)
        if match:
            found[match.group(1)] = os.path.realpath(match.group(2))
    return found


@pytest.mark.parametrize("path", [INTERPRETER, *EXTENSIONS], ids=os.path.basename)
def test_resolves_like_the_loader(path: str) -> None:
    if shutil.which("ldd") is None:
        cannot_run("ldd, the reference (Debian's libc-bin)")
    loaded, interpreters = libraries_of([path])
    mine = {
        name: os.path.realpath(file)
        for name, file in loaded.items()
        if os.path.realpath(file) not in {os.path.realpath(i) for i in interpreters}
    }
    assert mine == ldd(path)


def test_interpreter_names_its_loader() -> None:
    info = read_elf(INTERPRETER)
    assert info.interpreter is not None
    assert os.path.isfile(info.interpreter)
    assert "libc.so.6" in libraries_of([INTERPRETER])[0]


def test_cache_agrees_with_the_loader_on_libc() -> None:
    assert os.path.realpath(read_ld_cache()["libc.so.6"]) == ldd(INTERPRETER)["libc.so.6"]


def test_not_elf_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "script"
    path.write_text("#!/bin/sh\n")
    with pytest.raises(ElfError, match="script: not an ELF file"):
        read_elf(path)


def test_truncated_elf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.so"
    path.write_bytes(Path(INTERPRETER).read_bytes()[:80])
    with pytest.raises(ElfError, match="truncated"):
        read_elf(path)


def test_missing_library_is_an_error(tmp_path: Path) -> None:
    resolver = Resolver(cache={}, default_dirs=(str(tmp_path),))
    with pytest.raises(ElfError, match=r"needs lib\S+, which the loader would not find"):
        resolver.add(INTERPRETER)


def test_runpath_comes_before_cache_and_defaults(tmp_path: Path) -> None:
    # A library of the same name in a folder of the object's DT_RUNPATH wins over the cache.
    info = read_elf(INTERPRETER)
    fake = tmp_path / "libc.so.6"
    fake.write_bytes(Path(read_ld_cache()["libc.so.6"]).read_bytes())
    resolver = Resolver()
    assert resolver.find("libc.so.6", (), (str(tmp_path),)) == str(fake)
    assert resolver.find("libc.so.6", (), ()) == read_ld_cache()["libc.so.6"]
    # RPATH is used only when the object has no RUNPATH.
    assert resolver.find("libc.so.6", ((str(tmp_path),),), ("/nonexistent",)) == read_ld_cache()["libc.so.6"]
    assert resolver.find("libc.so.6", ((str(tmp_path),),), ()) == str(fake)
    assert info.needed
