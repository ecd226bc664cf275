"""The daemon's event loop: timers run in order, and cancelled ones cost nothing for long."""

import gc
import time
import weakref

from sysside.eventloop import COMPACT_MIN, EventLoop


class Job:
    """Stands for a job a timer refers to."""

    def __init__(self) -> None:
        self.fired = False

    def on_timeout(self) -> None:
        self.fired = True


def test_due_timers_run_in_deadline_order_and_cancelled_ones_do_not() -> None:
    loop = EventLoop()
    ran: list[str] = []
    now = time.monotonic()
    loop.call_at(now + 0.02, lambda: ran.append("second"))
    loop.call_at(now + 0.01, lambda: ran.append("first"))
    loop.call_at(now + 0.015, lambda: ran.append("cancelled")).cancel()
    deadline = now + 2
    while len(ran) < 2 and time.monotonic() < deadline:
        loop.run_once(0.05)
    assert ran == ["first", "second"]
    assert loop.timers_held == 0
    loop.close()


def test_a_cancelled_timer_lets_go_of_its_job() -> None:
    # A job's timeout timer stays in the heap until its deadline; the
    # finished job it names must be freed long before that.
    loop = EventLoop()
    job = Job()
    gone = weakref.ref(job)
    loop.call_later(3600, job.on_timeout).cancel()
    del job
    gc.collect()
    assert gone() is None
    loop.close()


def test_cancelled_timers_do_not_pile_up() -> None:
    loop = EventLoop()
    keep = loop.call_later(3600, lambda: None)
    for _ in range(20 * COMPACT_MIN):
        loop.call_later(3600, lambda: None).cancel()
    assert loop.timers_held <= COMPACT_MIN + 2
    assert not keep.cancelled
    loop.close()


def test_a_timer_cancelled_after_it_ran_changes_nothing() -> None:
    loop = EventLoop()
    job = Job()
    timer = loop.call_at(0, job.on_timeout)
    loop.run_once(0)
    assert job.fired
    timer.cancel()
    for _ in range(3):
        loop.call_later(3600, lambda: None).cancel()
    assert loop.timers_held == 3
    loop.close()
