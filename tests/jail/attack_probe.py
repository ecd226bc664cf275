"""One escape attempt, run inside the jail by the jail's own Python; prints one JSON line.

Usage: python3 -I -c "$(cat attack_probe.py)" ATTACK [PARAMS_JSON]

Rules:
1. Stdlib only, and only what the jail has: the jail's interpreter runs it
   from `-c`, as the web side would run an attacker's code.
2. The result is {"attack", "succeeded", "detail"}; "succeeded" means the
   attack did what an attacker wanted. The same probe runs where the
   protection is off (the positive control), so a probe that cannot succeed
   shows up as a failed control, not as a passing jail.
3. A successful attack undoes what it changed (a mount, a device node, a
   file) before it reports, so a control leaves the host as it found it.
4. An attack that needs the host to act while it runs (rename-climb) says
   so on a line of its own that starts with "ready", before its JSON line.
"""

import ctypes
import errno
import json
import os
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

PTRACE_ATTACH, PTRACE_DETACH = 16, 17
PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ = 39, 23
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
TIOCSTI = 0x5412
MNT_DETACH = 2
SYS_BPF, SYS_IO_URING_SETUP, SYS_PERF_EVENT_OPEN = 321, 425, 298
SYS_ADD_KEY, SYS_CAPGET, SYS_GETPID = 248, 125, 39
X32_BIT = 0x40000000
KEY_SPEC_PROCESS_KEYRING = -2
SCRATCH = "/tmp"  # the jail's own private tmpfs
MOVE_WAIT = 30.0
CLIMB_LIMIT = 64

Result = tuple[bool, object]


def _errno_name() -> str:
    code = ctypes.get_errno()
    return errno.errorcode.get(code, str(code))


def _os_error(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def _sees_host(host_path: str) -> bool:
    return os.path.exists(host_path)


def double_chroot(params: dict[str, str], saved_fd: bool) -> Result:
    inner = f"{SCRATCH}/escape-{os.getpid()}"
    os.mkdir(inner)
    try:
        held = os.open("/", os.O_RDONLY | os.O_DIRECTORY) if saved_fd else -1
        if _libc.chroot(inner.encode()) != 0:
            return False, f"chroot: {_errno_name()}"
        if saved_fd:
            os.fchdir(held)
        # The working folder is now outside the new root, so `..` climbs
        # past where the old root stopped it.
        for _ in range(64):
            os.chdir("..")
        if _libc.chroot(b".") != 0:
            return False, f"second chroot: {_errno_name()}"
        escaped = _sees_host(params["host_path"])
        return escaped, f"host path visible: {escaped}"
    finally:
        # Only reachable by its jail path while the root is unchanged.
        if not _sees_host(params["host_path"]):
            os.rmdir(inner)
        else:
            os.rmdir(os.path.join(params["jail"], inner.lstrip("/")))


def mount_fs(fstype: str) -> Result:
    target = f"{SCRATCH}/mnt-{os.getpid()}"
    os.mkdir(target)
    try:
        if _libc.mount(fstype.encode(), target.encode(), fstype.encode(), 0, None) != 0:
            return False, f"mount {fstype}: {_errno_name()}"
        _libc.umount2(target.encode(), MNT_DETACH)
        return True, f"mounted {fstype} on {target}"
    finally:
        os.rmdir(target)


def mknod_char() -> Result:
    path = f"{SCRATCH}/null-{os.getpid()}"
    try:
        os.mknod(path, 0o600 | 0o020000, os.makedev(1, 3))
    except OSError as exc:
        return False, f"mknod: {_os_error(exc)}"
    os.unlink(path)
    return True, "made a char device 1:3"


def ptrace_attach(pid: int) -> Result:
    if _libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        return False, f"PTRACE_ATTACH {pid}: {_errno_name()}"
    os.waitpid(pid, 0)
    _libc.ptrace(PTRACE_DETACH, pid, None, None)
    return True, f"attached to {pid}"


def kill_zero(pid: int) -> Result:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return False, f"kill({pid}, 0): {_os_error(exc)}"
    return True, f"signal 0 reached {pid}"


def proc_root(pid: int, host_path: str) -> Result:
    through = f"/proc/{pid}/root{host_path}"
    try:
        os.stat(through)
    except OSError as exc:
        return False, f"{through}: {_os_error(exc)}"
    return True, f"{through} reachable"


def tcp_connect(port: int) -> Result:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True, f"connected to 127.0.0.1:{port}"
    except OSError as exc:
        return False, f"connect 127.0.0.1:{port}: {_os_error(exc)}"


def tcp_bind() -> Result:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
        except OSError as exc:
            return False, f"bind: {_os_error(exc)}"
        return True, f"listening on {listener.getsockname()}"


def abstract_fd_escape(name: str, host_file: str) -> Result:
    """Take a host folder's fd from a host helper's abstract socket, then read a host file through it."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect("\0" + name)
            _, fds, _, _ = socket.recv_fds(client, 16, 1)
    except OSError as exc:
        return False, f"@{name}: {_os_error(exc)}"
    if not fds:
        return False, f"connected to @{name}, but no fd came"
    try:
        fd = os.open(os.path.basename(host_file), os.O_RDONLY, dir_fd=fds[0])
    except OSError as exc:
        return False, f"received fd {fds[0]}; openat: {_os_error(exc)}"
    with os.fdopen(fd, "rb") as handle:
        handle.read()
    return True, f"received a host folder's fd over @{name}, read {os.path.basename(host_file)} through it"


def tiocsti() -> Result:
    tried: list[str] = []
    fds = [0, 1, 2]
    try:
        fds.append(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError as exc:
        tried.append(f"/dev/tty: {_os_error(exc)}")
    char = ctypes.c_char(b"#")
    for fd in fds:
        if _libc.ioctl(fd, TIOCSTI, ctypes.byref(char)) == 0:
            return True, f"pushed a byte into fd {fd}'s input"
        tried.append(f"fd {fd}: {_errno_name()}")
    return False, "; ".join(tried)


def controlling_tty() -> Result:
    path = os.ctermid()
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as exc:
        return False, f"{path}: {_os_error(exc)}"
    return True, f"{path} opened"


def add_key() -> Result:
    payload = b"x"
    serial = _libc.syscall(SYS_ADD_KEY, b"user", b"hole-test", payload, len(payload), KEY_SPEC_PROCESS_KEYRING)
    if serial < 0:
        return False, f"add_key: {_errno_name()}"
    return True, f"key {serial}"


def unshare(flag: int) -> Result:
    if _libc.unshare(flag) != 0:
        return False, f"unshare({flag:#x}): {_errno_name()}"
    return True, f"unshare({flag:#x}) done"


def _run(target: str | int, argv: list[str]) -> tuple[int, str]:
    """fork + exec (by path, or by fd through fexecve); the child's exit status, or exec's errno."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            # A copied interpreter cannot find its library from where it lies.
            os.execve(target, argv, {"PYTHONHOME": "/usr"})
        except OSError as exc:
            os.write(write_end, _os_error(exc).encode())
        finally:
            os._exit(126)
    os.close(write_end)
    why = os.read(read_end, 100).decode()
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), why


PROOF = ["python3", "-S", "-c", "raise SystemExit(42)"]


def exec_written(folder: str) -> Result:
    path = f"{folder}/x-{os.getpid()}"
    try:
        with open("/usr/bin/python3", "rb") as source, open(path, "wb") as copy:
            copy.write(source.read())
        os.chmod(path, 0o700)
    except OSError as exc:
        return False, f"write {path}: {_os_error(exc)}"
    try:
        status, why = _run(path, PROOF)
    finally:
        os.unlink(path)
    return status == 42, f"exec {path}: {why or f'status {status}'}"


def dlopen_written(library: str) -> Result:
    path = f"{SCRATCH}/lib-{os.getpid()}.so"
    with open(library, "rb") as source, open(path, "wb") as copy:
        copy.write(source.read())
    try:
        ctypes.CDLL(path)
    except OSError as exc:
        return False, f"dlopen {path}: {exc}"
    finally:
        os.unlink(path)
    return True, f"loaded {path}"


def memfd_exec() -> Result:
    try:
        fd = os.memfd_create("x", 0)
    except OSError as exc:
        return False, f"memfd_create: {_os_error(exc)}"
    with open("/usr/bin/python3", "rb") as source:
        os.write(fd, source.read())
    status, why = _run(fd, PROOF)
    return status == 42, f"fexecve memfd: {why or f'status {status}'}"


def _fd_call(name: str, number: int, *args: object) -> Result:
    fd = _libc.syscall(number, *args)
    if fd < 0:
        return False, f"{name}: {_errno_name()}"
    os.close(fd)
    return True, f"{name} gave fd {fd}"


def bpf_map() -> Result:
    # BPF_MAP_CREATE of a one-entry array: the least the call can do.
    attr = ctypes.create_string_buffer(struct.pack("IIII", 2, 4, 4, 1), 72)
    return _fd_call("bpf", SYS_BPF, 0, attr, 72)


def io_uring() -> Result:
    params = ctypes.create_string_buffer(120)
    return _fd_call("io_uring_setup", SYS_IO_URING_SETUP, 4, params)


def perf_event() -> Result:
    # PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, on this process, any cpu.
    attr = ctypes.create_string_buffer(struct.pack("IIQ", 1, 128, 0), 128)
    return _fd_call("perf_event_open", SYS_PERF_EVENT_OPEN, attr, 0, -1, -1, 0)


def write_outside() -> Result:
    done: list[str] = []
    created = f"/srv/hole/webside/x-{os.getpid()}"
    try:
        os.close(os.open(created, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(created)
        done.append(f"created {created}")
    except OSError as exc:
        done.append(f"{created}: {_os_error(exc)}")
    try:
        # Opened for writing, never written: the control must not damage it.
        os.close(os.open("/etc/passwd", os.O_WRONLY | os.O_APPEND))
        done.append("opened /etc/passwd for writing")
    except OSError as exc:
        done.append(f"/etc/passwd: {_os_error(exc)}")
    return any(line.startswith(("created", "opened")) for line in done), "; ".join(done)


def read_host(path: str) -> Result:
    try:
        with open(path, "rb") as host_file:
            host_file.read(64)
    except OSError as exc:
        return False, f"{path}: {_os_error(exc)}"
    return True, f"read {path}"


def list_root(host_only: list[str]) -> Result:
    seen = sorted(os.listdir("/"))
    extra = sorted(set(seen) & set(host_only))
    if extra:
        return True, f"/ shows the host's {extra}"
    return False, f"/ holds only {seen}"


def rename_climb(start: str, host_only: list[str]) -> Result:
    os.chdir(start)
    print(f"ready in {start}", flush=True)
    # The launcher gives the jail /dev/null as stdin, so the host cannot
    # say when it has moved the folder; the path that led here vanishing can.
    deadline = time.monotonic() + MOVE_WAIT
    while os.path.exists(start):
        if time.monotonic() > deadline:
            return False, f"{start} was never moved"
        time.sleep(0.01)
    climbed, stop = 0, f"still climbing after {CLIMB_LIMIT}"
    for _ in range(CLIMB_LIMIT):
        here = os.stat(".")
        try:
            os.chdir("..")
        except OSError as exc:
            stop = f"`..` {_os_error(exc)}"
            break
        there = os.stat(".")
        if (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino):
            stop = "`..` stays put"
            break
        climbed += 1
    seen = sorted(os.listdir("."))
    extra = sorted(set(seen) & set(host_only))
    if extra:
        return True, f"up {climbed}, {stop}; . shows the host's {extra}"
    return False, f"up {climbed}, {stop}; . holds {seen}"


def capabilities() -> Result:
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    if _libc.syscall(SYS_CAPGET, header, data) != 0:
        return False, f"capget: {_errno_name()}"
    effective = data[0] | data[3] << 32
    bounding = sum(1 for cap in range(64) if _libc.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
    return effective != 0, f"CapEff {effective:#x}, {bounding} in the bounding set"


def new_privileges() -> Result:
    flag = _libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
    if flag < 0:
        return False, f"prctl(PR_GET_NO_NEW_PRIVS): {_errno_name()}"
    return flag == 0, f"no_new_privs = {flag}"


def open_fds(allowed: list[int]) -> Result:
    found = []
    for fd in range(1024):
        try:
            os.fstat(fd)
        except OSError:
            continue
        found.append(fd)
    stray = [fd for fd in found if fd not in allowed]
    return bool(stray), f"open fds {found}"


def x32_call() -> Result:
    # Without a filter the call returns (ENOSYS if the kernel lacks x32);
    # with the jail's filter the process dies of SIGSYS before it can print.
    value = _libc.syscall(X32_BIT | SYS_GETPID)
    return True, f"x32 getpid returned {value} ({_errno_name() if value < 0 else 'ok'})"


def attacks(params: dict[str, Any]) -> dict[str, Callable[[], Result]]:
    """Every attack by name, bound to the test's parameters (a pid, a port, a host path)."""
    str_params = {k: str(v) for k, v in params.items()}
    return {
        "double-chroot": lambda: double_chroot(str_params, saved_fd=False),
        "double-chroot-fd": lambda: double_chroot(str_params, saved_fd=True),
        "mount-proc": lambda: mount_fs("proc"),
        "mount-tmpfs": lambda: mount_fs("tmpfs"),
        "mknod-char": mknod_char,
        "ptrace-attach": lambda: ptrace_attach(int(params["pid"])),
        "kill-host": lambda: kill_zero(int(params["pid"])),
        "proc-root": lambda: proc_root(int(params["pid"]), str(params["host_path"])),
        "tcp-connect": lambda: tcp_connect(int(params["port"])),
        "tcp-bind": tcp_bind,
        "abstract-unix": lambda: abstract_fd_escape(str(params["name"]), str(params["host_path"])),
        "tiocsti": tiocsti,
        "controlling-tty": controlling_tty,
        "keyctl-add-key": add_key,
        "unshare-user": lambda: unshare(CLONE_NEWUSER),
        "unshare-mount": lambda: unshare(CLONE_NEWNS),
        "unshare-net": lambda: unshare(CLONE_NEWNET),
        "exec-tmp": lambda: exec_written(SCRATCH),
        "exec-spool": lambda: exec_written("/var/spool/hole"),
        "dlopen-tmp": lambda: dlopen_written(str(params["library"])),
        "memfd-exec": memfd_exec,
        "bpf": bpf_map,
        "io-uring": io_uring,
        "perf-event": perf_event,
        "write-outside": write_outside,
        "read-host-file": lambda: read_host(str(params["host_path"])),
        "list-root": lambda: list_root([str(v) for v in params["host_only"]]),
        "rename-climb": lambda: rename_climb(str(params["climb"]), [str(v) for v in params["host_only"]]),
        "capabilities": capabilities,
        "new-privileges": new_privileges,
        "open-fds": lambda: open_fds([int(v) for v in params["allowed_fds"]]),
        "x32-abi": x32_call,
    }


def main() -> None:
    name = sys.argv[1]
    params = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    try:
        succeeded, detail = attacks(params)[name]()
    except OSError as exc:
        succeeded, detail = False, f"{type(exc).__name__}: {exc}"
    print(json.dumps({"attack": name, "succeeded": succeeded, "detail": detail}), flush=True)


if __name__ == "__main__":
    main()
