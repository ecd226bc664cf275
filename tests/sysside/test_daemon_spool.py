"""A hostile spool: junk on the daemon FIFO, planted links and FIFOs, clients that go away.

Each trick must fail its own job only; the daemon keeps serving the next one.
"""

import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hole import Status, encode_input
from hole.spool import JOBS_DIR
from tests.conftest import DaemonFactory, RunningDaemon
from tests.sysside.helpers import HandJob, SmallJobs, hand_job, make_small_jobs, send_line, wait_file, wait_gone
from webside.client import HoleClient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def jobs(tmp_path: Path) -> SmallJobs:
    return make_small_jobs(tmp_path / "map")


@pytest.fixture
def daemon(jobs: SmallJobs, daemon_factory: DaemonFactory) -> RunningDaemon:
    return daemon_factory(jobs.jobs_file)


def assert_serving(daemon: RunningDaemon, word: str = "still here") -> None:
    """A good job still succeeds, promptly."""
    started = time.monotonic()
    output, status = HoleClient(daemon.spool, timeout=5).run("echo", {"word": word})
    assert (output, status.status) == (f"{word}\n".encode(), Status.OK), status
    assert time.monotonic() - started < 1.0
    assert daemon.process.poll() is None


def refusals(daemon: RunningDaemon, job_id: str | None = None) -> list[dict[str, Any]]:
    return [e for e in daemon.events("request.refused") if job_id is None or e.get("id") == job_id]


def test_garbage_lines_are_dropped(daemon: RunningDaemon) -> None:
    junk = [
        b"hello\n",
        b"\n",
        b"HOLE/1\n",
        b"HOLE/1 echo\n",
        b"HOLE/2 echo " + b"0" * 32 + b"\n",
        b"HOLE/1 Echo " + b"0" * 32 + b"\n",
        b"HOLE/1 echo " + b"0" * 31 + b"\n",
        b"HOLE/1 echo " + b"A" * 32 + b"\n",
        b"HOLE/1 echo " + b"0" * 32 + b" extra\n",
        b"HOLE/1 echo ../../" + b"0" * 26 + b"\n",
        b"HOLE/1  echo " + b"0" * 32 + b"\n",
        b"HOLE/1 echo " + b"0" * 32 + b"\r\n",
    ]
    for line in junk:
        send_line(daemon.spool, line)
    daemon.wait_for(lambda events: len([e for e in events if e.get("event") == "request.refused"]) >= len(junk))
    assert_serving(daemon)


def test_binary_junk_is_dropped(daemon: RunningDaemon) -> None:
    send_line(daemon.spool, bytes(range(256)) + b"\n" + os.urandom(3000) + b"\n\x00\x00\n")
    daemon.wait_for(lambda events: len([e for e in events if e.get("event") == "request.refused"]) >= 3)
    assert_serving(daemon)


def test_overlong_line_is_discarded_to_its_newline(daemon: RunningDaemon) -> None:
    # More than PIPE_BUF bytes without a newline, written in pieces, then
    # the line's end; the daemon must resynchronise at that newline.
    for _ in range(5):
        send_line(daemon.spool, b"x" * 2000)
    send_line(daemon.spool, b"tail of the long line\n")
    daemon.wait_for(lambda events: any("over 4096 bytes" in e.get("reason", "") for e in events))
    assert_serving(daemon)
    # The tail was not taken for a request of its own.
    assert len(refusals(daemon)) == 1, refusals(daemon)
    # A long line that ends right at a request works as well.
    send_line(daemon.spool, b"y" * 5000 + b"\n")
    assert_serving(daemon, "after the second")


def test_symlinked_input_is_refused(daemon: RunningDaemon, tmp_path: Path) -> None:
    # The link points at a perfectly good input: following it would run the job.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(encode_input({"word": "followed"}))
    with hand_job(daemon.spool, "echo") as job:
        job.make_dir()
        job.input_path.symlink_to(elsewhere)
        job.make_result().send()
        answer = job.answer()
    assert answer.status is not None
    assert answer.status.status is Status.BAD_REQUEST
    assert "symbolic link" in answer.status.message
    assert answer.body == b""
    assert_serving(daemon)


def test_hard_linked_input_is_refused(daemon: RunningDaemon, tmp_path: Path) -> None:
    with hand_job(daemon.spool, "echo") as job:
        job.make_dir().write_input({"word": "linked"})
        os.link(job.input_path, tmp_path / "other-name")
        job.make_result().send()
        answer = job.answer()
    assert answer.status is not None and answer.status.status is Status.BAD_REQUEST
    assert "hard links" in answer.status.message


def test_fifo_as_input_does_not_block(daemon: RunningDaemon) -> None:
    with hand_job(daemon.spool, "echo") as job:
        job.make_dir()
        os.mkfifo(job.input_path, 0o640)
        # A writer that never writes: a blocking read would wait forever.
        writer = os.open(job.input_path, os.O_RDWR | os.O_NONBLOCK)
        try:
            job.make_result().send()
            answer = job.answer(timeout=3)
        finally:
            os.close(writer)
    assert answer.status is not None
    assert answer.status.status is Status.BAD_REQUEST
    assert "not a regular file" in answer.status.message
    assert_serving(daemon)


def test_symlinked_result_is_not_followed(daemon: RunningDaemon, tmp_path: Path) -> None:
    # The link's target is a FIFO with a reader: following it would write there.
    target = tmp_path / "target-fifo"
    os.mkfifo(target)
    reader = os.open(target, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with hand_job(daemon.spool, "echo") as job:
            job.make_dir().write_input({"word": "x"})
            job.result_path.symlink_to(target)
            job.send()
            daemon.wait_for(lambda events: bool(refusals(daemon, job.job_id)))
        assert_serving(daemon)
        # Nothing was ever written there (no writer reads as EOF).
        assert os.read(reader, 100) == b""
    finally:
        os.close(reader)
    assert "result is not a FIFO" in refusals(daemon)[0]["reason"]


def test_regular_file_as_result_is_left_alone(daemon: RunningDaemon) -> None:
    with hand_job(daemon.spool, "echo") as job:
        job.make_dir().write_input({"word": "x"})
        job.result_path.write_bytes(b"")
        job.send()
        daemon.wait_for(lambda events: bool(refusals(daemon, job.job_id)))
        assert job.result_path.read_bytes() == b""
    assert "result is not a FIFO" in refusals(daemon)[0]["reason"]
    assert_serving(daemon)


def test_symlinked_job_directory_is_refused(daemon: RunningDaemon, tmp_path: Path) -> None:
    real = tmp_path / "real-job"
    real.mkdir()
    (real / "input").write_bytes(encode_input({"word": "x"}))
    os.mkfifo(real / "result")
    reader = os.open(real / "result", os.O_RDONLY | os.O_NONBLOCK)
    try:
        job = HandJob(daemon.spool, "echo")
        (daemon.spool / JOBS_DIR / job.job_id).symlink_to(real)
        job.send()
        daemon.wait_for(lambda events: bool(refusals(daemon, job.job_id)))
        # Nothing was ever written there (no writer reads as EOF).
        assert os.read(reader, 100) == b""
    finally:
        os.close(reader)
    assert "job directory" in refusals(daemon)[0]["reason"]
    assert_serving(daemon)


def test_client_that_never_opens_its_result(daemon: RunningDaemon) -> None:
    with hand_job(daemon.spool, "echo") as job:
        job.make_dir().write_input({"word": "x"}).make_result(open_reader=False).send()
        events = daemon.wait_for(lambda events: any(e.get("id") == job.job_id for e in events))
    record = next(e for e in events if e.get("id") == job.job_id)
    assert record["event"] == "job"
    assert record["outcome"] == "interrupted"
    assert record["steps"] == []
    assert_serving(daemon)


def test_client_closing_mid_stream_kills_the_job(jobs: SmallJobs, daemon: RunningDaemon) -> None:
    client = HoleClient(daemon.spool, timeout=10)
    job = client.submit("stream", {})
    received = b""
    while received.count(b"\n") < 5:
        chunk = job.read_chunk(idle=1.0)
        assert chunk is not None, job.status
        received += chunk
    assert received.startswith(b"line 000000\nline 000001\n")
    step_pid = int(wait_file(jobs.pid_file)[0])
    job.close()
    assert wait_gone(step_pid, 5), "the step outlived its client"
    events = daemon.wait_for(lambda events: any(e.get("event") == "job" for e in events))
    (record,) = [e for e in events if e.get("event") == "job"]
    assert record["job"] == "stream"
    assert record["outcome"] == "interrupted"
    assert record["steps"][0]["signal"] == 9
    assert_serving(daemon)


def test_replayed_request_line_leaves_the_running_job_alone(daemon: RunningDaemon) -> None:
    with hand_job(daemon.spool, "stream") as job:
        job.make_dir().write_input({}).make_result().send()
        answer = job.answer(timeout=0.3)
        assert answer.meta is not None and answer.status is None
        # The same line again: the id's FIFO belongs to the running job, and
        # nothing but that job may write into it.
        job.send()
        daemon.wait_for(lambda events: bool(refusals(daemon, job.job_id)))
        later = job.answer(timeout=0.3)
        assert later.status is None, later.status
        assert later.meta is None
        assert later.body.startswith(b"line ")
    assert "already running" in refusals(daemon, job.job_id)[0]["reason"]
    daemon.wait_for(lambda events: any(e.get("event") == "job" for e in events))
    assert_serving(daemon)


def test_sweep_survives_clients_removing_their_directories(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    # Directories that vanish between the sweep's listing and its stat are
    # what busy clients produce all day long.
    daemon = daemon_factory(jobs.jobs_file, "--sweep-interval", "0.1")
    jobs_dir = daemon.spool / JOBS_DIR
    stop = threading.Event()

    def churn() -> None:
        names = [secrets.token_hex(16) for _ in range(300)]
        while not stop.is_set():
            for name in names:
                (jobs_dir / name).mkdir()
            for name in names:
                (jobs_dir / name).rmdir()

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and daemon.process.poll() is None:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join()
    assert daemon.process.poll() is None, daemon.log_text()[-2000:]
    assert_serving(daemon)


@pytest.mark.root
@pytest.mark.root  # chown to another uid
def test_files_of_another_owner_are_refused(daemon: RunningDaemon) -> None:
    stranger = 54321
    with hand_job(daemon.spool, "echo") as job:
        job.make_dir().write_input({"word": "x"}).make_result()
        os.chown(job.input_path, stranger, -1)
        job.send()
        answer = job.answer()
    assert answer.status is not None and answer.status.status is Status.BAD_REQUEST
    assert f"owned by uid {stranger}" in answer.status.message

    with hand_job(daemon.spool, "echo") as job:
        job.make_dir().write_input({"word": "x"}).make_result()
        os.chown(job.result_path, stranger, -1)
        job.send()
        daemon.wait_for(lambda events: bool(refusals(daemon, job.job_id)))
    assert "result is owned by uid" in refusals(daemon, job.job_id)[0]["reason"]

    with hand_job(daemon.spool, "echo") as job:
        job.make_dir().write_input({"word": "x"}).make_result()
        os.chown(job.directory, stranger, -1)
        job.send()
        daemon.wait_for(lambda events: bool(refusals(daemon, job.job_id)))
    assert "is owned by uid" in refusals(daemon, job.job_id)[0]["reason"]
    assert_serving(daemon)
