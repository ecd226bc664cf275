"""The daemon over time: reload, shutdown, the sweep of stale job directories, audit and memory."""

import os
import secrets
import signal
import textwrap
import time
from pathlib import Path

import pytest

from hole import Status
from hole.spool import JOBS_DIR
from tests.conftest import DaemonFactory
from tests.sysside.helpers import SmallJobs, make_small_jobs, wait_file, wait_gone, write_map
from webside.client import DaemonUnavailable, HoleClient

pytestmark = pytest.mark.timeout(120)

ECHO2 = """\

    [jobs.echo2]
    title = "Echo, added later"
    fields.word = { type = "digits", max = 5, required = true }
    steps = [{ run = ["/bin/cat"], stdin = "two:{word}\\n" }]
    """


@pytest.fixture
def jobs(tmp_path: Path) -> SmallJobs:
    return make_small_jobs(tmp_path / "map")


def test_sighup_reloads_and_keeps_the_old_map_on_problems(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    client = HoleClient(daemon.spool, timeout=5)
    _, status = client.run("echo2", {"word": "12"})
    assert status.status is Status.UNKNOWN_JOB
    good_text = jobs.jobs_file.read_text()
    jobs.jobs_file.write_text(good_text + textwrap.dedent(ECHO2))
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(lambda events: any(e.get("event") == "jobmap.reloaded" for e in events))
    output, status = client.run("echo2", {"word": "12"})
    assert (output, status.status) == (b"two:12\n", Status.OK)

    write_map(jobs.jobs_file, '[jobs.broken]\ntitel = "oops"\nsteps = [{ run = ["bin/missing"] }]\n')
    daemon.signal(signal.SIGHUP)
    events = daemon.wait_for(lambda events: any(e.get("event") == "jobmap.reload_refused" for e in events))
    refused = next(e for e in events if e.get("event") == "jobmap.reload_refused")
    assert refused["file"] == str(jobs.jobs_file)
    assert any(p.startswith("jobs.broken.titel: unknown key") for p in refused["problems"])
    assert any(p.startswith("jobs.broken.steps[1].run[1]: ") for p in refused["problems"])
    for job, fields, expected in (("echo", {"word": "old"}, b"old\n"), ("echo2", {"word": "7"}, b"two:7\n")):
        output, status = client.run(job, fields)
        assert (output, status.status) == (expected, Status.OK)
    assert daemon.process.poll() is None


def test_sigterm_lets_running_jobs_finish(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    client = HoleClient(daemon.spool, timeout=10)
    with client.submit("slow", {}) as job:
        first = job.read_chunk(idle=5)
        assert first == b"started\n"
        daemon.signal(signal.SIGTERM)
        daemon.wait_for(lambda events: any(e.get("event") == "daemon.stopping" for e in events))
        # Draining: the daemon FIFO is closed, so a new job is refused at once.
        with pytest.raises(DaemonUnavailable):
            client.submit("echo", {"word": "late"})
        rest = job.read_all()
        status = job.status
    assert first + rest == b"started\nfinished\n"
    assert status is not None and status.status is Status.OK
    assert daemon.process.wait(5) == 0
    with pytest.raises(DaemonUnavailable):
        client.submit("echo", {"word": "after"})
    (record,) = daemon.audits()
    assert (record["job"], record["outcome"]) == ("slow", "ok")
    assert daemon.events("daemon.stopped")


def test_second_sigterm_interrupts_running_jobs(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    client = HoleClient(daemon.spool, timeout=10)
    with client.submit("long", {}) as job:
        assert job.wait_meta() is not None
        step_pid = int(wait_file(jobs.pid_file)[0])
        daemon.signal(signal.SIGTERM)
        daemon.wait_for(lambda events: any(e.get("event") == "daemon.stopping" for e in events))
        assert job.read_chunk(idle=0.2) == b"", "the job should still be running after the first SIGTERM"
        daemon.signal(signal.SIGTERM)
        output = job.read_all()
        status = job.status
    assert output == b""
    assert status is not None and status.status is Status.INTERRUPTED
    assert status.details == {"step": 1, "program": "long"}
    assert daemon.process.wait(5) == 0
    assert wait_gone(step_pid, 2)
    (record,) = daemon.audits()
    assert record["outcome"] == "interrupted"


def make_job_dir(spool: Path, name: str, files: tuple[str, ...] = ("input", "result"), age: float = 100) -> Path:
    path = spool / JOBS_DIR / name
    path.mkdir()
    for file_name in files:
        (path / file_name).write_bytes(b"")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_sweep_removes_only_stale_job_directories(
    jobs: SmallJobs, daemon_factory: DaemonFactory, tmp_path: Path
) -> None:
    daemon = daemon_factory(jobs.jobs_file, "--sweep-interval", "0.2", "--stale-after", "1")
    client = HoleClient(daemon.spool, timeout=10)
    active = client.submit("long", {})
    try:
        assert active.wait_meta() is not None
        active_dir = next((daemon.spool / JOBS_DIR).iterdir())
        then = time.time() - 100
        os.utime(active_dir, (then, then))
        stale = make_job_dir(daemon.spool, secrets.token_hex(16))
        stale_empty = make_job_dir(daemon.spool, secrets.token_hex(16), files=())
        fresh = make_job_dir(daemon.spool, secrets.token_hex(16), age=0)
        not_a_job = make_job_dir(daemon.spool, "notajob")
        with_extra = make_job_dir(daemon.spool, secrets.token_hex(16), files=("input", "core"))
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "input").write_bytes(b"keep me")
        planted = daemon.spool / JOBS_DIR / secrets.token_hex(16)
        planted.symlink_to(outside)
        os.utime(planted, (then, then), follow_symlinks=False)

        def swept(events: list[dict[str, object]]) -> bool:
            removed = {e.get("name") for e in events if e.get("event") == "sweep.removed"}
            return {stale.name, stale_empty.name} <= removed

        daemon.wait_for(swept, timeout=5)
        assert not stale.exists() and not stale_empty.exists()
        assert fresh.is_dir()
        assert active_dir.is_dir() and (active_dir / "input").exists()
        assert not_a_job.is_dir()
        assert (with_extra / "core").exists()
        assert (outside / "input").read_bytes() == b"keep me"
        assert planted.is_symlink()
        skipped = {e.get("name") for e in daemon.events("sweep.skipped")}
        assert {not_a_job.name, with_extra.name, planted.name} <= skipped
    finally:
        active.close()
    # The fresh directory goes too, once it is old enough.
    daemon.wait_for(lambda events: any(e.get("name") == fresh.name for e in daemon.events("sweep.removed")))


def test_one_audit_record_per_job_with_secrets_redacted(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    client = HoleClient(daemon.spool, timeout=10)
    runs = [
        ("audited", {"who": "alice", "pin": "4321", "note": "hello there"}, Status.OK),
        ("audited", {"who": "bob", "pin": "98765"}, Status.OK),
        ("audited", {"who": "carol", "pin": "55aa77", "note": "quiet words"}, Status.REJECTED),
        ("audited", {"who": "dave", "pin": "246813", "note": "NOT LOWER"}, Status.REJECTED),
        ("chain", {}, Status.STEP_FAILED),
        ("nosuch", {"pin": "135791"}, Status.UNKNOWN_JOB),
    ]
    for job, fields, expected in runs:
        _, status = client.run(job, fields)
        assert status.status is expected, status
    daemon.wait_for(lambda events: len([e for e in events if e.get("event") == "job"]) >= len(runs))
    records = daemon.audits()
    assert len(records) == len(runs)
    assert len({r["id"] for r in records}) == len(runs)
    assert [r["outcome"] for r in records] == [expected.value for _, _, expected in runs]
    ok1, ok2, bad_pin, bad_note, chain, unknown = records
    assert ok1["fields"] == {"who": {"len": 5, "value": "alice"}, "pin": {"secret": True}, "note": {"len": 11}}
    assert ok2["fields"] == {"who": {"len": 3, "value": "bob"}, "pin": {"secret": True}, "note": {"len": 0}}
    assert [(s["step"], s["program"], s["exit"]) for s in ok1["steps"]] == [(1, "cat", 0)]
    assert ok1["bytes_out"] == len("alice hello there\n")
    # A refused job's values are never logged, and a secret's length neither.
    assert (bad_pin["field"], bad_pin["code"]) == ("pin", "not_digits")
    assert bad_pin["fields"] == {"who": {"len": 5}, "pin": {"secret": True}, "note": {"len": 11}}
    assert (bad_note["field"], bad_note["code"]) == ("note", "pattern")
    assert bad_note["fields"]["pin"] == {"secret": True}
    assert [(s["step"], s.get("exit")) for s in chain["steps"]] == [(1, 0), (2, 3)]
    assert chain["steps"][1]["stderr"] == "first words\nlast words: disk on fire\n"
    assert unknown["job"] == "nosuch"
    text = daemon.log_text()
    for secret in ("4321", "98765", "55aa77", "246813"):
        assert secret not in text
    for unlogged in ("hello there", "quiet words", "carol", "NOT LOWER"):
        assert unlogged not in text


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


@pytest.mark.timeout(300)
def test_memory_does_not_grow_over_many_jobs(jobs: SmallJobs, daemon_factory: DaemonFactory) -> None:
    daemon = daemon_factory(jobs.jobs_file)
    client = HoleClient(daemon.spool, timeout=10)
    pid = daemon.process.pid

    def run(count: int) -> None:
        for number in range(count):
            word = f"job {number}"
            output, status = client.run("echo", {"word": word})
            assert (output, status.status) == (f"{word}\n".encode(), Status.OK)

    run(200)
    before = rss_kib(pid)
    run(1800)
    after = rss_kib(pid)
    assert after - before < 2048, f"RSS grew from {before} KiB to {after} KiB over 1,800 jobs"
    daemon.wait_for(lambda events: len([e for e in events if e.get("event") == "job"]) == 2000)
