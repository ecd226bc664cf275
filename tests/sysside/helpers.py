"""Small job maps, step programs and hand-made spool requests for the daemon tests.

Step programs are Python scripts named by their interpreter's real path
(the daemon never searches PATH and runs no shell); job maps are TOML
written to the test's tmp_path.
"""

import contextlib
import os
import secrets
import select
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hole import Data, Meta, ResultDecoder, StatusRecord, encode_input
from hole.spool import DAEMON_FIFO, INPUT_FILE, JOBS_DIR, RESULT_FIFO

PYTHON = os.path.realpath(sys.executable)


def write_script(directory: Path, name: str, body: str) -> Path:
    """Write an executable Python step program and return its path."""
    path = directory / name
    path.write_text(f"#!{PYTHON} -IS\n" + textwrap.dedent(body), encoding="utf-8")
    path.chmod(0o755)
    return path


def write_map(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def toml_str(value: str | Path) -> str:
    """A TOML literal string; the tests' paths hold no single quote."""
    text = str(value)
    assert "'" not in text and "\n" not in text
    return f"'{text}'"


def process_gone(pid: int) -> bool:
    """True once pid is no process, or only a zombie waiting for its parent."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except (FileNotFoundError, ProcessLookupError):
        return True
    for line in status.splitlines():
        if line.startswith("State:"):
            return "Z" in line.split()[1]
    return False


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not process_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_file(path: Path, timeout: float = 5.0, lines: int = 1) -> list[str]:
    """Wait until path holds at least `lines` complete lines; return them."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text(encoding="ascii")
            if text.count("\n") >= lines:
                return text.splitlines()
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never got {lines} line(s)")
        time.sleep(0.01)


def send_line(spool: Path, line: bytes) -> None:
    """Write raw bytes to the daemon FIFO, as a misbehaving client would."""
    fd = os.open(spool / DAEMON_FIFO, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.set_blocking(fd, True)
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


@dataclass
class Answer:
    """What came back through a result FIFO read by hand."""

    meta: Meta | None = None
    body: bytes = b""
    status: StatusRecord | None = None
    closed: bool = False
    events: list[object] = field(default_factory=list)


@dataclass
class HandJob:
    """A job directory laid out by hand, so a test can break any part of it."""

    spool: Path
    job: str
    job_id: str = field(default_factory=lambda: secrets.token_hex(16))
    reader: int | None = None
    # One decoder for the job's whole stream: answer() may be called again
    # to read on from where the last call stopped.
    decoder: ResultDecoder = field(default_factory=ResultDecoder)
    opened: bool = False

    @property
    def directory(self) -> Path:
        return self.spool / JOBS_DIR / self.job_id

    @property
    def input_path(self) -> Path:
        return self.directory / INPUT_FILE

    @property
    def result_path(self) -> Path:
        return self.directory / RESULT_FIFO

    def make_dir(self) -> "HandJob":
        self.directory.mkdir(mode=0o770)
        return self

    def write_input(self, fields: dict[str, str] | None = None, raw: bytes | None = None) -> "HandJob":
        data = raw if raw is not None else encode_input(fields or {})
        self.input_path.write_bytes(data)
        return self

    def make_result(self, open_reader: bool = True) -> "HandJob":
        os.mkfifo(self.result_path, 0o620)
        if open_reader:
            self.open_reader()
        return self

    def open_reader(self) -> None:
        self.reader = os.open(self.result_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def request_line(self) -> bytes:
        return f"HOLE/1 {self.job} {self.job_id}\n".encode()

    def send(self) -> "HandJob":
        send_line(self.spool, self.request_line())
        return self

    def answer(self, timeout: float = 10.0) -> Answer:
        """Read on until the status, EOF after the daemon opened the FIFO, or timeout."""
        assert self.reader is not None
        decoder = self.decoder
        answer = Answer()
        deadline = time.monotonic() + timeout
        while answer.status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return answer
            poller = select.poll()
            poller.register(self.reader, select.POLLIN)
            ready = poller.poll(min(left, 0.05) * 1000)
            if not ready:
                continue
            raw = os.read(self.reader, 65536)
            if not raw:
                # POLLHUP before the daemon ever opened its end cannot
                # happen; after it, EOF means the daemon closed the stream.
                if self.opened or ready[0][1] & select.POLLHUP:
                    answer.closed = True
                    return answer
                continue
            self.opened = True
            decoder.feed(raw)
            while (event := decoder.next_event()) is not None:
                answer.events.append(event)
                if isinstance(event, Meta):
                    answer.meta = event
                elif isinstance(event, Data):
                    answer.body += event.data
                else:
                    answer.status = event
        return answer

    def close(self) -> None:
        if self.reader is not None:
            os.close(self.reader)
            self.reader = None


@contextlib.contextmanager
def hand_job(spool: Path, job: str) -> Iterator[HandJob]:
    made = HandJob(spool, job)
    try:
        yield made
    finally:
        made.close()


@dataclass(frozen=True)
class SmallJobs:
    """A job map of small jobs for the daemon tests, and the files they touch."""

    jobs_file: Path
    directory: Path
    big_file: Path
    marker: Path
    pid_file: Path


SCRIPTS = {
    "fail_step": """\
        import sys
        print("first words", file=sys.stderr)
        print("last words: disk on fire", file=sys.stderr)
        sys.exit(3)
        """,
    "ok_step": """\
        import sys
        sys.stdin.read()
        """,
    "touch_marker": """\
        import sys
        with open(sys.argv[1], "a") as marker:
            marker.write("step 3 ran\\n")
        print("marked")
        """,
    "segv": """\
        import os, signal
        os.kill(os.getpid(), signal.SIGSEGV)
        """,
    # Writes its own pid and its child's to argv[1], then both sleep.
    "spawner": """\
        import os, sys, time
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        with open(sys.argv[1], "a") as pids:
            pids.write(f"{os.getpid()}\\n{child}\\n")
        time.sleep(60)
        """,
    # Moves to its parent's process group (the daemon's: allowed when it
    # shares the daemon's session), writes its pid and its group's to
    # argv[1], then sleeps.
    "hopper": """\
        import os, sys, time
        try:
            os.setpgid(0, os.getpgid(os.getppid()))
        except OSError:
            pass
        with open(sys.argv[1], "a") as pids:
            pids.write(f"{os.getpid()}\\n{os.getpgrp()}\\n")
        time.sleep(60)
        """,
    "sleepy_print": """\
        import sys, time
        print("started", flush=True)
        time.sleep(float(sys.argv[1]))
        print("finished")
        """,
    "long": """\
        import os, sys, time
        with open(sys.argv[1], "a") as pids:
            pids.write(f"{os.getpid()}\\n")
        time.sleep(30)
        """,
    # Reports what the daemon gave it: environment, fds, limits, process group, terminal.
    "inspect": """\
        import json, os, resource, sys
        open_fds = []
        for fd in range(64):
            try:
                os.fstat(fd)
            except OSError:
                continue
            open_fds.append(fd)
        mask = os.umask(0)
        limits = {
            name: resource.getrlimit(getattr(resource, name))[0]
            for name in ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_CORE")
        }
        try:
            os.close(os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY))
            terminal = True
        except OSError:
            terminal = False
        report = {
            "argv": sys.argv[1:],
            "stdin": sys.stdin.read(),
            "env": dict(os.environ),
            "fds": open_fds,
            "umask": mask,
            "limits": limits,
            "own_session": os.getsid(0) == os.getpid(),
            "own_group": os.getpgid(0) == os.getpid(),
            "terminal": terminal,
        }
        print(json.dumps(report))
        """,
    "stream": """\
        import os, sys, time
        with open(sys.argv[1], "a") as pids:
            pids.write(f"{os.getpid()}\\n")
        for number in range(6000):
            sys.stdout.write(f"line {number:06d}\\n")
            sys.stdout.flush()
            time.sleep(0.005)
        """,
}


def make_small_jobs(directory: Path, extra: str = "") -> SmallJobs:
    """Write the step programs and the job map; `extra` is appended to the map."""
    directory.mkdir(parents=True, exist_ok=True)
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in SCRIPTS.items():
        write_script(bin_dir, name, body)
    jobs = SmallJobs(
        jobs_file=directory / "jobs.toml",
        directory=directory,
        big_file=directory / "big.bin",
        marker=directory / "marker",
        pid_file=directory / "pids",
    )
    jobs.big_file.write_bytes(b"")
    big, marker, pids = toml_str(jobs.big_file), toml_str(jobs.marker), toml_str(jobs.pid_file)
    text = f"""\
        [defaults]
        timeout = "20s"
        limits = {{ cpu = "20s", memory = "1GB" }}

        [jobs.echo]
        title = "Echo"
        fields.word = {{ type = "text", regex = ".+", max = 200, required = true }}
        steps = [{{ run = ["/bin/cat"], stdin = "{{word}}\\n" }}]

        [jobs.big]
        title = "Big output"
        max_output = "64MB"
        steps = [{{ run = ["/bin/cat", {big}] }}]

        [jobs.capped]
        title = "Capped output"
        max_output = 1024
        steps = [{{ run = ["/bin/cat", {big}] }}]

        [jobs.chain]
        title = "Stops at step 2"
        steps = [
          {{ run = ["/bin/cat"], stdin = "one\\n" }},
          {{ run = ["bin/fail_step"] }},
          {{ run = ["bin/touch_marker", {marker}] }},
        ]

        [jobs.chain_ok]
        title = "Runs all three"
        steps = [
          {{ run = ["/bin/cat"], stdin = "one\\n" }},
          {{ run = ["bin/ok_step"], stdin = "two\\n" }},
          {{ run = ["bin/touch_marker", {marker}] }},
        ]

        [jobs.segv]
        title = "Dies of a signal"
        steps = [{{ run = ["bin/segv"] }}]

        [jobs.spawner]
        title = "Sleeps with a child"
        timeout = "500ms"
        steps = [{{ run = ["bin/spawner", {pids}] }}]

        [jobs.hopper]
        title = "Leaves its process group"
        timeout = "500ms"
        steps = [{{ run = ["bin/hopper", {pids}] }}]

        [jobs.slow]
        title = "Half a second"
        steps = [{{ run = ["bin/sleepy_print", "0.5"] }}]

        [jobs.long]
        title = "Thirty seconds"
        timeout = "60s"
        steps = [{{ run = ["bin/long", {pids}] }}]

        [jobs.stream]
        title = "Streams lines"
        timeout = "60s"
        steps = [{{ run = ["bin/stream", {pids}] }}]

        [jobs.bigstdin]
        title = "Large stdin"
        fields.text = {{ type = "lines", max = 65536, required = true }}
        steps = [{{ run = ["/bin/cat"], stdin = "{{text}}" }}]

        [jobs.inspect]
        title = "Step environment"
        env = {{ JOB_ENV = "job", LANG = "C.UTF-8" }}
        limits = {{ cpu = "7s", memory = "512MB", open_files = 32, processes = 99, file_size = "1MB" }}
        fields.who = {{ type = "ident", max = 20, default = "nobody" }}
        [[jobs.inspect.steps]]
        run = ["bin/inspect", "{{who}}", "{{job.name}}", "{{job.id}}"]
        stdin = "id={{job.id}}\\n"
        env = {{ STEP_ENV = "step" }}

        [jobs.audited]
        title = "Audit record"
        fields.who = {{ type = "ident", max = 20, required = true, log = true }}
        fields.pin = {{ type = "digits", max = 6, secret = true }}
        fields.note = {{ type = "text", regex = "[a-z ]+", max = 100 }}
        steps = [{{ run = ["/bin/cat"], stdin = "{{who}} {{note}}\\n" }}]
        """
    write_map(jobs.jobs_file, text + textwrap.dedent(extra))
    return jobs
