"""The thread that feeds the bench use case the scans the scanners read (R12, R19).

It takes every `ScanRead` / `ScanRejected` off the bus in order. A scan is either saved or
still waiting, never dropped while the scan inbox keeps it: while the database can't take a
scan (busy with a long pack-script run, locked, away, its disk failing or full — see
`store.unavailable`) it tries again every `RETRY_S`, and the scans after it wait their turn.
Asked to stop, it goes on with the scans read before the scanners stopped for up to `DRAIN_S`;
what is still waiting then stays in the inbox for the next start. Only a scan this code can't
handle at all is given up: a line in the log, a message to the packer, and out of the inbox.

A scan read for one order never acts on another. The inbox journals the context each scan was
read in (`read_context`: the order open at the bench then, and whether scans before it still
waited); a scan handed over with a context is applied only if that order is open when it is
saved — or, read behind waiting scans, if those were handled here just before it and all
applied — and is otherwise shown to the packer as not counted.

An outage is logged once per change: the database went away (the traceback once, at DEBUG),
still away every `STILL_AWAY_LOG_S`, back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from stationd.core.text import sentence
from stationd.events import Bus, EventQueue, ScanRead, ScanRejected
from stationd.services.bench import NOT_FOR_THIS_ORDER, BenchService, ScanNotSaved
from stationd.services.scan_inbox import ReadContext, ScanInbox

log = logging.getLogger(__name__)

#: While the database can't take a scan, it is tried again this often (seconds).
RETRY_S = 0.25
#: How long a stopping bench goes on handling the scans read before the scanners stopped.
DRAIN_S = 10.0
#: While the database stays away, the log says so again this often (seconds).
STILL_AWAY_LOG_S = 300.0

_Scan = ScanRead | ScanRejected


class BenchWorker:
    """Hands the bus's scans to one bench, one at a time, in a thread of its own."""

    def __init__(self, bench: BenchService, bus: Bus) -> None:
        self.bench = bench
        self.bus = bus
        #: Whether a scan read at a moment is not the bench's: a person was testing the
        #: scanners on the devices page then. A code typed on the bench page always is.
        self.scans_diverted: Callable[[datetime], bool] = lambda _at: False
        #: The context a scan was read in (the scan inbox's `context_of`); None: apply as is.
        self.context_of: Callable[[_Scan], ReadContext | None] = lambda _scan: None
        #: Called with a scan given up (the scan inbox's `give_up`): it is never handed over
        #: again.
        self.given_up: Callable[[_Scan], None] = lambda _scan: None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._events: EventQueue | None = None
        #: Whether the scan in hand waits for the database (counted by `waiting`).
        self._holding = False
        # A scan is taken and not finished: scans read now are read behind it.
        self._busy = False
        # Whether every scan handled since this worker started was applied (the chain a
        # scan read behind waiting ones relies on), and the order the last one left open.
        self._chain_intact = False
        # The outage as the log has told it: since when (monotonic), last said when.
        self._away_since: float | None = None
        self._away_said = 0.0

    def keeps_scans_in(self, inbox: ScanInbox) -> None:
        """Link this worker and the station's scan inbox: the inbox journals each scan with
        the bench's context as it is read, this worker handles it in that context, and a scan
        it gives up leaves the inbox."""
        inbox.context = self.read_context
        self.context_of = inbox.context_of
        self.given_up = inbox.give_up

    def read_context(self) -> ReadContext:
        """The bench as a scan is read now (called in the scanner's thread, by the inbox)."""
        events = self._events
        waiting = self._busy or (events is not None and events.qsize() > 0)
        return ReadContext(self.bench.open_order_id, self.bench.open_known, waiting)

    def start(self) -> None:
        """Handle every `ScanRead` / `ScanRejected` on the bus in a thread of its own."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._chain_intact = False
        try:
            self.bench.at_bench()  # the open order scans read from now on are read with
        except Exception:
            log.debug("the bench's open order is not known yet", exc_info=True)
        events = self.bus.queue(ScanRead, ScanRejected, maxsize=10_000)
        self._events = events

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
                            log.warning(
                                "bench stopped with %d scans not handled: they wait in the "
                                "scan inbox for the next start",
                                left,
                            )
                        return
                    event = events.get(timeout=0 if deadline else 0.2)
                    if event is None:
                        if deadline is not None:
                            return  # all handled
                        continue
                    self._busy = True
                    try:
                        if self.scans_diverted(event.at):
                            continue  # read while the devices page tested the scanners
                        if not self._handle_until_saved(event, deadline):
                            return  # stopped while the database was away
                    finally:
                        self._busy = False
                        self._holding = False  # saved (or given up): it waits no more

        self._thread = threading.Thread(target=run, name="bench", daemon=True)
        self._thread.start()

    def _handle_until_saved(self, event: _Scan, deadline: float | None) -> bool:
        """Handle one scan from a scanner; while the database can't take it, try again.
        False: the bench stopped past `deadline` with the scan still waiting (in the inbox)."""
        context = self.context_of(event)
        told = False
        while True:
            try:
                # Tried again (`told`): the last try's commit may have taken with only its
                # answer cut off — the bench then shows what the journal has, redoes nothing.
                applied = self._handle(event, context, again=told)
                self._database_back()
                self._chain_intact = applied
                return True
            except ScanNotSaved as err:
                self._holding = True
                self._database_away(err)
                if not told:
                    told = True
                    self.bench.tell(
                        sentence(
                            "The database is busy: the scan waits and counts as soon as it can."
                        ),
                        code=getattr(event, "code", ""),
                    )
                if deadline is None and self._stop.is_set():
                    deadline = time.monotonic() + DRAIN_S  # stopping while this one waits
                if deadline is not None and time.monotonic() > deadline:
                    log.warning(
                        "bench stopped while the database was away: scan %r waits in the "
                        "scan inbox for the next start",
                        event,
                    )
                    return False
                time.sleep(RETRY_S)
            except Exception:
                # Not the database: a scan this code could not handle. It leaves the inbox
                # (else every start would try it again), is logged for a person and told to
                # the packer; the next scan goes on, read behind one that was not applied.
                log.exception("scan %r could not be handled: given up", event)
                self._chain_intact = False
                try:
                    self.given_up(event)
                except Exception:
                    log.exception("scan %r could not be marked given up in the inbox", event)
                self.bench.tell(
                    sentence("The scan could not be saved: scan it again, see the log."),
                    code=getattr(event, "code", ""),
                )
                return True

    def _handle(self, event: _Scan, context: ReadContext | None, again: bool = False) -> bool:
        """Hand one scan to the bench; whether it was applied in the context it was read in."""
        if isinstance(event, ScanRejected):
            self.bench.handle_rejected(event, again=again)
            return True
        if context is None:
            self.bench.handle_scan(event, again=again)  # no inbox, or a line from before contexts
            return True
        if context.waiting and self._chain_intact:
            # Read behind scans this worker has just applied, in order: read for what they
            # left open — the bench's order as the last of them committed it.
            read_with, known = self.bench.open_order_id, self.bench.open_known
        else:
            read_with, known = context.open_order, context.open_known and not context.waiting
        if not known:
            # Read behind scans not applied here (given up, refused, or before a restart),
            # or before the bench knew its order: what it was read for is not known.
            read_with = -1  # no order has it: shown, not applied
        outcome = self.bench.handle_scan(
            event, read_with=read_with, check_read_with=True, again=again
        )
        return outcome.message is not NOT_FOR_THIS_ORDER

    def _database_away(self, err: ScanNotSaved) -> None:
        now = time.monotonic()
        if self._away_since is None:
            self._away_since = self._away_said = now
            log.warning("database can't take scans (%s): they wait and count when it can", err)
            log.debug("the database's error", exc_info=err)
        elif now - self._away_said >= STILL_AWAY_LOG_S:
            self._away_said = now
            waiting = 1 + (self._events.qsize() if self._events is not None else 0)
            log.warning(
                "database still can't take scans after %.0f s (%s): %d scans wait",
                now - self._away_since,
                err,
                waiting,
            )

    def _database_back(self) -> None:
        if self._away_since is not None:
            log.warning(
                "database takes scans again after %.0f s", time.monotonic() - self._away_since
            )
            self._away_since = None

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
