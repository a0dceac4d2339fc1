"""The thread that feeds the bench use case the scans the scanners read (R12, R19).

It takes every `ScanRead` / `ScanRejected` off the bus in order. While the database can't take
a scan (busy with a long pack-script run, locked, away) it tries again every `RETRY_S`: the
scans after it wait their turn, so none is dropped or handled out of order. Asked to stop, it
goes on with the scans read before the scanners stopped for up to `DRAIN_S`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from stationd.core.text import sentence
from stationd.events import Bus, EventQueue, ScanRead, ScanRejected
from stationd.services.bench import BenchService, ScanNotSaved

log = logging.getLogger(__name__)

#: While the database can't take a scan, it is tried again this often (seconds).
RETRY_S = 0.25
#: How long a stopping bench goes on handling the scans read before the scanners stopped.
DRAIN_S = 10.0


class BenchWorker:
    """Hands the bus's scans to one bench, one at a time, in a thread of its own."""

    def __init__(self, bench: BenchService, bus: Bus) -> None:
        self.bench = bench
        self.bus = bus
        #: Whether a scan read at a moment is not the bench's: a person was testing the
        #: scanners on the devices page then. A code typed on the bench page always is.
        self.scans_diverted: Callable[[datetime], bool] = lambda _at: False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._events: EventQueue | None = None
        #: Whether the scan in hand waits for the database (counted by `waiting`).
        self._holding = False

    def start(self) -> None:
        """Handle every `ScanRead` / `ScanRejected` on the bus in a thread of its own."""
        if self._thread is not None:
            return
        self._stop.clear()
        events = self._events = self.bus.queue(ScanRead, ScanRejected, maxsize=10_000)

        def run() -> None:
            with events:
                deadline = None
                while True:
                    if deadline is None and self._stop.is_set():
                        # Stopping: the scanners are stopped already; what they read is
                        # still handled, for a while.
                        deadline = time.monotonic() + DRAIN_S
                    if deadline is not None and time.monotonic() > deadline:
                        left = events.qsize()
                        if left:
                            log.warning("bench stopped with %d scans not handled", left)
                        return
                    event = events.get(timeout=0 if deadline else 0.2)
                    if event is None:
                        if deadline is not None:
                            return  # all handled
                        continue
                    if self.scans_diverted(event.at):
                        continue  # read while the devices page tested the scanners
                    self._handle_until_saved(event, deadline)
                    self._holding = False  # saved (or given up): it waits no more

        self._thread = threading.Thread(target=run, name="bench", daemon=True)
        self._thread.start()

    def _handle_until_saved(self, event: ScanRead | ScanRejected, deadline: float | None) -> None:
        """Handle one scan from a scanner; while the database can't take it, try again. Gives
        up only when stopping past `deadline`."""
        told = False
        while True:
            try:
                if isinstance(event, ScanRead):
                    self.bench.handle_scan(event)
                else:
                    self.bench.handle_rejected(event)
                return
            except ScanNotSaved as err:
                self._holding = True
                if not told:
                    told = True
                    log.warning("scan waits for the database: %s", err)
                    self.bench.tell(
                        sentence(
                            "The database is busy: the scan waits and counts as soon as it can."
                        ),
                        code=getattr(event, "code", ""),
                    )
                if deadline is None and self._stop.is_set():
                    deadline = time.monotonic() + DRAIN_S  # stopping while this one waits
                if deadline is not None and time.monotonic() > deadline:
                    log.error("scan %r not saved: the bench stopped while it waited", event)
                    return
                time.sleep(RETRY_S)
            except Exception:
                # Not the database being busy: a scan this code could not handle. It stays in
                # the log for a person; the next scan goes on.
                log.exception("scan %r could not be handled", event)
                self.bench.tell(
                    sentence("The scan could not be saved: scan it again, see the log."),
                    code=getattr(event, "code", ""),
                )
                return

    @property
    def waiting(self) -> int:
        """How many scans wait to be counted: the one in hand while the database can't take
        it, and those read after it."""
        events = self._events
        queued = events.qsize() if events is not None else 0
        return queued + (1 if self._holding else 0)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop taking scans; those already read are handled first (for up to `DRAIN_S`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=DRAIN_S + 2)
            self._thread = None
