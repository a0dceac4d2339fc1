"""Watches the sync with central for the bench (issue 11): whether the push and the pull reach
central, and how many changes wait for it.

A thread looks every `LOOK_S` and publishes `SyncState` on the bus whenever that changes, so
the bench page says within a second or two of the push or the pull noticing that central is
away ("offline since …, N changes waiting"), then shows the catch-up once it is back (the push
is woken by whichever part of sync hears central first: sync.answers). A single bench (no
`[sync]`) has no watch.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Protocol

from stationd.events import Bus, SyncState
from stationd.ticker import Ticker

log = logging.getLogger(__name__)

#: How often the push's and the pull's states are looked at, s.
LOOK_S = 0.5


class PushSide(Protocol):
    """What the watch reads of the push (sync.push.PushWorker)."""

    offline_since: datetime | None

    def waiting(self) -> int: ...


class PullSide(Protocol):
    """What the watch reads of the pull (sync.pull.PullWorker)."""

    away_since: datetime | None


class SyncWatch:
    """Publishes `SyncState` on each change of the push's and the pull's view of central."""

    def __init__(
        self, bus: Bus, push: PushSide, pull: PullSide | None = None, *, look_s: float = LOOK_S
    ) -> None:
        self.bus = bus
        self.push = push
        self.pull = pull
        self.look_s = look_s
        self._told: SyncState | None = None
        self._kept = 0
        self._since: datetime | None = None
        self._lock = threading.Lock()
        self._ticker = Ticker("sync-watch", look_s, self._look)

    @property
    def current(self) -> SyncState:
        """The state as last published (central answering, nothing waiting, before the first)."""
        return self._told or SyncState(None)

    def tell(self) -> None:
        """Publish the state if it changed since it was last published."""
        with self._lock:
            sides = [self.push.offline_since]
            if self.pull is not None:
                sides.append(self.pull.away_since)
            away = [since for since in sides if since is not None]
            # One outage has one start, however the push and the pull take turns noticing it.
            self._since = (self._since or min(away)) if away else None
            since = self._since
            waiting = self.push.waiting()
            if since is not None:
                # Changes only pile up while central is away: the most seen is how many.
                self._kept = max(self._kept, waiting)
            elif not waiting:
                self._kept = 0
            state = SyncState(since, waiting, self._kept)
            if state == self._told:
                return
            self._told = state
        self.bus.publish(state)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def _look(self) -> None:
        try:
            self.tell()
        except Exception as err:
            # The local store away is the database watch's banner; this one waits for it.
            log.debug("sync watch: the state could not be read: %s", err)


__all__ = ["LOOK_S", "PullSide", "PushSide", "SyncWatch"]
