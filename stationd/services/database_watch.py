"""Watches the database for the whole station, so an outage is a state shown, not a death.

A thread asks the database a trivial question every `PROBE_S` and publishes `DatabaseState`
on the bus whenever the answer — or the number of scans waiting for it — changes: the bench
page says within a second that scans are kept, counts them, and shows the catch-up. The
watchdog does not look at the database at all (issue 10, item 2): a station waiting for its
database still reads its scanners.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from stationd.events import Bus, DatabaseState
from stationd.store.availability import DatabaseAvailability
from stationd.store.database import Store
from stationd.ticker import Ticker

log = logging.getLogger(__name__)

#: How often the database is asked whether it answers (seconds): the bench shows an outage
#: within a second.
PROBE_S = 0.4
#: How long the bench goes on saying the kept scans were counted, once they are.
CAUGHT_UP_SHOWN_S = 10.0


class DatabaseWatch:
    """Probes the database in a thread of its own; publishes `DatabaseState` on each change."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        availability: DatabaseAvailability,
        *,
        waiting: Callable[[], int] = lambda: 0,
        probe_s: float = PROBE_S,
    ) -> None:
        self.store = store
        self.bus = bus
        self.availability = availability
        #: How many scans wait for the database (the bench worker's count).
        self.waiting = waiting
        self.probe_s = probe_s
        self._told: DatabaseState | None = None
        self._kept = 0
        self._calm_since: float | None = None
        self._told_lock = threading.Lock()
        self._ticker = Ticker("database-watch", probe_s, self._probe)
        availability.on_change = lambda _available: self.tell()

    @property
    def current(self) -> DatabaseState:
        """The database's state as last published (as it is now, before the first)."""
        told = self._told
        if told is not None:
            return told
        availability = self.availability
        return DatabaseState(not availability.away, self.waiting(), 0, availability.reason)

    def tell(self) -> None:
        """Publish the state if it changed since it was last published."""
        with self._told_lock:
            available = not self.availability.away
            waiting = self.waiting()
            now = time.monotonic()
            if not available or waiting:
                # Scans only pile up while the database is away: the most seen is how many.
                self._kept = max(self._kept, waiting)
                self._calm_since = None
            elif self._kept:
                if self._calm_since is None:
                    self._calm_since = now
                elif now - self._calm_since >= CAUGHT_UP_SHOWN_S:
                    self._kept = 0
            state = DatabaseState(available, waiting, self._kept, self.availability.reason)
            if state == self._told:
                return
            self._told = state
        self.bus.publish(state)

    def check(self, who: str = "database watch") -> bool:
        """Probe once now (for `who`, named in the log if it finds the database away); True
        when the database answered."""
        answered = self.availability.check(self.store, who)
        self.tell()
        return answered

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def _probe(self) -> None:
        try:
            self.check()
        except Exception:
            # Not the database being away (that is a state): a fault to see in the log.
            log.exception("database watch: the probe failed")
