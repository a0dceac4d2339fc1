"""The bench use case: every scan — from a scanner or typed in the kiosk — and every touch on
the bench page comes through here.

`BenchService.handle_scan` classifies the code and `BenchService.count` takes a line's + / −;
after those first functions both are one path (`_run`, R19): load what the bench has open, let
core decide, and write the outcome in one transaction — the line count, the bench's record of
the delivery (parcels, partial, labels), a scanned parcel id on the order's next delivery, the
station's open order, the scan journal and the audit events. Only after the commit does the
bench page hear of it, so nothing shown as packed can be lost.

With `[bench] label_when_packed` the parcel labels print as soon as the delivery is packed —
when a shipping broker books their parcel ids: one id per parcel, booked after that commit
(the broker may take its time; no transaction waits on it), each kept on the delivery as it
comes, then the labels queued with them in one more transaction. Without a broker, or when it
fails, the labels print at report-in with the ids the ship-out page reports.

The scan journal is also the bench's undo stack: each undo names the count it takes back
(`undoes_id`), so UNDO walks back through the order's counts one by one.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, Insert, Select, Update, bindparam, insert, select, update
from sqlalchemy.exc import OperationalError

from stationd.brokers import BrokerError, ShippingBroker
from stationd.clock import utcnow
from stationd.core.barcodes import Classified, CodeKind, Command, classify
from stationd.core.bench import (
    BenchOutcome,
    CommandSheet,
    Packing,
    decide_scan,
    decide_touch,
    parcel_added,
    with_note,
)
from stationd.core.bench import error as error_outcome
from stationd.core.deliveries import Delivery, plan_delivery
from stationd.core.labels import labels_due_at_report_in
from stationd.core.orders import Order, OrderRuleError, OrderStatus
from stationd.core.text import Text, sentence, text_data
from stationd.devices.escpos_render import render
from stationd.events import Bus, OrderChanged, ScanOutcome, ScanRead, ScanRejected
from stationd.services.documents import Paperwork
from stationd.services.operators import operator_scan
from stationd.services.parcel_ids import (
    book_parcel_id,
    drop_parcel_id,
    keep_parcel_id,
    kept_in_session,
)
from stationd.services.printing import PrintService
from stationd.store.bench import (
    end_packing,
    load_packing,
    orders_holding_item,
    save_packing,
    session_counts,
    undo_candidate,
)
from stationd.store.database import Store
from stationd.store.deliveries import labelled_parcel_ids, pending_delivery, pending_parcel_ids
from stationd.store.orders import STATION_OPERATOR, load_order, record_event, save_line_counts
from stationd.store.tables import scan_journal, stations

log = logging.getLogger(__name__)

#: Codes longer than this are not stored whole in the journal.
MAX_CODE_CHARS = 200

#: The print-queue kind of the command sheet; the station routes it to the receipt printer.
COMMAND_SHEET = "commands"

#: Queues the parcel labels of a packed delivery in the caller's transaction; returns job ids.
LabelQueue = Callable[[Connection, Order, Delivery], list[int]]

#: While the database can't take a scan, it is tried again this often (seconds).
RETRY_S = 0.25
#: How long a stopping bench goes on handling the scans read before the scanners stopped.
DRAIN_S = 10.0


class ScanNotSaved(Exception):
    """A scan's transaction did not commit — the database was locked, busy or away — so
    nothing of it was saved and it can be handled again as it is."""


#: Decides one scan or touch from what the bench has open: (conn, open order, the order an
#: order barcode named, the open order's packing record) → outcome.
_Decide = Callable[[Connection, Order | None, Order | None, Packing | None], BenchOutcome]


@dataclass(frozen=True)
class _Statements:
    station: Select
    journal: Insert
    touch_station: Update


@functools.cache
def _statements() -> _Statements:
    # The statements of every scan, built once with bound parameters: building them cost
    # SQLAlchemy more CPU than running them (see print_queue._statements).
    return _Statements(
        station=select(stations.c.current_order_id, stations.c.current_operator_id).where(
            stations.c.name == bindparam("station_")
        ),
        journal=insert(scan_journal).returning(scan_journal.c.id),
        # SET: the columns the parameters name besides station_.
        touch_station=update(stations).where(stations.c.name == bindparam("station_")),
    )


def journal_text(code: str) -> str:
    """The code as the journal keeps it: control characters escaped (PostgreSQL refuses NUL,
    and an admin reading the journal must see them), cut to MAX_CODE_CHARS."""
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in code[:MAX_CODE_CHARS])
    return text[:MAX_CODE_CHARS]


@dataclass(frozen=True)
class AtBench:
    """What the bench page shows: the open order, the bench's record of its delivery and the
    parcel ids kept for that delivery."""

    order: Order | None
    packing: Packing | None
    parcel_ids: tuple[str, ...] = ()


class BenchService:
    """The packing bench of one station."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        station: str,
        *,
        claim_lease_s: float = 300,
        sign_in_required: bool = False,
    ) -> None:
        self.store = store
        self.claim_lease_s = claim_lease_s
        #: No scan counts until an operator has signed in (once any operator exists).
        self.sign_in_required = sign_in_required
        self.bus = bus
        self.station = station
        #: Whether a scan read at a moment is not the bench's: a person was testing the
        #: scanners on the devices page then. A code typed on the bench page always is.
        self.scans_diverted: Callable[[datetime], bool] = lambda _at: False
        #: Set (by the station, from `[bench] label_when_packed`): the parcel labels print as
        #: soon as a delivery is packed, through this. None: they print at report-in.
        self.labels: LabelQueue | None = None
        #: The shipping broker (`[shipping] broker`) that books the parcel ids of the labels
        #: printed when packed; None: those labels wait for report-in's ids.
        self.broker: ShippingBroker | None = None
        # One scan at a time per bench: a scanner and a finger on the screen may race.
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: The last outcome and its number, for a bench page drawn later (or twice); one
        #: tuple, replaced whole, so a reader never pairs a new outcome with an old number.
        self.last: tuple[int, BenchOutcome | None] = (0, None)
        #: What the bench showed right after outcome number `seq` was committed, read in that
        #: scan's own transaction: the redraw that answers a scan needs no second read.
        self.shown: tuple[int, AtBench | None] = (0, None)

    # -- the use case -----------------------------------------------------
    def handle_scan(self, scan: ScanRead) -> BenchOutcome:
        """Decide and record one scan; publish `ScanOutcome` (and `OrderChanged`) after commit."""
        classified = classify(scan.code, scan.symbology)

        def decide(
            conn: Connection, current: Order | None, scanned: Order | None, packing: Packing | None
        ) -> BenchOutcome:
            open_at = self._open_elsewhere(conn, scanned.id) if scanned else None
            top = None
            if classified.command is Command.UNDO and current is not None:
                top = undo_candidate(conn, current.id)
            session: list[tuple[int, int]] = []
            parcels: list[str] = []
            if classified.command is Command.CANCEL and current is not None:
                session = session_counts(conn, self.station, current.id)
                parcels = kept_in_session(conn, self.station, current.id)
            elsewhere = {}
            if (
                classified.kind is CodeKind.ITEM
                and classified.gtin
                and current is not None
                and all(line.gtin != classified.gtin for line in current.lines)
            ):
                # Only a wrong item asks which order it belongs to: a right one costs no query.
                elsewhere = orders_holding_item(conn, classified.gtin, current.id)
            return decide_scan(
                classified,
                current,
                scanned,
                top[1] if top else None,
                open_at,
                packing=packing,
                elsewhere=elsewhere,
                label_when_packed=self.labels is not None,
                session=[line_id for _journal_id, line_id in session],
                session_parcels=parcels,
            )

        return self._run(scan, classified, classified.kind.value, decide)

    def count(self, line_id: int, delta: int, source: str = "kiosk") -> BenchOutcome:
        """A touch on a line's + (`delta` 1) or − (`delta` -1), for items without a barcode:
        decided and recorded like a scan of the item (R19), journaled as a touch."""
        touch = ScanRead(f"{'+' if delta > 0 else '-'}{abs(delta)} line {line_id}", None, source)
        # For the operator rule a touch is an item scan: without a required operator it
        # counts nothing either.
        as_item = Classified(CodeKind.ITEM, touch.code)

        def decide(
            _conn: Connection,
            current: Order | None,
            _scanned: Order | None,
            packing: Packing | None,
        ) -> BenchOutcome:
            return decide_touch(
                current, line_id, delta, packing=packing, label_when_packed=self.labels is not None
            )

        return self._run(touch, as_item, "touch", decide)

    def _run(
        self, event: ScanRead, classified: Classified, kind: str, decide: _Decide
    ) -> BenchOutcome:
        with self._lock:
            with self._saving() as conn:
                current_id, operator_id = self._station(conn)
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
                packing = load_packing(conn, current.id) if current is not None else None
                before = replace(packing) if packing is not None else None
                # A badge signs its operator in; without a required operator nothing counts.
                outcome = operator_scan(
                    conn, self.station, classified, current_id, required=self.sign_in_required
                ) or decide(conn, current, scanned, packing)
                if classified.kind is CodeKind.BADGE:
                    operator_id = self._station(conn)[1]  # the badge may have signed one in
                outcome, journal_id = self._save(
                    conn, event, kind, outcome, current, packing, before, operator_id
                )
                if outcome.opened:
                    after = scanned
                elif outcome.closed:
                    after = None
                else:
                    # decide_* counted on `current` what _save just wrote; an error changed
                    # nothing, so `current` is the order as committed either way — and
                    # `packing` its record as committed (_save wrote it if it changed).
                    after = current
                shown = self._at_bench_of(conn, after, packing if after is current else None)
            labels, broker = self.labels, self.broker
            if (
                outcome.print_labels
                and labels is not None
                and broker is not None
                and current is not None
            ):
                outcome = self._label_packed(labels, broker, current.id, outcome)
                shown = None  # the broker's parcel ids came after the snapshot: read again
                with self.store.write() as conn:  # the journal tells what became of the labels
                    conn.execute(
                        update(scan_journal)
                        .where(scan_journal.c.id == journal_id)
                        .values(message=outcome.message, message_data=text_data(outcome.message))
                    )
            self._remember(outcome, shown)
        self._announce(event, outcome)
        return outcome

    def handle_rejected(self, rejected: ScanRejected) -> BenchOutcome:
        """A scanner delivered bytes that were no scan: tell the packer, journal it."""
        with self._lock:
            with self._saving() as conn:
                current_id, operator_id = self._station(conn)
                outcome = error_outcome(
                    sentence("Unreadable scan: {reason}.", reason=rejected.reason), current_id
                )
                self._journal(
                    conn,
                    ScanRead(rejected.raw.decode("latin-1"), None, rejected.source, rejected.at),
                    "rejected",
                    outcome,
                    operator_id,
                )
            self._remember(outcome)
        self.bus.publish(
            ScanOutcome(False, outcome.message, current_id, source=rejected.source, sound="error")
        )
        return outcome

    def _remember(self, outcome: BenchOutcome, shown: AtBench | None = None) -> None:
        seq = self.last[0] + 1
        self.shown = (seq, shown)
        self.last = (seq, outcome)

    def shown_after(self, seq: int) -> AtBench:
        """What the bench shows after outcome `seq`: the snapshot its scan committed, while no
        later outcome came; otherwise (or when there is none) read now."""
        shown_seq, shown = self.shown
        if shown_seq == seq and shown is not None:
            return shown
        return self.at_bench()

    def current_order(self) -> Order | None:
        """The order open at this bench, as the database has it now."""
        return self.at_bench().order

    def at_bench(self) -> AtBench:
        """The open order, its packing record and its kept parcel ids, read together."""
        with self.store.read() as conn:
            current_id = self._station_row(conn, create=False)
            return self._at_bench_of(conn, load_order(conn, current_id) if current_id else None)

    @staticmethod
    def _at_bench_of(
        conn: Connection, order: Order | None, packing: Packing | None = None
    ) -> AtBench:
        """`packing`: the order's record as this transaction has it, if the caller holds it."""
        if order is None:
            return AtBench(None, None)
        kept = pending_parcel_ids(conn, [order.id])[order.id]
        if packing is None:
            packing = load_packing(conn, order.id)
        return AtBench(order, packing, tuple(kept))

    # -- the worker that takes scans off the bus --------------------------
    def start(self) -> None:
        """Handle every `ScanRead` / `ScanRejected` on the bus in a thread of its own."""
        if self._thread is not None:
            return
        self._stop.clear()
        events = self.bus.queue(ScanRead, ScanRejected, maxsize=10_000)

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

        self._thread = threading.Thread(target=run, name="bench", daemon=True)
        self._thread.start()

    def _handle_until_saved(self, event: ScanRead | ScanRejected, deadline: float | None) -> None:
        """Handle one scan from a scanner; while the database can't take it (busy with a long
        pack-script run, locked, away), try again — the scans after it wait their turn, so
        none is dropped or handled out of order. Gives up only when stopping past `deadline`.
        """
        told = False
        while True:
            try:
                if isinstance(event, ScanRead):
                    self.handle_scan(event)
                else:
                    self.handle_rejected(event)
                return
            except ScanNotSaved as err:
                if not told:
                    told = True
                    log.warning("scan waits for the database: %s", err)
                    self._tell(
                        event,
                        sentence(
                            "The database is busy: the scan waits and counts as soon as it can."
                        ),
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
                self._tell(
                    event, sentence("The scan could not be saved: scan it again, see the log.")
                )
                return

    def _tell(self, event: ScanRead | ScanRejected, message: Text) -> None:
        said = error_outcome(message)
        with self._lock:
            self._remember(said)
        self.bus.publish(
            ScanOutcome(False, said.message, sound="error", code=getattr(event, "code", ""))
        )

    @contextmanager
    def _saving(self) -> Iterator[Connection]:
        """The transaction of one scan; `ScanNotSaved` when the database could not take it."""
        try:
            with self.store.write() as conn:
                yield conn
        except OperationalError as err:  # locked, busy, full, or the server away
            raise ScanNotSaved(str(err.orig or err).strip().splitlines()[0]) from err

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop taking scans; those already read are handled first (for up to `DRAIN_S`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=DRAIN_S + 2)
            self._thread = None

    # -- inside the transaction -------------------------------------------
    def _station_row(self, conn: Connection, create: bool = True) -> int | None:
        return self._station(conn, create)[0]

    def _station(self, conn: Connection, create: bool = True) -> tuple[int | None, int | None]:
        """The station's open order and signed-in operator (None, None for a new station)."""
        row = conn.execute(_statements().station, {"station_": self.station}).first()
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
        event: ScanRead,
        kind: str,
        outcome: BenchOutcome,
        current: Order | None,
        packing: Packing | None,
        before: Packing | None,
        operator_id: int | None,
    ) -> tuple[BenchOutcome, int]:
        """Carry out a decided outcome; returns it as it ended (a parcel id refused, a note on
        the labels) and its journal row's id. `operator_id`: the one signed in at the bench."""
        values: dict[str, object] = {}
        undoes = None
        if outcome.ok:
            values["last_seen_at"] = utcnow()
            if outcome.opened:
                values["current_order_id"] = outcome.order_id
        if outcome.closed:  # also when the order was taken out of packing under the bench
            values["current_order_id"] = None
        if outcome.ok and current is not None and packing is not None:
            if outcome.line_id is not None and outcome.delta:
                if outcome.delta < 0:
                    top = undo_candidate(conn, current.id, outcome.line_id)
                    undoes = top[0] if top else None
                save_line_counts(conn, current, [outcome.line_id])
                record_event(
                    conn,
                    "order.item_packed" if outcome.delta > 0 else "order.item_unpacked",
                    station=self.station,
                    order_id=current.id,
                    payload={"line_id": outcome.line_id, "code": event.code, "how": kind},
                    operator_id=operator_id,
                )
            if outcome.taken_back:
                self._take_back(conn, event, current, outcome.taken_back, operator_id)
            for parcel_id in outcome.parcels_dropped:
                drop_parcel_id(conn, current.id, parcel_id, station=self.station)
            if outcome.parcel_id is not None:
                outcome = self._keep_parcel_id(conn, event, current, outcome, outcome.parcel_id)
            if outcome.print_labels and self.labels is not None and self.broker is None:
                outcome = with_note(
                    outcome,
                    sentence(
                        "The labels print at report-in: this station has no shipping broker "
                        "to book their parcel ids."
                    ),
                )
            if packing != before:
                save_packing(conn, current.id, packing)
            if outcome.parcel_started:
                self._event(
                    conn, "order.parcel_started", current, {"parcels": packing.parcels}, operator_id
                )
            if outcome.partial:
                packed = {str(line.id): line.packed for line in current.lines if line.packed}
                self._event(
                    conn, "order.packed_partial", current, {"quantities": packed}, operator_id
                )
            if outcome.ready:
                self._event(
                    conn, "order.packed", current, {"parcels": packing.parcels}, operator_id
                )
        journal_id = self._journal(conn, event, kind, outcome, operator_id, undoes)
        if values:
            conn.execute(_statements().touch_station, {"station_": self.station, **values})
        return outcome, journal_id

    def _take_back(
        self,
        conn: Connection,
        event: ScanRead,
        order: Order,
        taken_back: tuple[int, ...],
        operator_id: int | None,
    ) -> None:
        """CANCEL took these counts back (core.bench.cancel): the lines' counts are saved and
        each count is undone in the journal, as UNDO undoes one, so no later UNDO takes it
        back twice."""
        save_line_counts(conn, order, sorted(set(taken_back)))
        counts = session_counts(conn, self.station, order.id)
        names = {line.id: line.name for line in order.lines}
        for line_id in taken_back:
            journal_id = next(j for j, line in reversed(counts) if line == line_id)
            counts.remove((journal_id, line_id))
            said = sentence("Taken back by Cancel: {name}.", name=names[line_id])
            undone = BenchOutcome(True, said, "ok", order.id, line_id=line_id, delta=-1)
            self._journal(conn, event, "command", undone, operator_id, journal_id)
            record_event(
                conn,
                "order.item_unpacked",
                station=self.station,
                order_id=order.id,
                payload={"line_id": line_id, "code": event.code, "how": "cancel"},
                operator_id=operator_id,
            )

    def _keep_parcel_id(
        self,
        conn: Connection,
        event: ScanRead,
        order: Order,
        outcome: BenchOutcome,
        parcel_id: str,
    ) -> BenchOutcome:
        """R13: a parcel id scanned at the bench goes on the open order's next delivery — the
        ship-out page's own rules and code path (`keep_parcel_id`)."""
        how = "typed at the bench" if event.source == "kiosk" else "scanned at the bench"
        try:
            kept = keep_parcel_id(conn, order, parcel_id, station=self.station, how=how)
        except OrderRuleError as err:
            return error_outcome(err.args[0], order.id)
        return parcel_added(outcome, len(kept))

    def _event(
        self,
        conn: Connection,
        kind: str,
        order: Order,
        payload: dict,
        operator_id: int | None = STATION_OPERATOR,
    ) -> None:
        record_event(
            conn,
            kind,
            station=self.station,
            order_id=order.id,
            payload=payload,
            operator_id=operator_id,
        )

    def _label_packed(
        self, labels: LabelQueue, broker: ShippingBroker, order_id: int, outcome: BenchOutcome
    ) -> BenchOutcome:
        """R13, R16 at the bench, after the packing was committed: one parcel id per parcel
        from the broker, each kept on the delivery as it comes, then one label per id queued
        in one transaction. Whatever fails leaves the packing counted, the ids booked so far
        kept, and the labels to report-in."""
        with self.store.read() as conn:
            parcels = max(load_packing(conn, order_id).parcels, 1)
            have = len(pending_parcel_ids(conn, [order_id])[order_id])
        try:
            for _ in range(have, parcels):
                book_parcel_id(self.store, broker, order_id, station=self.station, how="bench")
        except (BrokerError, OrderRuleError) as err:
            log.warning("order %s: no parcel ids from the broker: %s", order_id, err)
            why = err.args[0] if err.args else str(err)  # a core Text stays translatable
            return with_note(
                outcome,
                sentence(
                    "The broker booked no parcel ids ({why}); the labels print at report-in.",
                    why=why,
                ),
            )
        with self.store.write() as conn:
            order = load_order(conn, order_id, for_update=True)
            packing = load_packing(conn, order_id)
            if order is None or order.status is not OrderStatus.PACKING or packing.labels:
                return outcome  # reported or labelled meanwhile: nothing more to print here
            kept = pending_delivery(conn, order_id)
            parcel_ids = kept.parcel_ids if kept is not None else []
            savepoint = conn.begin_nested()
            try:
                delivery = plan_delivery(
                    order, {line.id: line.packed for line in order.lines if line.packed}
                )
                delivery.parcel_ids = parcel_ids
                delivery.id = kept.id if kept is not None else None
                jobs = labels(conn, order, delivery)
            except OrderRuleError as err:
                savepoint.rollback()
                log.warning("order %s: labels not printed at the bench: %s", order.id, err)
                why = err.args[0] if err.args else str(err)
                return with_note(
                    outcome,
                    sentence(
                        "The labels were not printed ({why}); report-in prints them.", why=why
                    ),
                )
            savepoint.commit()
            packing.labels = len(parcel_ids)
            packing.parcels = max(packing.parcels, packing.labels)
            save_packing(conn, order_id, packing)
            self._event(
                conn, "order.labels_printed", order, {"parcel_ids": parcel_ids, "jobs": jobs}
            )
        return with_note(
            outcome,
            sentence(
                "{count} parcel label(s) sent to the printer: {ids}.",
                count=len(parcel_ids),
                ids=", ".join(parcel_ids),
            ),
        )

    def _journal(
        self,
        conn: Connection,
        scan: ScanRead,
        kind: str,
        outcome: BenchOutcome,
        operator_id: int | None,
        undoes: int | None = None,
    ) -> int:
        """Journal the scan, naming `operator_id`: the operator signed in at the bench as the
        transaction has it (read in it, after a badge's sign-in)."""
        return conn.execute(
            _statements().journal,
            {
                "at": scan.at,
                "station": self.station,
                "source": scan.source[:100],
                # A badge's code is a key to sign in with: the journal doesn't repeat it.
                "code": journal_text(scan.code) if kind != CodeKind.BADGE else "OP-…",
                "symbology": (scan.symbology or None) and scan.symbology[:4],
                "kind": kind,
                "ok": outcome.ok,
                "message": outcome.message,
                "message_data": text_data(outcome.message),
                "order_id": outcome.order_id,
                "line_id": outcome.line_id,
                "delta": outcome.delta,
                "undoes_id": undoes,
                "operator_id": operator_id,
            },
        ).scalar_one()

    def _announce(self, event: ScanRead, outcome: BenchOutcome) -> None:
        self.bus.publish(
            ScanOutcome(
                ok=outcome.ok,
                message=outcome.message,
                order_id=outcome.order_id,
                code=event.code,
                source=event.source,
                sound=outcome.sound,
                unclaimed_parcel=outcome.unclaimed_parcel or "",
            )
        )
        if outcome.ok and outcome.order_id is not None and (outcome.line_id or outcome.opened):
            self.bus.publish(
                OrderChanged(outcome.order_id, "packed" if outcome.delta else "opened")
            )
        elif outcome.ok and outcome.parcel_id is not None and outcome.order_id is not None:
            self.bus.publish(OrderChanged(outcome.order_id, "parcels"))
        elif (
            outcome.ok
            and (outcome.ready or outcome.partial or outcome.taken_back)
            and outcome.order_id is not None
        ):
            # Ship-out lists packed orders: it hears of them here (and of a cancel's take-back).
            self.bus.publish(OrderChanged(outcome.order_id, "packed"))


# -- report-in, ship-out and the command sheet ---------------------------------------------


def report_in_labels(conn: Connection, delivery: Delivery) -> list[str]:
    """R16 at report-in, in its transaction after the delivery is saved: ends the bench's
    record of the delivery (the next one starts afresh) and returns the parcel ids whose
    labels report-in prints (core `labels_due_at_report_in`)."""
    printed_at_bench = end_packing(conn, delivery.order_id).labels
    labelled = labelled_parcel_ids(conn, delivery.id)
    return labels_due_at_report_in(delivery.parcel_ids, labelled, printed_at_bench)


def print_command_sheet(
    store: Store, printing: PrintService, paperwork: Paperwork, sheet: CommandSheet
) -> int:
    """Print the command sheet on the receipt printer; returns the print job's id.

    Raises `PrintRoutingError` (an `OrderRuleError`) when no printer takes it.
    """
    printer = printing.printer_for(COMMAND_SHEET)
    options = paperwork.printer(printer)
    payload = render(sheet, width_chars=options.width_chars, codepage=options.codepage)
    with store.write() as conn:
        job = printing.submit(conn, COMMAND_SHEET, payload)
        record_event(
            conn,
            "bench.command_sheet_printed",
            station=printing.station,
            payload={"job": job, "printer": printer},
        )
    return job
