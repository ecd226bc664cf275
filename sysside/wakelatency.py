"""Quick wake-ups while jobs start: a CPU latency request (/dev/cpu_dma_latency).

Why: a job crosses from process to process several times (the client wakes
the daemon, each step is started on a CPU and wakes the daemon when it
ends, the daemon wakes the client), and each crossing often lands on a CPU
that has gone idle. How long an idle CPU takes to wake is the machine's
choice: a virtual machine whose idle CPUs halt at once (cpuidle-haltpoll
with guest_halt_poll_ns=0, as on the machine of docs/benchmarks.md) pays
an exit to the hypervisor and back each time, 50-60 µs, and a job of
three steps pays it five or six times. The direct run a user would write
pays it hardly at all: its steps run on the CPU their parent waits on.

What: the kernel's PM QoS interface. While a value is written to an open
/dev/cpu_dma_latency, no idle CPU enters a state that takes longer than
that many µs to leave; at 0 an idle CPU polls instead of halting. The
request is the whole machine's, so it is held only while jobs start: from
a job's start until HOLD seconds after the latest start. A report of an
hour holds it for its first HOLD seconds only, an idle daemon never, and a
steady stream of short jobs throughout (idle CPUs then poll rather than
sleep: the trade `--wake-latency off` declines).

Rules:
1. Opening the file needs root; `hole up` opens it and hands the daemon,
   which runs under its own user, the open file.
2. Writing PM_QOS_DEFAULT lets the request go without closing the file
   (which the daemon, no longer root, could not open again).
3. Nothing here fails a job: a request the kernel refuses is logged once
   and the daemon goes on without it; one it cannot let go is withdrawn
   by closing the file.
4. The first job after a quiet spell pays its first wake-ups before the
   request is in force; the benchmark, which holds the request for every
   row, measures jobs in a stream.
5. A step runs under the daemon's user and may signal it: a daemon
   stopped with SIGSTOP keeps the request until it is continued or dies
   (docs/jail.md).
"""

import errno
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager

DEVICE = "/dev/cpu_dma_latency"
HOLD = 0.25
# The kernel's "no constraint" for CPU latency (PM_QOS_CPU_LATENCY_DEFAULT_VALUE).
NO_CONSTRAINT = 2_000_000_000


def parse_setting(text: str) -> int | None:
    """`off` -> None; a number of µs (0 and up) -> that number; ValueError otherwise."""
    if text.strip().lower() == "off":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < NO_CONSTRAINT:
        raise ValueError(f"wake latency must be off or 0 to {NO_CONSTRAINT - 1} µs, not {text!r}")
    return value


def open_request() -> int:
    """Open the latency request file for writing (root only); raise OSError."""
    return os.open(DEVICE, os.O_WRONLY | os.O_CLOEXEC)


class WakeLatency:
    """One request, held from each job start until HOLD after the latest."""

    def __init__(self, fd: int, microseconds: int, hold: float = HOLD) -> None:
        self.fd = fd
        self.value = struct.pack("=i", microseconds)
        self.microseconds = microseconds
        self.hold = hold
        self.held = False
        self.failed: str | None = None
        self._until = 0.0

    def job_started(self, now: float) -> bool:
        """Hold the request until HOLD after `now`; True if it was not held and now is (arm a check)."""
        self._until = now + self.hold
        if self.held or self.failed is not None:
            return False
        self.held = self._write(self.value)
        return self.held

    def seconds_left(self, now: float) -> float:
        """How long the request is still due; 0 once it has been let go."""
        if not self.held:
            return 0.0
        if now < self._until:
            return self._until - now
        self.release()
        return 0.0

    def release(self) -> None:
        if self.held:
            self.held = False
            if not self._write(struct.pack("=i", NO_CONSTRAINT)):
                # Closing the file withdraws the request (it is not asked
                # for again). /dev/null takes its place under the same fd
                # number, which its owner still closes at the end.
                null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
                os.dup2(null, self.fd, inheritable=False)
                os.close(null)

    def _write(self, value: bytes) -> bool:
        try:
            written = os.write(self.fd, value)
        except OSError as exc:
            self.failed = os.strerror(exc.errno or errno.EIO)
            return False
        if written != len(value):
            self.failed = "short write"
            return False
        return True


@contextmanager
def requested(microseconds: int | None) -> Iterator[str]:
    """Hold a request for as long as the block runs; yield what was done, in words.

    For the benchmark: every row then runs with the machine in the state
    the daemon puts it in while jobs start, baselines included.
    """
    if microseconds is None:
        yield "not requested (--wake-latency off): idle CPUs as the machine has them"
        return
    try:
        fd = open_request()
    except OSError as exc:
        yield f"not requested ({DEVICE}: {exc.strerror}): idle CPUs as the machine has them"
        return
    try:
        try:
            os.write(fd, struct.pack("=i", microseconds))
        except OSError as exc:
            yield f"not requested ({DEVICE} refused it: {exc.strerror}): idle CPUs as the machine has them"
            return
        yield f"{microseconds} µs asked of the kernel ({DEVICE}) for every row, as the daemon asks while jobs start"
    finally:
        # Closing the file withdraws the request.
        os.close(fd)
