"""The jail's seccomp filter, built with libseccomp through a small binding.

libseccomp (Debian's libseccomp2, a dependency of apt) turns rules into
BPF; this module only calls its C API with ctypes. PyPI's `pyseccomp` wraps
the same library, but it was last released in 2021 as 0.1.2 and we use
a handful of its functions, so a typed binding of those is the smaller
thing to trust. The library is loaded before the chroot (the jail has no
copy of it) and the filter is loaded last, just before exec.

Rules:
1. An allow list (sysside/syscall_allowlist.py, traced from the running
   web side): a call it does not name fails with ENOSYS, the answer of a
   kernel that lacks the call. glibc and CPython then take their older
   path (clone3, faccessat2, statx, close_range, getrandom...), and code
   that meets a call nobody traced gets an ordinary OSError instead of a
   dead worker.
2. On top, the deny list (DENIED) answers EPERM by name: what a web worker
   must never do stays written down and refused even if the allow list
   grows by mistake (the builder refuses a list that names one), and an
   attack stopped by name reads differently from one stopped by omission.
3. A call made through another architecture's ABI, x32 included, kills the
   process: a filter written for x86_64 numbers says nothing about them.
4. Arguments: clone passes only without namespace flags (EPERM with one);
   clone3 answers ENOSYS, since its flags live in memory the filter cannot
   read and glibc falls back to clone; mknod and mknodat make FIFOs only
   (EPERM for a device); ioctl takes only the requests the web side uses,
   and TIOCSTI and TIOCLINUX answer EPERM whatever the upper 32 bits of the
   request say (the kernel ignores them, so an exact match could be dodged).
"""

import ctypes
import ctypes.util
import errno
import tempfile
from dataclasses import dataclass

from sysside import DaemonError
from sysside.syscall_allowlist import ALLOWED, ARGUMENT_CHECKED, IOCTL_REQUESTS, VARIANTS, allowed_names

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_BASE = 0x00050000
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_CMP_EQ = 4
SCMP_CMP_MASKED_EQ = 7

# What a call outside the allow list answers (rule 1).
OUTSIDE_ERRNO = errno.ENOSYS

S_IFMT, S_IFIFO, S_IFCHR, S_IFBLK = 0o170000, 0o010000, 0o020000, 0o060000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
# The kernel reads an ioctl request as 32 bits (rule 4).
IOCTL_REQUEST_MASK = 0xFFFFFFFF
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
NAMESPACE_BITS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x80)
NAMESPACE_MASK = sum(NAMESPACE_BITS)

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
    """libseccomp is missing or refused a rule, or the allow list names a denied call."""


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
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
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
    """A filter being built; load() installs it on the calling thread's process.

    `default` is what a call no rule matches gets: SCMP_ACT_ALLOW for a
    deny list, an errno action for an allow list.
    """

    def __init__(self, default: int) -> None:
        self._lib = _library()
        self._ctx = self._lib.seccomp_init(default)
        if not self._ctx:
            raise SeccompError("seccomp_init failed")
        self._call(
            "seccomp_attr_set", self._lib.seccomp_attr_set(self._ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)
        )
        self.default = default
        self.rules: list[str] = []
        self.allowed: set[str] = set()

    def _call(self, what: str, result: int) -> None:
        if result < 0:
            raise SeccompError(f"{what}: {errno.errorcode.get(-result, -result)}")

    def _add(self, action: int, name: str, conditions: tuple[_Cmp, ...]) -> bool:
        if action == self.default:
            # libseccomp refuses a rule that says what the default says.
            return False
        number = self._lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            # Not a call on this architecture (or too new for libseccomp):
            # nothing to allow or deny; the default answers it.
            return False
        array = (_ArgCmp * max(1, len(conditions)))(*[_ArgCmp(c.arg, c.op, c.a, c.b) for c in conditions])
        self._call(
            f"seccomp_rule_add({name})",
            self._lib.seccomp_rule_add_array(self._ctx, action, number, len(conditions), array),
        )
        self.rules.append(name if not conditions else f"{name}({', '.join(f'arg{c.arg}' for c in conditions)})")
        return True

    def allow(self, name: str, *conditions: _Cmp) -> None:
        if self._add(SCMP_ACT_ALLOW, name, conditions):
            self.allowed.add(name)

    def deny(self, name: str, err: int = errno.EPERM, *conditions: _Cmp) -> None:
        self._add(SCMP_ACT_ERRNO_BASE | err, name, conditions)

    def describe(self) -> str:
        """The filter in words, for the launcher's log and `hole jail check`."""
        if self.default == SCMP_ACT_ALLOW:
            return f"deny list of {len(self.rules)} rules, other ABIs killed"
        answer = errno.errorcode.get(self.default & 0xFFFF, str(self.default & 0xFFFF))
        return f"allow list of {len(self.allowed)} calls (others {answer}), {len(self.rules)} rules, other ABIs killed"

    def export_bpf(self) -> bytes:
        """The BPF program libseccomp would load (8 bytes an instruction)."""
        with tempfile.TemporaryFile() as out:
            self._call("seccomp_export_bpf", self._lib.seccomp_export_bpf(self._ctx, out.fileno()))
            out.seek(0)
            return out.read()

    def load(self) -> None:
        self._call("seccomp_load", self._lib.seccomp_load(self._ctx))

    def release(self) -> None:
        if self._ctx:
            self._lib.seccomp_release(self._ctx)
            self._ctx = None


# The calls whose conditions jail_filter() writes (syscall_allowlist.ARGUMENT_CHECKED).
CONDITIONED = frozenset({"ioctl", "mknod", "mknodat", "clone"})


def denied_names() -> list[str]:
    """DENIED's names, sorted: the same list builds the same program every time."""
    return sorted({name for names in DENIED.values() for name in names})


def jail_filter() -> Filter:
    """The filter the launcher loads last before exec: the allow list, the deny list on top."""
    overlap = sorted(allowed_names() & set(denied_names()))
    if overlap:
        raise SeccompError(f"the allow list names denied calls: {', '.join(overlap)}; take them out of it")
    if set(ARGUMENT_CHECKED) != CONDITIONED:
        raise SeccompError(
            f"argument-checked calls {sorted(ARGUMENT_CHECKED)} differ from those the filter has conditions for"
            f" ({sorted(CONDITIONED)}); write the conditions in sysside/seccomp.py"
        )
    built = Filter(SCMP_ACT_ERRNO_BASE | OUTSIDE_ERRNO)
    for names in (*ALLOWED.values(), *VARIANTS.values()):
        for name in names:
            if name not in ARGUMENT_CHECKED:
                built.allow(name)
    for name in denied_names():
        built.deny(name)
    for request in IOCTL_REQUESTS.values():
        built.allow("ioctl", _Cmp(1, SCMP_CMP_EQ, request))
    for kind_arg, name in ((1, "mknod"), (2, "mknodat")):
        built.allow(name, _Cmp(kind_arg, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO))
    built.allow("clone", _Cmp(0, SCMP_CMP_MASKED_EQ, NAMESPACE_MASK, 0))
    refuse_specials(built)
    return built


def refuse_specials(built: Filter) -> None:
    """The argument-checked refusals, EPERM (ENOSYS for clone3): devices, TIOCSTI, namespace flags."""
    for kind in (S_IFCHR, S_IFBLK):
        built.deny("mknod", errno.EPERM, _Cmp(1, SCMP_CMP_MASKED_EQ, S_IFMT, kind))
        built.deny("mknodat", errno.EPERM, _Cmp(2, SCMP_CMP_MASKED_EQ, S_IFMT, kind))
    for request in (TIOCSTI, TIOCLINUX):
        built.deny("ioctl", errno.EPERM, _Cmp(1, SCMP_CMP_MASKED_EQ, IOCTL_REQUEST_MASK, request))
    for flag in NAMESPACE_BITS:
        built.deny("clone", errno.EPERM, _Cmp(0, SCMP_CMP_MASKED_EQ, flag, flag))
    built.deny("clone3", errno.ENOSYS)


def deny_list_filter() -> Filter:
    """The deny list alone (default allow), as the jail had before the allow list: for comparisons."""
    built = Filter(SCMP_ACT_ALLOW)
    for name in denied_names():
        built.deny(name)
    refuse_specials(built)
    return built
