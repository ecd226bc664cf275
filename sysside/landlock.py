"""A small ctypes binding of Landlock's three system calls, and the jail's ruleset.

PyPI's `landlock` package is alpha and has neither network rules nor
scopes, so the jail uses this: create_ruleset, add_rule (path-beneath and
net-port) and restrict_self, with the rights masked to what the running
kernel's ABI knows. On a kernel without Landlock, or with an older ABI,
`apply` returns what it could not enforce so the launcher can log it: it
never degrades silently.

The ruleset for the web side:
- read everywhere in the jail, write only in the spool and tmp;
- execute only the interpreter and the dynamic loader;
- no TCP bind or connect (ABI 4), even on loopback;
- no abstract unix sockets and no signals outside the jail's own
  processes (ABI 6 scopes).
"""

import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = READ_FILE | READ_DIR
WRITE = WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_FIFO | TRUNCATE


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """The kernel's Landlock ABI, or 0 when Landlock is absent or disabled."""
    version = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, int(version))


@dataclass
class Ruleset:
    """Paths and their rights; apply() enforces them on the calling process."""

    read_only: list[str] = field(default_factory=list)
    read_write: list[str] = field(default_factory=list)
    executable: list[str] = field(default_factory=list)
    deny_tcp: bool = True
    scopes: bool = True

    def apply(self) -> tuple[int, list[str]]:
        """Restrict this process; return the ABI used and what was not enforced."""
        abi = abi_version()
        if abi == 0:
            return 0, ["Landlock: not available in this kernel (no filesystem, network or scope rules)"]
        missing: list[str] = []
        fs_mask = _FS_BY_ABI.get(abi, (1 << 16) - 1)
        attr = _RulesetAttr(handled_access_fs=fs_mask)
        attr_size = 8
        if self.deny_tcp:
            if abi >= 4:
                attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
                attr_size = 16
            else:
                missing.append(f"Landlock ABI {abi}: no TCP bind/connect rules (needs ABI 4)")
        if self.scopes:
            if abi >= 6:
                attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
                attr_size = 24
            else:
                missing.append(f"Landlock ABI {abi}: no abstract-socket or signal scopes (needs ABI 6)")
        ruleset_fd = _libc.syscall(
            _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(attr_size), ctypes.c_uint32(0)
        )
        if ruleset_fd < 0:
            raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
        try:
            self._add(ruleset_fd, self.read_only, READ, fs_mask)
            self._add(ruleset_fd, self.read_write, READ | WRITE, fs_mask)
            self._add(ruleset_fd, self.executable, READ_FILE | EXECUTE, fs_mask)
            if _libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) < 0:
                raise OSError(ctypes.get_errno(), f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(ruleset_fd)
        return abi, missing

    @staticmethod
    def _add(ruleset_fd: int, paths: Iterable[str], rights: int, fs_mask: int) -> None:
        for path in paths:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                allowed = rights & fs_mask
                if not os.path.isdir(path):
                    allowed &= FILE_RIGHTS
                rule = _PathBeneath(allowed_access=allowed, parent_fd=fd)
                if (
                    _libc.syscall(
                        _SYS_ADD_RULE,
                        ctypes.c_int(ruleset_fd),
                        ctypes.c_int(_RULE_PATH_BENEATH),
                        ctypes.byref(rule),
                        ctypes.c_uint32(0),
                    )
                    < 0
                ):
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
