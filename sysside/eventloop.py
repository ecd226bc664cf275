"""A minimal epoll loop: fd callbacks and timers, one thread, no polling.

epoll is used directly rather than `selectors` because the daemon must
watch a result FIFO for its reader going away while it has nothing to
write: epoll reports EPOLLERR on a pipe's write end with no readers even
when no event is asked for, and `selectors` cannot register zero events.
"""

import heapq
import itertools
import select
import time
from collections.abc import Callable

Handler = Callable[[int], None]

READ = select.EPOLLIN
WRITE = select.EPOLLOUT
ERROR = select.EPOLLERR | select.EPOLLHUP
# Fewer cancelled timers than this are left to leave the heap by themselves.
COMPACT_MIN = 64


def _nothing() -> None:
    pass


class Timer:
    """A pending call; cancel() keeps it from running."""

    __slots__ = ("callback", "cancelled", "deadline", "loop")

    def __init__(self, deadline: float, callback: Callable[[], None], loop: "EventLoop | None" = None) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False
        self.loop = loop

    def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        # A cancelled timer waits in the heap until its deadline (a job's
        # timeout, minutes away): it must not keep its job alive till then.
        self.callback = _nothing
        if self.loop is not None:
            self.loop._timer_cancelled()
            self.loop = None


ErrorHandler = Callable[[Callable[..., None], BaseException], None]


class EventLoop:
    """Dispatches epoll events to handlers and runs due timers.

    An exception from a handler or timer goes to `on_error` (with the
    callable that raised it), never up through run_once: one job's fault
    must not stop the loop that serves all the others.
    """

    def __init__(self, on_error: ErrorHandler | None = None) -> None:
        self.on_error = on_error
        self._epoll = select.epoll()
        self._handlers: dict[int, Handler] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._cancelled_timers = 0
        self._sequence = itertools.count()

    def add(self, fd: int, events: int, handler: Handler) -> None:
        self._epoll.register(fd, events)
        self._handlers[fd] = handler

    def modify(self, fd: int, events: int) -> None:
        self._epoll.modify(fd, events)

    def remove(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(deadline, callback, self)
        heapq.heappush(self._timers, (deadline, next(self._sequence), timer))
        return timer

    @property
    def timers_held(self) -> int:
        """Timers in the heap, cancelled ones not yet dropped included."""
        return len(self._timers)

    def _timer_cancelled(self) -> None:
        # Cancelled timers leave the heap lazily; when they are most of it
        # (every finished job leaves its timeout behind), rebuild it.
        self._cancelled_timers += 1
        if self._cancelled_timers > COMPACT_MIN and self._cancelled_timers * 2 > len(self._timers):
            self._timers = [entry for entry in self._timers if not entry[2].cancelled]
            heapq.heapify(self._timers)
            self._cancelled_timers = 0

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(time.monotonic() + delay, callback)

    def run_once(self, max_wait: float | None = None) -> None:
        """Wait for events or the next timer, then dispatch what is ready."""
        wait = -1.0 if max_wait is None else max_wait
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
            self._cancelled_timers -= 1
        if self._timers:
            until_timer = max(0.0, self._timers[0][0] - time.monotonic())
            wait = until_timer if wait < 0 else min(wait, until_timer)
        try:
            ready = self._epoll.poll(wait)
        except InterruptedError:
            ready = []
        # Snapshot the handlers: one earlier in this batch may close an fd
        # and a new registration may reuse its number; the stale event must
        # not reach the new handler.
        batch = [(fd, events, self._handlers.get(fd)) for fd, events in ready]
        for fd, events, handler in batch:
            if handler is not None and self._handlers.get(fd) is handler:
                self._call(handler, events)
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                self._cancelled_timers -= 1
            else:
                callback = timer.callback
                timer.cancelled, timer.loop = True, None
                self._call(callback)

    def _call(self, callback: Callable[..., None], *args: int) -> None:
        try:
            callback(*args)
        except Exception as exc:
            if self.on_error is None:
                raise
            self.on_error(callback, exc)

    def close(self) -> None:
        self._epoll.close()
