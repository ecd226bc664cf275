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


class Timer:
    """A pending call; cancel() keeps it from running."""

    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


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
        timer = Timer(deadline, callback)
        heapq.heappush(self._timers, (deadline, next(self._sequence), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(time.monotonic() + delay, callback)

    def run_once(self, max_wait: float | None = None) -> None:
        """Wait for events or the next timer, then dispatch what is ready."""
        wait = -1.0 if max_wait is None else max_wait
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
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
            if not timer.cancelled:
                timer.cancel()
                self._call(timer.callback)

    def _call(self, callback: Callable[..., None], *args: int) -> None:
        try:
            callback(*args)
        except Exception as exc:
            if self.on_error is None:
                raise
            self.on_error(callback, exc)

    def close(self) -> None:
        self._epoll.close()
