"""The bench use case: every scan — from a scanner or typed in the kiosk — comes through here.

`BenchService.handle_scan` classifies the code, lets core decide, and writes the outcome in one
transaction: the line count, the station's open order, the scan journal and the audit event.
Only after the commit does the bench page hear of it, so nothing shown as packed can be lost.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import Connection, insert, select, update

from stationd.clock import utcnow
from stationd.core.barcodes import Classified, CodeKind, classify
from stationd.core.bench import BenchOutcome, decide_scan
from stationd.core.bench import error as error_outcome
from stationd.core.orders import Order
from stationd.events import Bus, OrderChanged, ScanOutcome, ScanRead, ScanRejected
from stationd.store.database import Store
from stationd.store.orders import load_order, record_event, save_line_counts
from stationd.store.tables import scan_journal, stations

log = logging.getLogger(__name__)

#: Codes longer than this are not stored whole in the journal.
MAX_CODE_CHARS = 200


def journal_text(code: str) -> str:
    """The code as the journal keeps it: control characters escaped (PostgreSQL refuses NUL,
    and an admin reading the journal must see them), cut to MAX_CODE_CHARS."""
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in code[:MAX_CODE_CHARS])
    return text[:MAX_CODE_CHARS]


class BenchService:
    """The packing bench of one station."""

    def __init__(self, store: Store, bus: Bus, station: str, *, claim_lease_s: float = 300) -> None:
        self.store = store
        self.claim_lease_s = claim_lease_s
        self.bus = bus
        self.station = station
        # One scan at a time per bench: a scanner and a finger on the screen may race.
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: The last outcome and its number, for a bench page drawn later (or twice); one
        #: tuple, replaced whole, so a reader never pairs a new outcome with an old number.
        self.last: tuple[int, BenchOutcome | None] = (0, None)

    # -- the use case -----------------------------------------------------
    def handle_scan(self, scan: ScanRead) -> BenchOutcome:
        """Decide and record one scan; publish `ScanOutcome` (and `OrderChanged`) after commit."""
        classified = classify(scan.code, scan.symbology)
        with self._lock:
            with self.store.write() as conn:
                current_id, last_line_id = self._station_row(conn)
                scanned = None
                if classified.kind is CodeKind.ORDER and classified.order_id is not None:
                    # Only the order named is locked: two benches swapping orders must not
                    # each hold one row and wait for the other's (a deadlock on PostgreSQL).
                    scanned = load_order(conn, classified.order_id, for_update=True)
                    current = scanned if current_id == classified.order_id else None
                    if current is None and current_id:
                        current = load_order(conn, current_id)
                else:
                    current = load_order(conn, current_id, for_update=True) if current_id else None
                open_at = self._open_elsewhere(conn, scanned.id) if scanned else None
                outcome = decide_scan(classified, current, scanned, last_line_id, open_at)
                self._save(conn, scan, classified, outcome, current)
            self._remember(outcome)
        self._announce(scan, classified, outcome)
        return outcome

    def handle_rejected(self, rejected: ScanRejected) -> BenchOutcome:
        """A scanner delivered bytes that were no scan: tell the packer, journal it."""
        with self._lock:
            with self.store.write() as conn:
                current_id, _ = self._station_row(conn)
                outcome = error_outcome(f"Unreadable scan: {rejected.reason}.", current_id)
                self._journal(
                    conn,
                    ScanRead(rejected.raw.decode("latin-1"), None, rejected.source, rejected.at),
                    "rejected",
                    outcome,
                )
            self._remember(outcome)
        self.bus.publish(
            ScanOutcome(False, outcome.message, current_id, source=rejected.source, sound="error")
        )
        return outcome

    def _remember(self, outcome: BenchOutcome) -> None:
        self.last = (self.last[0] + 1, outcome)

    def current_order(self) -> Order | None:
        """The order open at this bench, as the database has it now."""
        with self.store.read() as conn:
            current_id, _ = self._station_row(conn, create=False)
            return load_order(conn, current_id) if current_id else None

    # -- the worker that takes scans off the bus --------------------------
    def start(self) -> None:
        """Handle every `ScanRead` / `ScanRejected` on the bus in a thread of its own."""
        if self._thread is not None:
            return
        self._stop.clear()
        events = self.bus.queue(ScanRead, ScanRejected, maxsize=10_000)

        def run() -> None:
            with events:
                while not self._stop.is_set():
                    event = events.get(timeout=0.2)
                    if event is None:
                        continue
                    try:
                        if isinstance(event, ScanRead):
                            self.handle_scan(event)
                        elif isinstance(event, ScanRejected):
                            self.handle_rejected(event)
                    except Exception:
                        # The database may be down; the scan stays in the log for a person.
                        log.exception("scan %r could not be handled", event)
                        message = "The scan could not be saved: scan it again, see the log."
                        with self._lock:
                            self._remember(error_outcome(message))
                        self.bus.publish(
                            ScanOutcome(
                                False, message, sound="error", code=getattr(event, "code", "")
                            )
                        )

        self._thread = threading.Thread(target=run, name="bench", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    # -- inside the transaction -------------------------------------------
    def _station_row(self, conn: Connection, create: bool = True) -> tuple[int | None, int | None]:
        row = conn.execute(
            select(stations.c.current_order_id, stations.c.last_line_id).where(
                stations.c.name == self.station
            )
        ).first()
        if row is None:
            if create:
                conn.execute(insert(stations).values(name=self.station))
            return None, None
        return row[0], row[1]

    def _open_elsewhere(self, conn: Connection, order_id: int) -> str | None:
        """R17: the bench that has `order_id` open, if it was active within the lease.

        The caller holds the order's row lock, so two benches opening one order take turns
        here and the second sees the first's claim.
        """
        fresh_since = utcnow() - timedelta(seconds=self.claim_lease_s)
        return conn.execute(
            select(stations.c.name).where(
                stations.c.current_order_id == order_id,
                stations.c.name != self.station,
                stations.c.last_seen_at >= fresh_since,
            )
        ).scalar()

    def _save(
        self,
        conn: Connection,
        scan: ScanRead,
        classified: Classified,
        outcome: BenchOutcome,
        current: Order | None,
    ) -> None:
        self._journal(conn, scan, classified.kind.value, outcome)
        if not outcome.ok:
            return
        values: dict[str, object] = {"last_seen_at": utcnow()}
        if outcome.opened:
            values |= {"current_order_id": outcome.order_id, "last_line_id": None}
        elif outcome.closed:
            values |= {"current_order_id": None, "last_line_id": None}
        elif outcome.line_id is not None and current is not None:
            save_line_counts(conn, current, [outcome.line_id])
            values["last_line_id"] = outcome.line_id if outcome.delta > 0 else None
            record_event(
                conn,
                "order.item_packed" if outcome.delta > 0 else "order.item_unpacked",
                station=self.station,
                order_id=current.id,
                payload={"line_id": outcome.line_id, "code": scan.code},
            )
        conn.execute(update(stations).where(stations.c.name == self.station).values(**values))

    def _journal(self, conn: Connection, scan: ScanRead, kind: str, outcome: BenchOutcome) -> None:
        conn.execute(
            insert(scan_journal).values(
                at=scan.at,
                station=self.station,
                source=scan.source[:100],
                code=journal_text(scan.code),
                symbology=(scan.symbology or None) and scan.symbology[:4],
                kind=kind,
                ok=outcome.ok,
                message=outcome.message,
                order_id=outcome.order_id,
                line_id=outcome.line_id,
                delta=outcome.delta,
            )
        )

    def _announce(self, scan: ScanRead, classified: Classified, outcome: BenchOutcome) -> None:
        self.bus.publish(
            ScanOutcome(
                ok=outcome.ok,
                message=outcome.message,
                order_id=outcome.order_id,
                code=scan.code,
                source=scan.source,
                sound=outcome.sound,
            )
        )
        if outcome.ok and outcome.order_id is not None and (outcome.line_id or outcome.opened):
            self.bus.publish(
                OrderChanged(outcome.order_id, "packed" if outcome.delta else "opened")
            )
