"""The bench use case: every scan — from a scanner or typed in the kiosk — and every touch on
the bench page comes through here (a scan in → an outcome and its effects, one transaction).

`BenchService.handle_scan` classifies the code and `BenchService.count` takes a line's + / −;
after those first functions both are one path (`_run`, R19): load what the bench has open, let
core decide, and write the outcome in one transaction — the line count, the bench's record of
the delivery (parcels, partial, labels), a scanned parcel id on the order's next delivery, the
bench's claim on its open order (R17, `services.claims.Claims`), the scan journal and the audit
events. Only after the commit is the outcome published (`ScanOutcome`, carrying the bench
page's state as that transaction committed it), so nothing shown as packed can be lost. The
scanners' scans reach it through `services/bench_worker.py`.

With `[bench] label_when_packed` the parcel labels print as soon as the delivery is packed,
through report-in's label flow (`services/parcel_labels.py`).

The scan journal is also the bench's undo stack: each undo names the count it takes back
(`undoes_id`), so UNDO walks back through the order's counts one by one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from stationd.clock import utcnow
from stationd.core.audit import (
    AuditEvent,
    ItemPacked,
    ItemUnpacked,
    Packed,
    PackedPartial,
    ParcelStarted,
)
from stationd.core.barcodes import Classified, CodeKind, Command, classify
from stationd.core.bench import decide_scan, decide_touch, parcel_added
from stationd.core.bench_outcome import BenchOutcome, Packing, with_note
from stationd.core.bench_outcome import error as error_outcome
from stationd.core.bench_screen import AtBench, BenchScreen
from stationd.core.orders import Order, OrderRuleError
from stationd.core.text import Text, sentence, text_data
from stationd.events import Bus, OrderChanged, ScanOutcome, ScanRead, ScanRejected
from stationd.services.bench_journal import journal
from stationd.services.claims import Claims
from stationd.services.operators import operator_scan
from stationd.services.parcel_ids import drop_parcel_id, keep_parcel_id, kept_in_session
from stationd.services.parcel_labels import ParcelLabels
from stationd.store.audit import STATION_OPERATOR, record_event
from stationd.store.bench import (
    ScanNotSaved,
    at_bench_of,
    bench_station,
    journal_text,
    load_packing,
    orders_holding_item,
    save_packing,
    saved_outcome,
    scan_transaction,
    session_counts,
    set_journal_message,
    touch_station,
    undo_candidate,
)
from stationd.store.claims import LocalClaims
from stationd.store.database import Store
from stationd.store.orders import load_order, save_line_counts

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from stationd.services.outgoing import OutgoingQueue

__all__ = ["AtBench", "BenchService", "ScanNotSaved", "journal_text"]

log = logging.getLogger(__name__)

#: A scan that waited (for the database, or a restart) and was read for another order than
#: the one open now: shown, never applied.
NOT_FOR_THIS_ORDER = sentence(
    "Not counted: this scan was read while another order was open. Scan it again."
)

#: Decides one scan or touch from what the bench has open: (conn, open order, the order an
#: order barcode named, the open order's packing record) → outcome.
_Decide = Callable[["Connection", Order | None, Order | None, Packing | None], BenchOutcome]


class BenchService:
    """The packing bench of one station."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        station: str,
        *,
        claim_lease_s: float = 300,
        claims: Claims | None = None,
        sign_in_required: bool = False,
        labels: ParcelLabels | None = None,
    ) -> None:
        self.store = store
        #: R17: which bench has which order open (the local claims on the station rows
        #: unless given, their lease `claim_lease_s`).
        self.claims: Claims = claims if claims is not None else LocalClaims(claim_lease_s)
        #: No scan counts until an operator has signed in (once any operator exists).
        self.sign_in_required = sign_in_required
        self.bus = bus
        self.station = station
        #: The station's label flow: with `[bench] label_when_packed` (and a label printer) the
        #: parcel labels print through it as soon as a delivery is packed; else at report-in.
        self.labels = labels
        #: Writes the shop's `order.packed` webhook when an order is closed packed (issue 13).
        self.outgoing: OutgoingQueue | None = None
        # One scan at a time per bench: a scanner and a finger on the screen may race.
        self._lock = threading.Lock()
        #: The number of the last outcome published (`BenchScreen.seq`).
        self._seq = 0
        #: The order open at this bench as its last transaction (or read) left it, and whether
        #: one has run yet: the context a scanner's scan is read in (`bench_worker`).
        self.open_order_id: int | None = None
        self.open_known = False

    @property
    def label_when_packed(self) -> bool:
        """Whether a packed delivery's labels print at the bench (R16)."""
        return self.labels is not None and self.labels.when_packed_wanted

    # -- the use case -----------------------------------------------------
    def handle_scan(
        self,
        scan: ScanRead,
        *,
        read_with: int | None = None,
        check_read_with: bool = False,
        again: bool = False,
    ) -> BenchOutcome:
        """Decide and record one scan; publish `ScanOutcome` (and `OrderChanged`) after commit.

        `check_read_with`: the scan was read while order `read_with` (None: none) was open at
        the bench; if another is open now it is not applied — journaled and shown to the packer
        as not counted — so a scan read for one order never acts on another (issue 10 item 1).
        `again`: tried before and not known to be saved (the connection broke, maybe after
        the commit took): if the journal has it, its outcome is shown and nothing is redone.
        """
        classified = classify(scan.code, scan.symbology)

        def decide(
            conn: Connection, current: Order | None, scanned: Order | None, packing: Packing | None
        ) -> BenchOutcome:
            open_at = (
                self.claims.holder(conn, scanned.id, besides=self.station) if scanned else None
            )
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
                label_when_packed=self.label_when_packed,
                session=[line_id for _journal_id, line_id in session],
                session_parcels=parcels,
            )

        if check_read_with:
            checked = decide

            def decide(
                conn: Connection,
                current: Order | None,
                scanned: Order | None,
                packing: Packing | None,
            ) -> BenchOutcome:
                if (current.id if current is not None else None) != read_with:
                    return error_outcome(NOT_FOR_THIS_ORDER, read_with)
                return checked(conn, current, scanned, packing)

        return self._run(scan, classified, classified.kind.value, decide, again)

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
                current, line_id, delta, packing=packing, label_when_packed=self.label_when_packed
            )

        return self._run(touch, as_item, "touch", decide)

    def _run(
        self,
        event: ScanRead,
        classified: Classified,
        kind: str,
        decide: _Decide,
        again: bool = False,
    ) -> BenchOutcome:
        with self._lock:
            with scan_transaction(self.store) as conn:
                current_id, operator_id = bench_station(conn, self.station)
                saved = again and saved_outcome(conn, self.station, event.source, event.at)
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
                outcome = (
                    saved
                    or operator_scan(
                        conn, self.station, classified, current_id, required=self.sign_in_required
                    )
                    or decide(conn, current, scanned, packing)
                )
                if classified.kind is CodeKind.BADGE:
                    # the badge may have signed one in
                    operator_id = bench_station(conn, self.station)[1]
                if not saved:
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
                    # `packing` its record as committed (_save wrote it if it changed). A scan
                    # saved before (its outcome flags nothing): as its commit left the bench.
                    after = current
                shown = at_bench_of(conn, after, packing if after is current else None)
            self._opened(after.id if after is not None else None)
            labels = self.labels
            if (
                outcome.print_labels
                and labels is not None
                and labels.carrier is not None
                and current is not None
            ):
                note = labels.when_packed(current.id)
                if note:
                    outcome = with_note(outcome, note)
                shown = self.at_bench()  # the carrier's parcel ids came after the snapshot
                with self.store.write() as conn:  # the journal tells what became of the labels
                    set_journal_message(
                        conn, journal_id, outcome.message, text_data(outcome.message)
                    )
            screen = self._screen(outcome, shown)
        self._announce(event, outcome, screen)
        return outcome

    def handle_rejected(self, rejected: ScanRejected, *, again: bool = False) -> BenchOutcome:
        """A scanner delivered bytes that were no scan: tell the packer, journal it (once:
        `again` as for `handle_scan`)."""
        with self._lock:
            with scan_transaction(self.store) as conn:
                current_id, operator_id = bench_station(conn, self.station)
                outcome = error_outcome(
                    sentence("Unreadable scan: {reason}.", reason=rejected.reason), current_id
                )
                if not (again and saved_outcome(conn, self.station, rejected.source, rejected.at)):
                    read = rejected.raw.decode("latin-1")
                    scan = ScanRead(read, None, rejected.source, rejected.at)
                    journal(conn, self.station, scan, "rejected", outcome, operator_id)
            self._opened(current_id)
            screen = self._screen(outcome)
        self.bus.publish(
            ScanOutcome(
                False,
                outcome.message,
                current_id,
                source=rejected.source,
                sound="error",
                screen=screen,
            )
        )
        return outcome

    def tell(self, message: Text, *, code: str = "") -> None:
        """Tell the packer something about a scan that has no outcome of its own (yet): the
        database is busy, the scan could not be handled."""
        said = error_outcome(message)
        with self._lock:
            screen = self._screen(said)
        self.bus.publish(ScanOutcome(False, said.message, sound="error", code=code, screen=screen))

    def _screen(self, outcome: BenchOutcome, at: AtBench | None = None) -> BenchScreen:
        # Called with the lock held: the numbers follow the order of the outcomes.
        self._seq += 1
        return BenchScreen(self._seq, outcome, at, made_s=time.monotonic())

    def current_order(self) -> Order | None:
        """The order open at this bench, as the database has it now."""
        return self.at_bench().order

    def at_bench(self) -> AtBench:
        """The open order, its packing record and its kept parcel ids, read together."""
        with self.store.read() as conn:
            current_id = bench_station(conn, self.station, create=False)[0]
            at = at_bench_of(conn, load_order(conn, current_id) if current_id else None)
        self._opened(current_id)
        return at

    def _opened(self, order_id: int | None) -> None:
        self.open_order_id = order_id
        self.open_known = True

    # -- inside the transaction -------------------------------------------
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
        # R17, as decided (a parcel id refused below changes no claim): closing releases —
        # also when the order was taken out of packing under the bench —, opening claims, and
        # any other good scan renews the bench's lease; the station row records the same.
        closed, opened, ok = outcome.closed, outcome.opened, outcome.ok
        undoes = None
        if outcome.ok and current is not None and packing is not None:
            if outcome.line_id is not None and outcome.delta:
                if outcome.delta < 0:
                    top = undo_candidate(conn, current.id, outcome.line_id)
                    undoes = top[0] if top else None
                save_line_counts(conn, current, [outcome.line_id])
                item = ItemPacked if outcome.delta > 0 else ItemUnpacked
                self._event(conn, item(outcome.line_id, event.code, kind), current, operator_id)
            if outcome.taken_back:
                self._take_back(conn, event, current, outcome.taken_back, operator_id)
            for parcel_id in outcome.parcels_dropped:
                drop_parcel_id(conn, current.id, parcel_id, station=self.station)
            if outcome.parcel_id is not None:
                # R13: on the open order's next delivery, by the ship-out page's own rules.
                how = "typed at the bench" if event.source == "kiosk" else "scanned at the bench"
                try:
                    kept = keep_parcel_id(
                        conn, current, outcome.parcel_id, station=self.station, how=how
                    )
                    outcome = parcel_added(outcome, len(kept))
                except OrderRuleError as err:
                    outcome = error_outcome(err.args[0], current.id)
            if outcome.print_labels and self.labels is not None and self.labels.carrier is None:
                outcome = with_note(outcome, self.labels.when_packed(current.id))
            if packing != before:
                save_packing(conn, current.id, packing)
            if outcome.parcel_started:
                self._event(conn, ParcelStarted(packing.parcels), current, operator_id)
            if outcome.partial:
                packed = {str(line.id): line.packed for line in current.lines if line.packed}
                self._event(conn, PackedPartial(packed), current, operator_id)
            if outcome.ready:
                self._event(conn, Packed(packing.parcels), current, operator_id)
                if self.outgoing is not None:
                    self.outgoing.when_packed(conn, current.id)
        journal_id = journal(conn, self.station, event, kind, outcome, operator_id, undoes)
        values: dict[str, object] = {"last_seen_at": utcnow()} if ok else {}
        if closed:
            values["current_order_id"] = None
            self.claims.release(conn, self.station)
        elif ok and opened:
            values["current_order_id"] = outcome.order_id
            self.claims.claim(conn, outcome.order_id, self.station)
        elif ok:
            self.claims.renew(conn, self.station)
        if values:  # the bench's own record: its open order, and that it is active
            touch_station(conn, self.station, **values)
        return outcome, journal_id

    def _take_back(
        self,
        conn: Connection,
        event: ScanRead,
        order: Order,
        taken_back: tuple[int, ...],
        operator_id: int | None,
    ) -> None:
        """CANCEL took these counts back (core.bench_commands.cancel): the lines' counts are
        saved and each count is undone in the journal, as UNDO undoes one, so no later UNDO
        takes it back twice."""
        save_line_counts(conn, order, sorted(set(taken_back)))
        counts = session_counts(conn, self.station, order.id)
        names = {line.id: line.name for line in order.lines}
        for line_id in taken_back:
            journal_id = next(j for j, line in reversed(counts) if line == line_id)
            counts.remove((journal_id, line_id))
            said = sentence("Taken back by Cancel: {name}.", name=names[line_id])
            undone = BenchOutcome(True, said, "ok", order.id, line_id=line_id, delta=-1)
            journal(conn, self.station, event, "command", undone, operator_id, journal_id)
            self._event(conn, ItemUnpacked(line_id, event.code, "cancel"), order, operator_id)

    def _event(
        self,
        conn: Connection,
        event: AuditEvent,
        order: Order,
        operator_id: int | None = STATION_OPERATOR,
    ) -> None:
        record_event(conn, event, station=self.station, order_id=order.id, operator_id=operator_id)

    def _announce(self, event: ScanRead, outcome: BenchOutcome, screen: BenchScreen) -> None:
        self.bus.publish(
            ScanOutcome(
                ok=outcome.ok,
                message=outcome.message,
                order_id=outcome.order_id,
                code=event.code,
                source=event.source,
                sound=outcome.sound,
                unclaimed_parcel=outcome.unclaimed_parcel or "",
                screen=screen,
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
