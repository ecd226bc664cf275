"""The hole's own cost: a trivial three-step job run directly and through the daemon.

All are measured in the same run, alternating in blocks so that noise on
the machine falls on all alike. The direct runs use the same argv, the
same stdin and `&&` semantics, in three ways: subprocess.run (what a
Python programmer would write), os.posix_spawn (the fastest spawn the
standard library offers: the overhead target is counted over it), and the
daemon's own spawner (sysside/spawn.py, with the same limits a step gets),
so that what the spawner gains and what the hole costs show apart.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sysside.bench.stats import percentile
from sysside.jobmap import Limits
from sysside.spawn import rlimits, spawn_step
from webside.client import HoleClient

SHM = "/dev/shm"  # noqa: S108 (only as the parent of a mkdtemp directory)
CAT = shutil.which("cat", path="/usr/bin:/bin") or "/bin/cat"
FIELDS = {"first": "alpha", "second": "beta", "third": "gamma"}
# The steps: each `cat` fed its own stdin; the last one's output is the result.
STEPS = [([CAT], "alpha\n"), ([CAT], "beta\n"), ([CAT], "gamma\n")]

JOB_MAP = f"""
[defaults]
timeout = "10s"

[jobs.bench3]
title = "Three trivial steps"
fields.first = {{ type = "text", regex = "[a-z]+", max = 16, required = true }}
fields.second = {{ type = "text", regex = "[a-z]+", max = 16, required = true }}
fields.third = {{ type = "text", regex = "[a-z]+", max = 16, required = true }}
steps = [
  {{ run = ["{CAT}"], stdin = "{{first}}\\n" }},
  {{ run = ["{CAT}"], stdin = "{{second}}\\n" }},
  {{ run = ["{CAT}"], stdin = "{{third}}\\n" }},
]
"""


# The bench map sets no limits, so its steps get the map's defaults.
STEP_LIMITS = rlimits(Limits())


def run_direct_subprocess() -> bytes:
    output = b""
    for argv, stdin in STEPS:
        done = subprocess.run(argv, input=stdin.encode(), stdout=subprocess.PIPE, check=False)
        if done.returncode != 0:
            break
        output = done.stdout
    return output


def run_direct_spawn() -> bytes:
    return _run_direct(
        lambda argv, stdin, stdout: os.posix_spawn(
            argv[0],
            argv,
            {},
            file_actions=[(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1)],
            # A process group of its own, as the daemon gives each step.
            setpgroup=0,
        )
    )


def run_direct_daemon_spawner() -> bytes:
    """The direct loop with the daemon's spawner and the limits a bench step gets."""
    return _run_direct(lambda argv, stdin, stdout: spawn_step(argv[0], argv, {}, (stdin, stdout, stdout), STEP_LIMITS))


def _run_direct(start: Callable[[list[str], int, int], int]) -> bytes:
    """Run the steps in turn; `start(argv, stdin_fd, stdout_fd)` starts one and returns its pid."""
    output = b""
    for argv, stdin in STEPS:
        in_read, in_write = os.pipe2(os.O_CLOEXEC)
        out_read, out_write = os.pipe2(os.O_CLOEXEC)
        pid = start(argv, in_read, out_write)
        os.close(in_read)
        os.close(out_write)
        os.write(in_write, stdin.encode())
        os.close(in_write)
        chunks = []
        while chunk := os.read(out_read, 65536):
            chunks.append(chunk)
        os.close(out_read)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            break
        output = b"".join(chunks)
    return output


@dataclass
class Daemon:
    spool: Path
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """The daemon's own CPU time so far, to the nanosecond (/proc/PID/stat counts in 10 ms ticks)."""
        with open(f"/proc/{self.process.pid}/schedstat", encoding="ascii") as schedstat:
            return int(schedstat.read().split()[0]) / 1e9

    def rss_kb(self) -> int:
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


@contextmanager
def bench_daemon(max_jobs: int = 64, wake_latency: str = "0") -> Iterator[Daemon]:
    """A daemon on a temporary spool serving the bench job map."""
    # The spool belongs on a tmpfs, as in the jail: on a journalled disk
    # each create and unlink of a job's files costs a few hundred µs.
    # mkdtemp makes a private 0700 directory with a random name there.
    shm = SHM if os.path.isdir(SHM) and os.access(SHM, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="hole-bench-", dir=shm) as workdir:
        base = Path(workdir)
        jobs = base / "jobs.toml"
        jobs.write_text(JOB_MAP, encoding="utf-8")
        spool = base / "spool"
        log = open(base / "daemon.log", "wb")  # noqa: SIM115 (closed below)
        argv = [sys.executable, "-m", "sysside", "daemon", "--spool", str(spool), "--jobs", str(jobs)]
        argv += ["--max-jobs", str(max_jobs), "--audit-log", os.devnull, "--wake-latency", wake_latency]
        process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        try:
            deadline = time.monotonic() + 15
            while b"daemon.ready" not in (base / "daemon.log").read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the bench daemon did not start: " + (base / "daemon.log").read_text())
                time.sleep(0.01)
            yield Daemon(spool, process)
        finally:
            process.terminate()
            process.wait(10)
            log.close()


def time_calls(call: Callable[[], bytes], count: int, expected: bytes) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        output = call()
        samples.append((time.perf_counter() - start) * 1000)
        if output != expected:
            raise RuntimeError(f"wrong output {output!r}")
    return samples


@dataclass
class HoleCost:
    direct_run: list[float]
    direct_spawn: list[float]
    hole: list[float]
    direct_daemon_spawner: list[float]
    rss_start_kb: int
    rss_end_kb: int
    rss_jobs: int
    # CPU seconds spent over the timed runs: the daemon's and the client's
    # (this process) for the hole, this process's own for posix_spawn.
    daemon_cpu: float = 0.0
    client_cpu: float = 0.0
    spawn_cpu: float = 0.0

    def figures(self) -> dict[str, float]:
        direct_p50 = percentile(self.direct_run, 0.5)
        spawn_p50, spawn_p99 = percentile(self.direct_spawn, 0.5), percentile(self.direct_spawn, 0.99)
        hole_p50, hole_p99 = percentile(self.hole, 0.5), percentile(self.hole, 0.99)
        return {
            "hole.direct_p50_ms": direct_p50,
            "hole.direct_p99_ms": percentile(self.direct_run, 0.99),
            "hole.spawn_p50_ms": spawn_p50,
            "hole.spawn_p99_ms": spawn_p99,
            "hole.hole_p50_ms": hole_p50,
            "hole.hole_p99_ms": hole_p99,
            # Noise only ever adds to a time, so the fastest runs compare
            # fairly even on a busy machine.
            "hole.spawn_min_ms": min(self.direct_spawn),
            "hole.hole_min_ms": min(self.hole),
            "hole.overhead_p50_ms": hole_p50 - spawn_p50,
            "hole.overhead_p99_ms": hole_p99 - spawn_p99,
            "hole.overhead_vs_subprocess_p50_ms": hole_p50 - direct_p50,
            "hole.daemon_spawner_p50_ms": percentile(self.direct_daemon_spawner, 0.5),
            "hole.daemon_spawner_p99_ms": percentile(self.direct_daemon_spawner, 0.99),
            "hole.overhead_vs_daemon_spawner_p50_ms": hole_p50 - percentile(self.direct_daemon_spawner, 0.5),
            "hole.daemon_rss_start_mb": self.rss_start_kb / 1024,
            "hole.daemon_rss_end_mb": self.rss_end_kb / 1024,
            "hole.daemon_rss_growth_mb": (self.rss_end_kb - self.rss_start_kb) / 1024,
            "hole.rss_jobs": float(self.rss_jobs),
            # Where the overhead goes: CPU per job, in ms (children not counted).
            "hole.daemon_cpu_ms": 1000 * self.daemon_cpu / len(self.hole),
            "hole.client_cpu_ms": 1000 * self.client_cpu / len(self.hole),
            "hole.spawn_self_cpu_ms": 1000 * self.spawn_cpu / len(self.direct_spawn),
        }


def measure(samples: int = 2000, rss_jobs: int = 10000, block: int = 100, wake_latency: str = "0") -> HoleCost:
    """Measure the three ways in alternating blocks, then the daemon's RSS over rss_jobs jobs."""
    expected = b"gamma\n"
    direct_run: list[float] = []
    direct_spawn: list[float] = []
    hole: list[float] = []
    direct_daemon_spawner: list[float] = []
    with bench_daemon(wake_latency=wake_latency) as daemon:
        client = HoleClient(daemon.spool, timeout=30)

        def through_hole() -> bytes:
            output, status = client.run("bench3", FIELDS)
            if not status.ok:
                raise RuntimeError(f"bench job failed: {status}")
            return output

        # Warm up the daemon, the page cache and the allocator.
        time_calls(through_hole, 200, expected)
        time_calls(run_direct_spawn, 50, expected)
        time_calls(run_direct_daemon_spawner, 50, expected)
        rss_start = daemon.rss_kb()
        done = 0
        daemon_cpu = client_cpu = spawn_cpu = 0.0
        while done < samples:
            count = min(block, samples - done)
            direct_run += time_calls(run_direct_subprocess, count, expected)
            direct_daemon_spawner += time_calls(run_direct_daemon_spawner, count, expected)
            started = time.process_time()
            direct_spawn += time_calls(run_direct_spawn, count, expected)
            spawn_cpu += time.process_time() - started
            started, daemon_started = time.process_time(), daemon.cpu_seconds()
            hole += time_calls(through_hole, count, expected)
            client_cpu += time.process_time() - started
            daemon_cpu += daemon.cpu_seconds() - daemon_started
            done += count
        remaining = max(0, rss_jobs - samples)
        time_calls(through_hole, remaining, expected)
        rss_end = daemon.rss_kb()
    return HoleCost(
        direct_run,
        direct_spawn,
        hole,
        direct_daemon_spawner,
        rss_start,
        rss_end,
        max(rss_jobs, samples),
        daemon_cpu=daemon_cpu,
        client_cpu=client_cpu,
        spawn_cpu=spawn_cpu,
    )
