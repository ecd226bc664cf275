"""Reading strace -f logs: only the jail's calls are kept, each with its result.

The log below has the shapes a real `hole up` log has: the launcher's own
child before its exec, the filter loaded, padded results, calls cut by
another process's line and resumed, a worker's first line before its
parent's clone result, a thread, and the daemon's calls beside the jail's.
"""

import pytest

from tests.jail.strace_log import Role, TraceError, parse

LOG = """\
100 execve("/venv/bin/python", ["python", "-m", "sysside", "up"], 0x7ffc /* 35 vars */) = 0
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 200
200 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 201
201 execve("/sbin/ldconfig", ["/sbin/ldconfig", "-p"], 0x7f /* 2 vars */) = 0
200 seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, NULL) = -1 EFAULT (Bad address)
200 close_range(4, 4095, 0)           = 0
200 seccomp(SECCOMP_SET_MODE_FILTER, 0, {len=196, filter=0x55}) = 0
200 execve("/usr/bin/python3", ["/usr/bin/python3", "-I", "-m", "gunicorn"], 0x7f /* 7 vars */) = 0
200 ioctl(1, TCGETS, 0x7ffd)               = -1 ENOTTY (Inappropriate ioctl for device)
200 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f <unfinished ...>
300 openat(AT_FDCWD, "/srv/hole/jobs.toml", O_RDONLY|O_CLOEXEC) = 5
202 set_robust_list(0x7f, 24)              = 0
200 <... clone resumed>)                  = 3 /* 202 in strace's PID NS */
202 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = -1 ENOSYS (Function not implemented)
202 clone(child_stack=0x7f, flags=CLONE_VM|CLONE_THREAD, parent_tid=[4]) = 4 /* 203 in strace's PID NS */
203 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = -1 ENOSYS (Function not implemented)
203 read(9,  <unfinished ...>
202 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---
203 <... read resumed>"x", 1)               = 1
200 exit_group(0)                          = ?
"""


def test_only_the_jail_after_its_exec_is_kept() -> None:
    trace = parse(LOG.splitlines(keepends=True))
    assert trace.root == 200
    assert {call.pid for call in trace.calls} == {200, 202, 203}
    # The launcher's calls before the exec and its ldconfig child are not the jail's.
    assert "close_range" not in trace.names()
    assert next(call.name for call in trace.calls if call.pid == 200) == "execve"
    # The worker's first line came before its parent's clone result.
    assert [call.name for call in trace.calls][2:4] == ["clone", "set_robust_list"]
    assert "openat" not in trace.names()


def test_roles_threads_and_results() -> None:
    trace = parse(LOG.splitlines(keepends=True))
    assert trace.role(200) is Role.ARBITER
    assert trace.role(202) is Role.WORKER
    assert trace.role(203) is Role.WORKER
    assert trace.threads == {203}
    assert trace.parent == {202: 200, 203: 202}
    assert trace.names(Role.ARBITER) == {"execve", "ioctl", "clone", "exit_group"}
    assert sorted(call.name for call in trace.refused(["ENOSYS"])) == ["clone3", "socket"]
    assert [call.result for call in trace.calls if call.name == "read"] == ["= 1"]
    assert trace.details() == {"ioctl": {"TCGETS"}, "socket": {"AF_UNIX"}}
    assert trace.counts()["clone"] == 2


def test_a_log_without_a_jail_is_an_error() -> None:
    with pytest.raises(TraceError, match="seccomp"):
        parse(LOG.splitlines()[:5])
