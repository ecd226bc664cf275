"""The daemon's place in the CPU scheduler: the lowest real-time priority.

Why: when a task wakes another, the scheduler tends to queue the wakee on
the waker's CPU. A step that execs (ending posix_spawn's vfork wait) or
exits wakes the daemon, and the daemon was then often queued behind that
very step while the other CPU sat idle. The trace on a 2-CPU machine
(`perf sched timehist`) showed waits of 0.06 ms, and up to 0.6 ms when the
daemon waited out a whole step. A SCHED_FIFO task is placed on a CPU where
it can run at once, so the daemon answers each step's end without delay;
docs/benchmarks.md has the figures.

What the steps get: SCHED_RESET_ON_FORK puts every child of the daemon
back at SCHED_OTHER and nice 0 before it runs a single instruction of its
own, so no program a job runs is real-time. Priority 1 is the lowest
real-time priority: any real-time task the machine already has (an audio
server, a watchdog) comes first. The daemon does little work per wake-up
and then sleeps; if a fault ever kept it busy, the kernel's real-time
throttling (kernel.sched_rt_runtime_us) still leaves other tasks their share.
"""

import os

REALTIME_PRIORITY = 1


def is_realtime(pid: int = 0) -> bool:
    """True if `pid` (0: this process) runs SCHED_FIFO with its children reset to normal."""
    policy = os.sched_getscheduler(pid)
    return policy == os.SCHED_FIFO | os.SCHED_RESET_ON_FORK


def make_realtime(pid: int = 0) -> str | None:
    """Put `pid` (0: this process) at the lowest real-time priority; None, or why it could not.

    Needs root or CAP_SYS_NICE (or an RLIMIT_RTPRIO of at least 1).
    """
    try:
        os.sched_setscheduler(pid, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(REALTIME_PRIORITY))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
