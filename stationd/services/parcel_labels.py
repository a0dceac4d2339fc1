"""The shipping labels of a delivery (R16): one flow for the two moments they may print.

At report-in, in its transaction once the delivery is saved (`ParcelLabels.at_report_in`), so
labels exist exactly when the delivery does. With `[bench] label_when_packed`, as soon as the
bench has packed the delivery (`ParcelLabels.when_packed`): when a carrier books their
parcel ids, one id per parcel, after the packing was committed (the carrier may take its time;
no transaction waits on it), each kept on the delivery as it comes, then the labels queued with
them in one more transaction. Each label prints once (core `labels_due_at_report_in`): report-in
prints only those the bench didn't, and all of them anew when the parcels changed since.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stationd.carriers import Carrier, CarrierError
from stationd.core.audit import LabelsPrinted
from stationd.core.deliveries import Delivery, plan_delivery
from stationd.core.labels import labels_due_at_report_in
from stationd.core.orders import Order, OrderRuleError, OrderStatus
from stationd.core.text import Text, sentence
from stationd.services.documents import Paperwork, queue_labels
from stationd.services.parcel_ids import LABEL, book_parcel_id
from stationd.services.printing import PrintService
from stationd.store.audit import STATION_OPERATOR, record_event
from stationd.store.bench import end_packing, load_packing, save_packing
from stationd.store.database import Store
from stationd.store.deliveries import labelled_parcel_ids, pending_delivery, pending_parcel_ids
from stationd.store.orders import load_order

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)


class ParcelLabels:
    """The labels of one station's deliveries, queued on its label printer."""

    def __init__(
        self,
        store: Store,
        printing: PrintService,
        paperwork: Paperwork,
        *,
        station: str,
        carrier: Carrier | None = None,
        when_packed: bool = False,
    ) -> None:
        self.store = store
        self.printing = printing
        self.paperwork = paperwork
        self.station = station
        #: Books the parcel ids of the labels printed when packed; None: they wait for report-in.
        self.carrier = carrier
        #: `[bench] label_when_packed`, with a printer that prints labels.
        self.when_packed_wanted = when_packed and self.printable

    @property
    def printable(self) -> bool:
        """Whether any printer takes labels (`[print] label`)."""
        return LABEL in self.printing.routes

    def at_report_in(self, conn: Connection, order: Order, delivery: Delivery) -> list[int]:
        """R16 at report-in, in its transaction after the delivery is saved: ends the bench's
        record of the delivery (the next one starts afresh) and queues the labels not printed
        yet; returns the print jobs."""
        printed_at_bench = end_packing(conn, delivery.order_id).labels
        labelled = labelled_parcel_ids(conn, delivery.id)
        unlabelled = labels_due_at_report_in(delivery.parcel_ids, labelled, printed_at_bench)
        if not unlabelled or not self.printable:
            return []
        return self.queue(conn, order, delivery, only=unlabelled)

    def queue(
        self, conn: Connection, order: Order, delivery: Delivery, *, only: list[str] | None = None
    ) -> list[int]:
        """Queue one label per parcel id of `delivery` (or per id in `only`) in `conn`'s
        transaction; returns the print jobs."""
        return queue_labels(conn, self.printing, self.paperwork, order, delivery, only=only)

    def when_packed(self, order_id: int) -> Text:
        """R13, R16 at the bench, after the packing was committed: one parcel id per parcel
        from the carrier, each kept on the delivery as it comes, then one label per id queued
        in one transaction. Returns the note for the packer. Whatever fails leaves the packing
        counted, the ids booked so far kept, and the labels to report-in."""
        carrier = self.carrier
        if carrier is None:
            return sentence(
                "The labels print at report-in: this station has no carrier "
                "to book their parcel ids."
            )
        with self.store.read() as conn:
            parcels = max(load_packing(conn, order_id).parcels, 1)
            have = len(pending_parcel_ids(conn, [order_id])[order_id])
        try:
            for _ in range(have, parcels):
                book_parcel_id(
                    self.store,
                    carrier,
                    order_id,
                    station=self.station,
                    how="bench",
                    printing=self.printing,
                )
        except (CarrierError, OrderRuleError) as err:
            log.warning("order %s: no parcel ids from the carrier: %s", order_id, err)
            why = err.args[0] if err.args else str(err)  # a core Text stays translatable
            return sentence(
                "The carrier booked no parcel ids ({why}); the labels print at report-in.",
                why=why,
            )
        with self.store.write() as conn:
            order = load_order(conn, order_id, for_update=True)
            packing = load_packing(conn, order_id)
            if order is None or order.status is not OrderStatus.PACKING or packing.labels:
                return ""  # reported or labelled meanwhile: nothing more to print here
            kept = pending_delivery(conn, order_id)
            parcel_ids = kept.parcel_ids if kept is not None else []
            savepoint = conn.begin_nested()
            try:
                delivery = plan_delivery(
                    order, {line.id: line.packed for line in order.lines if line.packed}
                )
                delivery.parcel_ids = parcel_ids
                delivery.id = kept.id if kept is not None else None
                # The carrier's own labels are queued already (services/parcel_ids.py).
                labelled = labelled_parcel_ids(conn, delivery.id)
                jobs = self.queue(
                    conn, order, delivery, only=[p for p in parcel_ids if p not in labelled]
                )
            except OrderRuleError as err:
                savepoint.rollback()
                log.warning("order %s: labels not printed at the bench: %s", order.id, err)
                why = err.args[0] if err.args else str(err)
                return sentence(
                    "The labels were not printed ({why}); report-in prints them.", why=why
                )
            savepoint.commit()
            packing.labels = len(parcel_ids)
            packing.parcels = max(packing.parcels, packing.labels)
            save_packing(conn, order_id, packing)
            record_event(
                conn,
                LabelsPrinted(tuple(parcel_ids), tuple(jobs)),
                station=self.station,
                order_id=order.id,
                operator_id=STATION_OPERATOR,
            )
        return sentence(
            "{count} parcel label(s) sent to the printer: {ids}.",
            count=len(parcel_ids),
            ids=", ".join(parcel_ids),
        )
