"""The jail's seccomp filter, loaded for real in a child Python, and asked for calls.

The child loads `jail_filter()` (seccomp needs no root once no_new_privs is
set, which libseccomp does), makes each call with harmless arguments, and
prints what each answered. The kernel never sees a refused call, so the
answers say what the filter decided: EPERM by name, ENOSYS by omission.
"""

import json
import subprocess
import sys
from typing import Any

import pytest

from sysside.seccomp import DENIED, SeccompError, denied_names, deny_list_filter, jail_filter
from sysside.syscall_allowlist import ALLOWED, ARGUMENT_CHECKED, IOCTL_REQUESTS, REFUSED_QUIETLY, allowed_names

CHILD = r"""
import ctypes, errno, json, os, sys
from sysside.seccomp import denied_names, jail_filter

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
resolve = ctypes.CDLL("libseccomp.so.2").seccomp_syscall_resolve_name
resolve.argtypes = [ctypes.c_char_p]


def call(number, *args):
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    if result == 0 and number == 56:  # a clone that went through: the child leaves at once
        os._exit(0)
    return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]


tmp = sys.argv[1]
read_end, write_end = os.pipe()
char = ctypes.c_char(b"x")
# Kept in names: a buffer nobody holds may be freed before the call reads it.
paths = {kind: ctypes.create_string_buffer(f"{tmp}/{kind}".encode()) for kind in ("fifo", "null", "file")}
jail_filter().load()
answers = {
    "getppid": call(110),
    "socket AF_INET": call(41, 2, 1, 0),
    "socket AF_UNIX": call(41, 1, 1, 0),
    "prctl": call(157, 39, 0, 0, 0, 0),
    "clone3": call(435, 0, 0),
    "clone CLONE_NEWUSER": call(56, 0x10000000 | 17, 0, 0, 0, 0),
    "clone CLONE_NEWNET": call(56, 0x40000000 | 17, 0, 0, 0, 0),
    "ioctl TCGETS": call(16, read_end, 0x5401, 0),
    "ioctl FIONREAD": call(16, read_end, 0x541B, 0),
    "ioctl TIOCSTI": call(16, read_end, 0x5412, ctypes.addressof(char)),
    "ioctl TIOCSTI, upper bits set": call(16, read_end, 0x1_0000_5412, ctypes.addressof(char)),
    "mknodat FIFO": call(259, -100, ctypes.addressof(paths["fifo"]), 0o010600, 0),
    "mknodat char device": call(259, -100, ctypes.addressof(paths["null"]), 0o020600, 0x103),
    "mknodat regular file": call(259, -100, ctypes.addressof(paths["file"]), 0o100600, 0),
}
denied = {}
for name in sorted(denied_names()):
    number = resolve(name.encode())
    if number < 0:
        continue
    # All arguments zero (ptrace: PEEKDATA of pid 0): harmless even if it reached the kernel.
    denied[name] = call(number, 2 if name == "ptrace" else 0, 0, 0, 0, 0, 0)
print(json.dumps({"answers": answers, "denied": denied}))
"""


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("seccomp")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert (tmp / "fifo").exists() and not (tmp / "null").exists() and not (tmp / "file").exists()
    return result


def test_allowed_calls_reach_the_kernel(answers: dict[str, Any]) -> None:
    got = answers["answers"]
    assert got["getppid"] == "ok"
    assert got["mknodat FIFO"] == "ok"
    # The kernel's own answer: a pipe is not a terminal.
    assert got["ioctl TCGETS"] == "ENOTTY"


def test_calls_off_the_list_answer_enosys(answers: dict[str, Any]) -> None:
    got = answers["answers"]
    for what in ("socket AF_INET", "socket AF_UNIX", "prctl", "clone3", "ioctl FIONREAD", "mknodat regular file"):
        assert got[what] == "ENOSYS", (what, got[what])


def test_dangerous_arguments_answer_eperm(answers: dict[str, Any]) -> None:
    got = answers["answers"]
    for what in (
        "clone CLONE_NEWUSER",
        "clone CLONE_NEWNET",
        "ioctl TIOCSTI",
        "ioctl TIOCSTI, upper bits set",
        "mknodat char device",
    ):
        assert got[what] == "EPERM", (what, got[what])


def test_every_denied_call_answers_eperm(answers: dict[str, Any]) -> None:
    denied = answers["denied"]
    assert len(denied) >= 40, denied
    assert {name: answer for name, answer in denied.items() if answer != "EPERM"} == {}


def test_the_lists_do_not_overlap() -> None:
    assert allowed_names() & set(denied_names()) == set()
    assert set(REFUSED_QUIETLY) & allowed_names() == set()
    assert set(ARGUMENT_CHECKED) <= allowed_names()
    assert "ioctl" in allowed_names() and IOCTL_REQUESTS


def test_a_list_that_allows_a_denied_call_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ALLOWED, "debugging", ("ptrace",))
    with pytest.raises(SeccompError, match="ptrace"):
        jail_filter()


def test_describe_says_allow_list_and_its_answer() -> None:
    built = jail_filter()
    try:
        text = built.describe()
        assert text.startswith(f"allow list of {len(built.allowed)} calls (others ENOSYS)"), text
        assert len(built.allowed) == len(allowed_names() & built.allowed) >= 60
        # An exported program is whole BPF instructions.
        assert len(built.export_bpf()) % 8 == 0
    finally:
        built.release()
    old = deny_list_filter()
    try:
        assert old.describe().startswith("deny list of")
        assert sum(len(names) for names in DENIED.values()) <= len(old.rules)
    finally:
        old.release()
