"""What the jail must never hold, by name and by content: the audit's tables.

Rules:
1. A program is forbidden by its name, however it is prefixed or suffixed
   (x86_64-linux-gnu-gcc-12 is gcc), and by its content: a file that is a
   byte-for-byte copy of the host's program of that name, whatever it is
   called in the jail.
2. Sys-side code is found by name (a `sysside` path component) and by
   content (a copy of any file of the sysside package, .pyc included).
3. Secrets, job maps and databases are found by name and by a look at the
   content (a private-key block, a [jobs.*] table, the SQLite header).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sysside

SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "ash", "busybox", "toybox")
BUILD_TOOLS = (
    "cc", "gcc", "g++", "c++", "cpp", "clang", "clang++", "tcc", "as", "ld", "ld.bfd", "ld.gold",
    "ld.lld", "lld", "gold", "nasm", "yasm", "make", "rustc", "go",
)  # fmt: skip
FETCHERS = (
    "wget", "curl", "nc", "netcat", "ncat", "socat", "ssh", "scp", "sftp", "ftp", "telnet", "tftp", "rsync",
)  # fmt: skip
PROGRAMS = {
    **dict.fromkeys(SHELLS, "a shell"),
    **dict.fromkeys(BUILD_TOOLS, "a compiler, assembler or linker"),
    **dict.fromkeys(FETCHERS, "a network tool"),
}
# <target triplet>-<name>-<version>: what distributions install besides <name>.
_PROGRAM_RE = re.compile(
    r"(?:[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*-)?(" + "|".join(re.escape(p) for p in PROGRAMS) + r")(?:-[0-9][0-9.]*)?"
)
# Where the host keeps the programs whose copies the audit looks for.
HOST_PROGRAM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

SECRET_NAME_RE = re.compile(
    r"secret_key.*|.*\.(?:pem|key|p12|pfx|keytab)|id_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?|\.env(?:\..*)?"
    r"|\.netrc|\.pgpass|shadow|gshadow",
    re.IGNORECASE,
)
PRIVATE_KEY_MARK = b"PRIVATE KEY-----"
DATABASE_NAME_RE = re.compile(r".*\.(?:sqlite|sqlite3|db|db3)", re.IGNORECASE)
SQLITE_HEADER = b"SQLite format 3\x00"
# A job map: a [jobs.<name>] or [jobs] table, in any TOML file.
JOB_MAP_RE = re.compile(rb"^\s*\[\s*jobs\s*[.\]]", re.MULTILINE)
SYSSIDE_NAME_RE = re.compile(r"sysside(?:\..*)?")


def program_named(name: str) -> str | None:
    """What kind of forbidden program `name` names, or None."""
    match = _PROGRAM_RE.fullmatch(name)
    return PROGRAMS[match.group(1)] if match else None


@dataclass
class KnownFiles:
    """Files to recognise by content: sha256 -> what a copy of it is, and the sizes to bother hashing."""

    by_digest: dict[str, str] = field(default_factory=dict)
    sizes: set[int] = field(default_factory=set)

    def add(self, path: Path, what: str) -> None:
        try:
            data = path.read_bytes()
        except OSError:
            return
        if data:
            self.by_digest.setdefault(hashlib.sha256(data).hexdigest(), what)
            self.sizes.add(len(data))

    def recognise(self, data: bytes) -> str | None:
        if len(data) not in self.sizes:
            return None
        return self.by_digest.get(hashlib.sha256(data).hexdigest())


def known_files(extra_programs: Iterable[Path] = ()) -> KnownFiles:
    """The host's forbidden programs and every file of the sysside package, to recognise copies of."""
    known = KnownFiles()
    for name, what in PROGRAMS.items():
        for folder in HOST_PROGRAM_DIRS:
            found = shutil.which(name, path=folder)
            if found:
                real = Path(os.path.realpath(found))
                known.add(real, f"a copy of the host's {found} ({what})")
    for path in extra_programs:
        known.add(path, f"a copy of {path}")
    package = Path(sysside.__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.is_file():
            known.add(path, f"a copy of sys-side file {path.relative_to(package.parent)}")
    return known
