"""The queue of one process's SQLite writers: served in the order they came.

SQLite has one write lock per file. Writers of one process wait for it here, not in SQLite's
busy handler (which sleeps 1, 2, 5 … 100 ms between tries, so a writer went on late after the
lock was free). A plain lock is not enough either: a thread that writes in many short
transactions (a pack-script run, issue 10) releases and takes it again at once, before a waiting
thread has even woken — the bench's scan would wait for the whole run after all. Here a writer
that releases while others wait hands the lock to the first of them, and queues behind them
if it wants it again.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class WriteQueue:
    """A first-come, first-served lock for the writers of one process; re-entrant per thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[int] = deque()

    def acquire(self, timeout: float) -> bool:
        """Wait (up to `timeout` seconds) for this thread's turn; False if it did not come."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._waiting:
                self._owner, self._depth = me, 1
                return True
            self._waiting.append(me)
            deadline = time.monotonic() + timeout
            try:
                while self._owner is not None or self._waiting[0] != me:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                self._owner, self._depth = me, 1
                return True
            finally:
                self._waiting.remove(me)
                if self._owner != me:  # gave up: the next in line may be first now
                    self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("the write queue released by a thread that does not hold it")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                if self._waiting:
                    self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """How many writers wait for their turn now."""
        return len(self._waiting)


__all__ = ["WriteQueue"]
