"""The jail's seccomp filter, built with libseccomp through a small binding.

libseccomp (Debian's libseccomp2, a dependency of apt) turns rules into
BPF; this module only calls its C API with ctypes. PyPI's `pyseccomp` wraps
the same library, but it was last released in 2021 as 0.1.2 and we use
seven functions of it, so a typed binding of those seven is the smaller
thing to trust. The library is loaded before the chroot (the jail has no
copy of it) and the filter is loaded last, just before exec.

Rules:
1. Default allow, then deny what a web worker never needs (a deny list,
   see DENIED): each denied call fails with EPERM, so the web side sees an
   ordinary error rather than dying.
2. A call made through another architecture's ABI, x32 included, kills the
   process: a filter written for x86_64 numbers says nothing about them.
3. clone3 answers ENOSYS: its flags live in memory the filter cannot read,
   and glibc then falls back to clone, whose flags it can (no
   CLONE_NEWUSER or other namespace flags pass).
"""

import ctypes
import ctypes.util
import errno
from collections.abc import Iterable
from dataclasses import dataclass

from sysside import DaemonError

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_BASE = 0x00050000
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_CMP_EQ = 4
SCMP_CMP_MASKED_EQ = 7

S_IFMT, S_IFCHR, S_IFBLK = 0o170000, 0o020000, 0o060000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
NAMESPACE_BITS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x80)

# What a web worker never needs. Grouped by what each group would let an
# attacker do; see docs/jail.md for what each layer stops.
DENIED: dict[str, tuple[str, ...]] = {
    "other processes": ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"),
    "mounts and roots": (
        "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
        "fsmount", "fspick", "mount_setattr",
    ),
    "namespaces": ("unshare", "setns"),
    "kernel keyrings": ("keyctl", "add_key", "request_key"),
    "kernel attack surface": (
        "bpf", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
    ),
    "kernel and modules": (
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
        "swapon", "swapoff", "acct", "syslog", "quotactl",
    ),
    "execution domains": ("personality",),
    "file handles": ("open_by_handle_at", "name_to_handle_at"),
    "in-memory executables": ("memfd_create",),
}  # fmt: skip


class SeccompError(DaemonError):
    """libseccomp is missing or refused a rule."""


@dataclass(frozen=True)
class _Cmp:
    arg: int
    op: int
    a: int
    b: int = 0


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _library() -> ctypes.CDLL:
    path = ctypes.util.find_library("seccomp")
    if path is None:
        raise SeccompError("libseccomp is not installed (Debian: apt-get install libseccomp2)")
    lib = ctypes.CDLL(path, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    return lib


class Filter:
    """A filter being built; load() installs it on the calling thread's process."""

    def __init__(self) -> None:
        self._lib = _library()
        self._ctx = self._lib.seccomp_init(SCMP_ACT_ALLOW)
        if not self._ctx:
            raise SeccompError("seccomp_init failed")
        self._call(
            "seccomp_attr_set", self._lib.seccomp_attr_set(self._ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)
        )
        self.rules: list[str] = []

    def _call(self, what: str, result: int) -> None:
        if result < 0:
            raise SeccompError(f"{what}: {errno.errorcode.get(-result, -result)}")

    def deny(self, name: str, err: int = errno.EPERM, *conditions: _Cmp) -> None:
        number = self._lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            # Not a call on this architecture (or too new for libseccomp):
            # nothing to deny.
            return
        array = (_ArgCmp * max(1, len(conditions)))(*[_ArgCmp(c.arg, c.op, c.a, c.b) for c in conditions])
        self._call(
            f"seccomp_rule_add({name})",
            self._lib.seccomp_rule_add_array(self._ctx, SCMP_ACT_ERRNO_BASE | err, number, len(conditions), array),
        )
        self.rules.append(name if not conditions else f"{name}({', '.join(f'arg{c.arg}' for c in conditions)})")

    def load(self) -> None:
        self._call("seccomp_load", self._lib.seccomp_load(self._ctx))

    def release(self) -> None:
        if self._ctx:
            self._lib.seccomp_release(self._ctx)
            self._ctx = None


def jail_filter(extra: Iterable[str] = ()) -> Filter:
    """The filter the launcher loads last before exec."""
    built = Filter()
    for names in DENIED.values():
        for name in names:
            built.deny(name)
    for name in extra:
        built.deny(name)
    # mknod stays for FIFOs (the hole's result FIFOs are made with it);
    # device nodes are refused, whatever the capabilities say.
    for kind in (S_IFCHR, S_IFBLK):
        built.deny("mknod", errno.EPERM, _Cmp(1, SCMP_CMP_MASKED_EQ, S_IFMT, kind))
        built.deny("mknodat", errno.EPERM, _Cmp(2, SCMP_CMP_MASKED_EQ, S_IFMT, kind))
    for request in (TIOCSTI, TIOCLINUX):
        built.deny("ioctl", errno.EPERM, _Cmp(1, SCMP_CMP_EQ, request))
    for flag in NAMESPACE_BITS:
        built.deny("clone", errno.EPERM, _Cmp(0, SCMP_CMP_MASKED_EQ, flag, flag))
    built.deny("clone3", errno.ENOSYS)
    return built
