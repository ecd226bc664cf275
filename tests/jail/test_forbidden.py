"""The audit's tables: which names are programs, secrets and databases."""

import pytest

from sysside.jail.forbidden import DATABASE_NAME_RE, SECRET_NAME_RE, program_named


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("sh", "a shell"),
        ("busybox", "a shell"),
        ("gcc", "a compiler, assembler or linker"),
        ("gcc-12", "a compiler, assembler or linker"),
        ("x86_64-linux-gnu-gcc-12", "a compiler, assembler or linker"),
        ("as", "a compiler, assembler or linker"),
        ("ld.gold", "a compiler, assembler or linker"),
        ("curl", "a network tool"),
        ("nc", "a network tool"),
    ],
)
def test_programs_by_name(name: str, kind: str) -> None:
    assert program_named(name) == kind


@pytest.mark.parametrize("name", ["python3", "ascii.py", "shlex.py", "libc.so.6", "cc.py", "gccx", "ldconfig.txt"])
def test_not_programs(name: str) -> None:
    assert program_named(name) is None


@pytest.mark.parametrize("name", ["secret_key", "secret_key.txt", "server.pem", "tls.key", "id_rsa", ".env", "shadow"])
def test_secret_names(name: str) -> None:
    assert SECRET_NAME_RE.fullmatch(name)


@pytest.mark.parametrize("name", ["secrets.py", "keyword.py", "environment.py", "monkey.pyc"])
def test_not_secret_names(name: str) -> None:
    assert not SECRET_NAME_RE.fullmatch(name)


@pytest.mark.parametrize(("name", "hit"), [("fis.sqlite", True), ("x.db", True), ("dbm.py", False)])
def test_database_names(name: str, hit: bool) -> None:
    assert bool(DATABASE_NAME_RE.fullmatch(name)) is hit
