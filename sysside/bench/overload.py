"""Overload: more clients than the daemon has job slots, each answer classified and timed.

Rules:
1. Every request gets a deadline (the job's timeout and a margin). One
   answered after it is hung; one with no HTTP answer at all (a refused
   or dropped connection) is lost. Both must be zero.
2. An answer is the job's output (200 with the output in the page), a
   busy page (503 saying so), or other (any other status: counted by code).
3. Each client is a thread with its own keep-alive connection, as a
   browser has; http.client reconnects by itself after the server closes.
"""

import http.client
import threading
import time
from dataclasses import dataclass, field

from sysside.bench.targets import HOST, Target, post


@dataclass
class Tally:
    """What came back, over all clients."""

    ok: int = 0
    busy: int = 0
    lost: int = 0
    hung: int = 0
    other: dict[int, int] = field(default_factory=dict)
    ok_ms: list[float] = field(default_factory=list)
    busy_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return self.ok + self.busy + self.lost + self.hung + sum(self.other.values())


def offer(target: Target, busy_mark: str, clients: int, seconds: float, deadline: float) -> Tally:
    """`clients` clients POST `target` back to back for `seconds` seconds."""
    tally = Tally()
    end = time.monotonic() + seconds
    threads = [threading.Thread(target=_client, args=(target, busy_mark, end, deadline, tally)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A client's last request may start just before the end.
        thread.join(seconds + deadline + 10)
    return tally


def _client(target: Target, busy_mark: str, end: float, deadline: float, tally: Tally) -> None:
    expect, busy = target.expect.encode(), busy_mark.encode()
    connection = http.client.HTTPConnection(HOST, target.port, timeout=deadline)
    try:
        while time.monotonic() < end:
            start = time.perf_counter()
            try:
                answer = post(target, deadline, connection)
            except TimeoutError:
                _count(tally, "hung")
                connection.close()
                continue
            except (OSError, http.client.HTTPException):
                _count(tally, "lost")
                connection.close()
                continue
            elapsed_ms = (time.perf_counter() - start) * 1000
            with tally.lock:
                if elapsed_ms > deadline * 1000:
                    tally.hung += 1
                elif answer.status == 200 and expect in answer.body:
                    tally.ok += 1
                    tally.ok_ms.append(elapsed_ms)
                elif answer.status == 503 and busy in answer.body:
                    tally.busy += 1
                    tally.busy_ms.append(elapsed_ms)
                else:
                    tally.other[answer.status] = tally.other.get(answer.status, 0) + 1
    finally:
        connection.close()


def _count(tally: Tally, name: str) -> None:
    with tally.lock:
        setattr(tally, name, getattr(tally, name) + 1)
