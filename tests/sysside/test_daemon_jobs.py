"""A real daemon running small jobs: the ok path and every way a job can end."""

import hashlib
import json
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hole import Status
from hole.request import JOB_ID_RE
from tests.conftest import DaemonFactory
from tests.sysside.helpers import SmallJobs, hand_job, make_small_jobs, wait_file, wait_gone
from webside.client import HoleClient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def jobs(tmp_path: Path) -> SmallJobs:
    return make_small_jobs(tmp_path / "map")


def test_ok_output_byte_for_byte(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    client = HoleClient(daemon.spool, timeout=10)
    word = 'héllo wörld {year} {{x}} \\ " ☕ ' + "x" * 100
    with client.submit("echo", {"word": word}) as job:
        meta = job.wait_meta()
        output = job.read_all()
        status = job.status
    assert meta is not None and (meta.type, meta.title) == ("text/plain", "Echo")
    assert output == (word + "\n").encode("utf-8")
    assert status is not None and status.status is Status.OK
    assert status.details == {"bytes": len(output)}


def test_multi_megabyte_output_streams_through(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    content = os.urandom(8 * 1024 * 1024 + 12345)
    jobs.big_file.write_bytes(content)
    daemon = daemon_factory(jobs.jobs_file)
    output, status = HoleClient(daemon.spool, timeout=30).run("big", {})
    assert status.status is Status.OK, status
    assert status.details == {"bytes": len(content)}
    assert len(output) == len(content)
    assert hashlib.sha256(output).hexdigest() == hashlib.sha256(content).hexdigest()


def test_rejected_names_field_and_code(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    client = HoleClient(daemon.spool, timeout=10)
    output, status = client.run("echo", {"word": "red\x1b[31malert"})
    assert output == b""
    assert status.status is Status.REJECTED
    assert status.details["field"] == "word"
    assert status.details["code"] == "control_char"
    assert status.details["params"] == {"char": "U+001B"}
    _, status = client.run("echo", {"word": "x", "extra": "y"})
    assert (status.status, status.details["field"], status.details["code"]) == (
        Status.REJECTED,
        "extra",
        "unknown_field",
    )
    _, status = client.run("echo", {})
    assert (status.status, status.details["field"], status.details["code"]) == (Status.REJECTED, "word", "required")


def test_step_failed_names_step_exit_and_reason(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    output, status = HoleClient(daemon.spool, timeout=10).run("chain", {})
    assert output == b""
    assert status.status is Status.STEP_FAILED
    assert status.details == {"step": 2, "program": "fail_step", "exit": 3}
    assert status.message == "step 2 (fail_step) exited with status 3: last words: disk on fire"


def test_and_and_stops_at_the_failing_step(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    client = HoleClient(daemon.spool, timeout=10)
    _, status = client.run("chain", {})
    assert status.status is Status.STEP_FAILED
    assert not jobs.marker.exists(), "step 3 ran after step 2 failed"
    # The control: with step 2 succeeding, step 3 does run.
    output, status = client.run("chain_ok", {})
    assert status.status is Status.OK, status
    assert output == b"marked\n"
    assert jobs.marker.read_text() == "step 3 ran\n"


def test_step_killed_by_signal(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    _, status = HoleClient(daemon.spool, timeout=10).run("segv", {})
    assert status.status is Status.STEP_FAILED
    assert status.details == {"step": 1, "program": "segv", "signal": 11}


def test_timeout_kills_the_step_and_its_children(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    started = time.monotonic()
    _, status = HoleClient(daemon.spool, timeout=10).run("spawner", {})
    elapsed = time.monotonic() - started
    assert status.status is Status.TIMEOUT
    assert status.details == {"seconds": 0.5, "step": 1, "program": "spawner"}
    assert 0.4 < elapsed < 3
    step_pid, child_pid = (int(line) for line in wait_file(jobs.pid_file, lines=2))
    assert wait_gone(step_pid, 2), f"step {step_pid} survived its timeout"
    assert wait_gone(child_pid, 2), f"the step's child {child_pid} survived the timeout"


def test_timeout_kills_a_step_that_left_its_process_group(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    _, status = HoleClient(daemon.spool, timeout=10).run("hopper", {})
    assert status.status is Status.TIMEOUT
    step_pid, group = (int(line) for line in wait_file(jobs.pid_file, lines=2))
    # The daemon runs in a session of its own, with no terminal: the step
    # shares that session, and so could move.
    assert group not in (step_pid, os.getpgrp()), "the step did not leave its process group"
    assert wait_gone(step_pid, 2), f"step {step_pid} survived its timeout in another process group"


def test_busy_at_the_job_limit(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file, "--max-jobs", "1")
    client = HoleClient(daemon.spool, timeout=10)
    with client.submit("long", {}) as slow:
        assert slow.wait_meta() is not None
        step_pid = int(wait_file(jobs.pid_file)[0])
        started = time.monotonic()
        output, status = client.run("echo", {"word": "second"})
        assert time.monotonic() - started < 0.5
        assert output == b""
        assert status.status is Status.BUSY
        assert status.details == {"limit": 1}
    # Closing the slow job cancels it and frees the slot.
    assert wait_gone(step_pid, 5)
    daemon.wait_for(lambda events: any(e.get("event") == "job" and e["job"] == "long" for e in events))
    output, status = client.run("echo", {"word": "third"})
    assert (output, status.status) == (b"third\n", Status.OK)


def test_unknown_job(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    output, status = HoleClient(daemon.spool, timeout=10).run("nosuch", {"word": "x"})
    assert output == b""
    assert status.status is Status.UNKNOWN_JOB
    assert status.details == {"job": "nosuch"}


def test_too_large_cuts_and_kills(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    content = os.urandom(256 * 1024)
    jobs.big_file.write_bytes(content)
    daemon = daemon_factory(jobs.jobs_file)
    output, status = HoleClient(daemon.spool, timeout=10).run("capped", {})
    assert status.status is Status.TOO_LARGE
    assert status.details == {"bytes": 1024, "limit": 1024}
    assert output == content[:1024]


@pytest.mark.parametrize(
    ("raw_input", "words"),
    [
        (b"NOT-HOLE\n.\n", "does not start with"),
        (b"HOLE-INPUT/1\nword 50\nabc\n.\n", "runs past the end"),
        (b"HOLE-INPUT/1\nword 1\nx\nword 1\ny\n.\n", "duplicate field name"),
        (b"HOLE-INPUT/1\nword 1\nx\n", "without its terminator"),
        (b"HOLE-INPUT/1\nword 1\nx\n.\nmore", "bytes after the terminator"),
        (b"HOLE-INPUT/1\n" + b"x" * (300 * 1024), "over the limit"),
    ],
)
def test_bad_request_for_a_malformed_input_file(
    jobs: SmallJobs, daemon_factory: DaemonFactory, raw_input: bytes, words: str
) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    with hand_job(daemon.spool, "echo") as job:
        job.make_dir().write_input(raw=raw_input).make_result().send()
        answer = job.answer()
    assert answer.status is not None
    assert answer.status.status is Status.BAD_REQUEST
    assert words in answer.status.message
    assert answer.meta is None and answer.body == b""


def test_fifty_concurrent_jobs_each_get_their_own_result(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file, "--max-jobs", "64")
    client = HoleClient(daemon.spool, timeout=30)
    count = 50
    words = [f"job-{number}-{secrets.token_hex(8)}" for number in range(count)]
    barrier = threading.Barrier(count)

    def one(word: str) -> tuple[bytes, Status]:
        barrier.wait()
        output, status = client.run("echo", {"word": word})
        return output, status.status

    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(one, words))
    assert results == [((word + "\n").encode(), Status.OK) for word in words]
    daemon.wait_for(lambda events: len([e for e in events if e.get("event") == "job"]) == count)


def test_large_stdin_is_fed_while_output_is_read(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    # 64 Ki characters of two bytes each: far more than a pipe holds, so
    # stdin must be fed from the loop while cat's output is drained.
    text = ("é" * 99 + "\n") * 655
    daemon = daemon_factory(jobs.jobs_file)
    output, status = HoleClient(daemon.spool, timeout=10).run("bigstdin", {"text": text})
    assert status.status is Status.OK, status
    assert output == text.encode("utf-8")


def test_step_gets_a_clean_environment_and_its_limits(
    jobs: SmallJobs, daemon_factory: DaemonFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the daemon itself was started with must not reach a step.
    monkeypatch.setenv("DAEMON_ONLY_SECRET", "hunter2")
    daemon = daemon_factory(jobs.jobs_file)
    output, status = HoleClient(daemon.spool, timeout=10).run("inspect", {})
    assert status.status is Status.OK, status
    report = json.loads(output)
    who, job_name, job_id = report["argv"]
    assert (who, job_name) == ("nobody", "inspect")
    assert JOB_ID_RE.fullmatch(job_id)
    daemon.wait_for(lambda events: any(e.get("event") == "job" and e["id"] == job_id for e in events))
    assert report["stdin"] == f"id={job_id}\n"
    # LANG keeps Python from adding LC_CTYPE of its own (locale coercion).
    assert report["env"] == {"JOB_ENV": "job", "LANG": "C.UTF-8", "STEP_ENV": "step"}
    assert report["fds"] == [0, 1, 2]
    assert report["umask"] == 0o077
    # A group of its own (the timeout kills it); no terminal to reach.
    assert report["own_group"] and not report["terminal"]
    assert report["limits"] == {
        "RLIMIT_CPU": 7,
        "RLIMIT_AS": 512 * 1024**2,
        "RLIMIT_NOFILE": 32,
        "RLIMIT_NPROC": 99,
        "RLIMIT_FSIZE": 1024**2,
        "RLIMIT_CORE": 0,
    }


def test_slow_client_holds_back_the_output(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    content = os.urandom(48 * 1024 * 1024)
    jobs.big_file.write_bytes(content)
    daemon = daemon_factory(jobs.jobs_file)
    pid = daemon.process.pid
    before = rss_kib(pid)
    with HoleClient(daemon.spool, timeout=30).submit("big", {}) as job:
        assert job.wait_meta() is not None
        # Not reading: the daemon must stop reading cat's output too,
        # rather than hold the whole report in memory.
        time.sleep(0.5)
        held = rss_kib(pid) - before
        output = job.read_all()
        status = job.status
    assert held < 8 * 1024, f"the daemon grew by {held} KiB for a client that was not reading"
    assert status is not None and status.status is Status.OK
    assert hashlib.sha256(output).digest() == hashlib.sha256(content).digest()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


@pytest.mark.parametrize(("size", "expected"), [(1024, Status.OK), (1025, Status.TOO_LARGE)])
def test_output_cap_boundary(jobs: SmallJobs, daemon_factory: DaemonFactory, size: int, expected: Status) -> None:
    content = os.urandom(size)
    jobs.big_file.write_bytes(content)
    daemon = daemon_factory(jobs.jobs_file)
    output, status = HoleClient(daemon.spool, timeout=10).run("capped", {})
    assert status.status is expected, status
    assert output == content[:1024]
