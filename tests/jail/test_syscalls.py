"""The seccomp allow list against the web side's real calls: `hole up` under strace, with real traffic.

One traced service runs for the module (tests/jail/syscall_trace.py
drives it); each test reads the same trace. A call the web side makes that
is not on sysside/syscall_allowlist.py fails here, so the list cannot rot
as the web side, gunicorn, CPython or glibc change. To see what changed:
`.venv/bin/python -m tests.jail.syscall_trace` as root.
"""

import shutil
from collections.abc import Iterator

import pytest

from sysside.syscall_allowlist import IOCTL_REQUESTS, REFUSED_QUIETLY, allowed_names
from tests.conftest import cannot_run
from tests.jail.strace_log import JailTrace, Role
from tests.jail.syscall_trace import Traced, strace_available, trace_service
from tests.sysside.test_up import fast_tmp_dir

pytestmark = [pytest.mark.root, pytest.mark.timeout(600)]

# Calls that prove the traffic reached the paths it is meant to: the
# spool (a result FIFO), static files, a streamed answer, the arbiter's
# signals to its workers and their reaping, a worker's threads.
WITNESSES = {
    Role.WORKER: ("mknodat", "sendfile", "accept4", "shutdown", "rmdir", "clone"),
    Role.ARBITER: ("execve", "kill", "wait4", "clone"),
}


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[JailTrace, Traced]]:
    if not strace_available():
        cannot_run("strace (./bootstrap installs it; apt-get install strace)")
    folder = fast_tmp_dir()
    try:
        yield trace_service(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _where(trace: JailTrace, names: set[str]) -> str:
    """The first calls of each name, as strace showed them, for a failure message."""
    lines = []
    for name in sorted(names):
        for call in [c for c in trace.calls if c.name == name][:3]:
            lines.append(f"  [{trace.role(call.pid).value} {call.pid}] {name}({call.args[:120]}) {call.result}")
    return "\n".join(lines)


def test_the_traffic_was_answered_as_expected(traced: tuple[JailTrace, Traced]) -> None:
    _, run = traced
    web_log = (run.up.state / "logs" / "web.log").read_text(encoding="utf-8", errors="replace")
    # Warnings, errors and tracebacks: what the web side said about the failed steps.
    errors = [line for line in web_log.splitlines() if not line.startswith("127.0.0.1 - -") and "[INFO]" not in line]
    steps = [failure.split("\n", 1)[0] for failure in run.failures]
    assert not steps, "\n".join(["traffic steps failed:", *steps, "--- the web side's log (no access lines):", *errors])


def test_the_jail_ran_under_the_allow_list(traced: tuple[JailTrace, Traced]) -> None:
    _, run = traced
    log = (run.up.state / "logs" / "web.log").read_text(encoding="utf-8", errors="replace")
    assert "seccomp allow list of" in log, log[:2000]


def test_the_traffic_reached_every_path(traced: tuple[JailTrace, Traced]) -> None:
    trace, _ = traced
    for role, names in WITNESSES.items():
        missing = set(names) - trace.names(role)
        assert not missing, f"the {role.value} made no {sorted(missing)}: the traffic missed a path"
    workers = {c.pid for c in trace.calls if trace.role(c.pid) is Role.WORKER and c.pid not in trace.threads}
    # Two at start, two after SIGHUP, one for SIGTTIN, one after the kill.
    assert len(workers) >= 6, workers


def test_every_call_is_on_the_allow_list(traced: tuple[JailTrace, Traced]) -> None:
    trace, _ = traced
    outside = trace.names() - allowed_names() - set(REFUSED_QUIETLY)
    assert not outside, (
        f"the jailed web side called {sorted(outside)}, which sysside/syscall_allowlist.py does not name:\n"
        f"{_where(trace, outside)}\nrun `python -m tests.jail.syscall_trace` as root to see the whole trace"
    )


def test_only_the_quiet_refusals_were_refused(traced: tuple[JailTrace, Traced]) -> None:
    """A call that met the filter's default answer is one the allow list missed (by name or by argument)."""
    trace, _ = traced
    refused = trace.refused(["ENOSYS"])
    unexpected = {c.name for c in refused if REFUSED_QUIETLY.get(c.name, ("",))[0] != "ENOSYS"}
    assert not unexpected, f"refused by the filter:\n{_where(trace, unexpected)}"
    for name, (errno_name, _why) in REFUSED_QUIETLY.items():
        answers = {c.errno for c in trace.calls if c.name == name}
        assert answers <= {errno_name}, f"{name} answered {answers}, not only {errno_name}"


def test_ioctl_requests_are_the_listed_ones(traced: tuple[JailTrace, Traced]) -> None:
    trace, _ = traced
    requests = trace.details().get("ioctl", set())
    assert requests, "no ioctl in the trace: the traffic or the parser is broken"
    assert requests <= set(IOCTL_REQUESTS), sorted(requests - set(IOCTL_REQUESTS))


def test_nothing_outside_the_jail_is_counted(traced: tuple[JailTrace, Traced]) -> None:
    """The trace holds the jail only: no call of the supervisor, the daemon or its jobs."""
    trace, run = traced
    log_text = run.log.read_text(encoding="utf-8", errors="replace")
    assert "sqlite" in log_text, "the daemon's jobs should be in the whole log"
    # The jail never sees the host's state folder, so no jailed call names it.
    host = str(run.up.state)
    assert not [c for c in trace.calls if host in c.args], f"a jailed call names {host}"
    assert trace.role(trace.root) is Role.ARBITER
