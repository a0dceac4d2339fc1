"""The queue of one process's SQLite writers: served in the order they came.

SQLite has one write lock per file. Writers of one process wait for it here, not in SQLite's
busy handler (which sleeps 1, 2, 5 … 100 ms between tries, so a writer went on late after the
lock was free). A plain lock is not enough either: a thread that writes in many short
transactions (a pack-script run, issue 10) releases and takes it again at once, before a waiting
thread has even woken — the bench's scan would wait for the whole run after all. Here a writer
that releases while others wait hands the lock to the first of them, and queues behind them
if it wants it again; and a background writer lets every other writer go first.
"""

from __future__ import annotations

import threading
import time
from collections import deque

#: A background writer goes on only after the other writers have left the lock alone this
#: long: a bench working through a backlog of scans has short gaps between its writes.
BACKGROUND_GRACE_S = 0.005
#: How long a background writer lets others go first before it takes its turn in the queue
#: like any writer: a bench that writes without pause must not stop a run for good.
BACKGROUND_PATIENCE_S = 0.1


class WriteQueue:
    """A first-come, first-served lock for the writers of one process; re-entrant per thread.

    A background writer (`acquire(background=True)`: a pack-script run's transactions) goes
    after every other writer: only when none waits and none has held the lock for
    `BACKGROUND_GRACE_S` — or, after `BACKGROUND_PATIENCE_S`, in its turn like any writer.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[int] = deque()
        self._background = 0
        self._last_foreground = 0.0  # when a foreground writer last let go (monotonic)
        self._owner_background = False

    def acquire(self, timeout: float, *, background: bool = False) -> bool:
        """Wait (up to `timeout` seconds) for this thread's turn; False if it did not come."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            deadline = time.monotonic() + timeout
            if background and self._wait_background(me, deadline):
                return True
            if self._owner is None and not self._waiting:
                self._take(me, background=False)
                return True
            self._waiting.append(me)
            try:
                while self._owner is not None or self._waiting[0] != me:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                self._take(me, background=False)
                return True
            finally:
                self._waiting.remove(me)
                if self._owner != me:  # gave up: the next in line may be first now
                    self._cond.notify_all()

    def _wait_background(self, me: int, deadline: float) -> bool:
        """Wait as a background writer; False when its patience ran out (it queues then)."""
        self._background += 1
        try:
            until = min(deadline, time.monotonic() + BACKGROUND_PATIENCE_S)
            while True:
                now = time.monotonic()
                quiet = self._last_foreground + BACKGROUND_GRACE_S - now
                if self._owner is None and not self._waiting and quiet <= 0:
                    self._take(me, background=True)
                    return True
                left = until - now
                if left <= 0:
                    return False
                self._cond.wait(min(left, quiet) if self._owner is None and quiet > 0 else left)
        finally:
            self._background -= 1

    def _take(self, me: int, *, background: bool) -> None:
        self._owner, self._depth, self._owner_background = me, 1, background

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("the write queue released by a thread that does not hold it")
            self._depth -= 1
            if self._depth == 0:
                if not self._owner_background:
                    self._last_foreground = time.monotonic()
                self._owner = None
                if self._waiting or self._background:
                    self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """How many (foreground) writers wait for their turn now."""
        return len(self._waiting)


__all__ = ["WriteQueue"]
