"""Fixtures for the jail tests: one jail built per session (as root), and scratch copies.

Building costs a few seconds, so the session builds one jail, and tests
that need to change a jail take a copy of it (cp -a keeps the device
nodes and the FIFO).
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from sysside.jail.builder import BuildReport, build
from sysside.jail.forbidden import KnownFiles, known_files
from sysside.jail.perms import fix_permissions
from tests.jail.support import WEB
from webside.approval import MANIFEST_NAME

PROJECT_STUBS = Path(__file__).resolve().parents[2] / "stubs"


@dataclass(frozen=True)
class BuiltJail:
    """A jail built by the session, the stubs folder it was built from, and the first build's report."""

    path: Path
    stubs: Path
    report: BuildReport


@pytest.fixture(scope="session")
def built_jail(tmp_path_factory: pytest.TempPathFactory) -> BuiltJail:
    """A jail built once, from a copy of the project's stubs (tests may add a stub to the copy)."""
    base = tmp_path_factory.mktemp("jail")
    stubs = base / "stubs"
    stubs.mkdir()
    for path in PROJECT_STUBS.glob("*.py"):
        shutil.copy2(path, stubs / path.name)
    if (PROJECT_STUBS / MANIFEST_NAME).exists():
        shutil.copy2(PROJECT_STUBS / MANIFEST_NAME, stubs / MANIFEST_NAME)
    jail = base / "jail"
    report = build(jail, stubs, WEB)
    return BuiltJail(jail, stubs, report)


@pytest.fixture(scope="session")
def permed_changes(built_jail: BuiltJail) -> list[str]:
    """The changes of the first `perms` on the session's jail (which stays permed afterwards)."""
    return fix_permissions(built_jail.path, WEB)


@pytest.fixture(scope="session")
def known() -> KnownFiles:
    """The host programs and sys-side files the audit recognises, read once."""
    return known_files()


def copy_jail(source: Path, target: Path) -> Path:
    """A copy of a jail, device nodes, FIFO, owners and modes included."""
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def scratch_jail(built_jail: BuiltJail, permed_changes: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's permed jail for one test module to damage and repair."""
    del permed_changes
    return copy_jail(built_jail.path, tmp_path_factory.mktemp("scratch") / "jail")
