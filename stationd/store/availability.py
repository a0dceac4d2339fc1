"""Whether the database answers, and one line in the log per change of that (issue 10, item 9).

A database that is away (the PostgreSQL server stopped, the network down, SQLite's disk full or
failing) is a state of the station, not an error of each thing that tried it: every worker that
meets it hands the error to one `DatabaseAvailability`, which logs "lost" once (the traceback at
DEBUG), "still away" every `remind_s`, and "back" once — instead of a traceback per try.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from stationd.store.database import Store, StoreError
from stationd.store.unavailable import database_unavailable, first_line

log = logging.getLogger(__name__)

#: Errors that mean the database can't be reached or used now (the pool's timeout too: every
#: connection is stuck in a database that does not answer).
_AWAY = (OperationalError, InterfaceError, PendingRollbackError, PoolTimeoutError, StoreError)

#: While the database stays away, the log says so again this often (seconds).
REMIND_S = 300.0


def ping(store: Store) -> None:
    """Ask the database one trivial question; raises what the driver raised when it can't."""
    with store.read() as conn:
        conn.execute(text("SELECT 1"))


class DatabaseAvailability:
    """The station's one view of whether its database answers, told by whoever tried it.

    `lost(err, who)` when a database error (`store.unavailable.database_unavailable`) stopped
    `who`; `answered()` when it answered. Each change goes to the log once and to
    `on_change(available)`.
    """

    def __init__(
        self,
        *,
        remind_s: float = REMIND_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remind_s = remind_s
        self._clock = clock
        self._lock = threading.Lock()
        self._away_since: float | None = None
        self._reminded: float = 0.0
        #: The driver's words for why the database is away ("" while it answers).
        self.reason = ""
        #: Called with False when the database goes away and True when it is back (outside
        #: the lock, in the thread that noticed).
        self.on_change: Callable[[bool], None] = lambda _available: None

    @property
    def away(self) -> bool:
        return self._away_since is not None

    def away_for_s(self) -> float:
        """Seconds since the database went away; 0 while it answers."""
        since = self._away_since
        return 0.0 if since is None else self._clock() - since

    def lost(self, err: BaseException, who: str) -> bool:
        """`who` could not use the database because of `err`. Returns False (and logs nothing)
        when `err` is not the database being away: the caller logs its own error then."""
        if not database_unavailable(err):
            return False
        now = self._clock()
        reason = first_line(err)
        with self._lock:
            first = self._away_since is None
            if first:
                self._away_since = self._reminded = now
            self.reason = reason
            remind = not first and now - self._reminded >= self.remind_s
            if remind:
                self._reminded = now
            since = self._away_since
        if first:
            log.warning("database lost (%s): %s", who, reason)
            log.debug("database lost (%s)", who, exc_info=err)
            self.on_change(False)
        elif remind:
            log.warning("database still away after %d min: %s", (now - since) // 60, reason)
        return True

    def answered(self) -> None:
        """The database answered: if it was away, it is back."""
        with self._lock:
            since = self._away_since
            if since is None:
                return
            self._away_since = None
            self.reason = ""
        log.warning("database back after %.0f s", self._clock() - since)
        self.on_change(True)

    def check(self, store: Store, who: str = "health check") -> bool:
        """Ping `store` for `who` and note what it said; True when it answered."""
        try:
            ping(store)
        except Exception as err:
            if not self.lost(err, who):
                raise
            return False
        self.answered()
        return True
