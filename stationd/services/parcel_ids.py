"""The parcel ids of an order's next delivery, kept from the moment they are typed, scanned or
booked until report-in (R13).

One code path puts an id on a delivery, whoever brings it: the ship-out page's field (typed,
or scanned into it), a scan at the bench, the ship-out page's "Fetch from carrier" and the
bench's labels when a delivery is packed (`[bench] label_when_packed`). The ids live on the
order's pending delivery (store/deliveries.py), so a reload or a restart loses none, and the
unique constraint keeps one id off two orders before report-in as well as after.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from stationd.carriers import Carrier, CarrierError, ParcelBooking
from stationd.clock import utcnow
from stationd.core.audit import AuditEvent, ParcelBooked, ParcelIdAdded, ParcelIdRemoved
from stationd.core.carrier_cancel import CANCEL_KIND, booking_reference, cancel_payload
from stationd.core.deliveries import (
    Delivery,
    ParcelIdTaken,
    add_parcel_id,
    check_parcel_id,
    next_parcel_number,
    plan_delivery,
)
from stationd.core.orders import Order, OrderRuleError
from stationd.core.text import sentence
from stationd.services.documents import order_address
from stationd.store import outgoing
from stationd.store.audit import record_event
from stationd.store.bench import session_parcel_scans
from stationd.store.carrier_bookings import booking_lock, booking_of, bookings_kept
from stationd.store.database import Store
from stationd.store.deliveries import (
    add_pending_parcel_id,
    mark_labelled,
    parcel_ids_in_use,
    pending_delivery,
    pending_parcel_ids,
    remove_pending_parcel_id,
    reported_delivery_count,
)
from stationd.store.orders import load_order

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from stationd.services.printing import PrintService

log = logging.getLogger(__name__)

#: The print-queue kind of a shipping label (services/parcel_labels.py routes the same).
LABEL = "label"
#: How often a carrier may hand out an id already in use before the station gives up on it.
CARRIER_TRIES = 3


def keep_parcel_id(
    conn: Connection,
    order: Order,
    code: str,
    *,
    station: str,
    how: str,
    replaces: str = "",
    broker: str = "",
    parcel_number: int = 0,
    reference: str = "",
) -> list[str]:
    """R13: put `code` on `order`'s next delivery, in the caller's transaction (which holds the
    order's row lock); returns the delivery's parcel ids now.

    `replaces` is an id of the delivery the new one takes the place of (a field typed over).
    `broker`, `parcel_number` and `reference`: the carrier that booked it, as what, under which
    reference (a taken-off id is cancelled there by it).
    Refuses — `OrderRuleError`, `ParcelIdTaken` — an order that can't ship, a bad id, a fifth
    one, and one on this delivery or another order already; nothing is written then unless a
    replaced id was taken off, so the caller rolls back when it passes `replaces`.
    """
    plan_delivery(order)  # only a packing order with something left to deliver
    clean = check_parcel_id(code)
    delivery = pending_delivery(conn, order.id) or Delivery(order.id, {})
    if replaces and replaces == clean and clean in delivery.parcel_ids:
        return delivery.parcel_ids  # the field was left as it was kept
    if replaces and drop_parcel_id(conn, order.id, replaces, station=station):
        delivery = pending_delivery(conn, order.id) or Delivery(order.id, {})
    add_parcel_id(delivery, clean, parcel_ids_in_use(conn, [clean], besides_order=order.id))
    add_pending_parcel_id(conn, delivery, clean, station=station)
    kept: AuditEvent = (
        ParcelBooked(clean, how, broker, parcel_number, reference)
        if broker
        else ParcelIdAdded(clean, how)
    )
    record_event(conn, kept, station=station, order_id=order.id)
    return delivery.parcel_ids


def drop_parcel_id(conn: Connection, order_id: int, parcel_id: str, *, station: str) -> bool:
    """Take a kept parcel id off the order's next delivery (its field's ×, a typed id over it,
    CANCEL at the bench); whether it was there.

    An id a carrier booked is cancelled there (issue 13 section 2): the outgoing row that asks
    for it is written in this same transaction (services/carrier_cancel.py sends it), so the
    shipment's EDI does not go out for a parcel that is not on the delivery any more."""
    if not remove_pending_parcel_id(conn, order_id, parcel_id):
        return False
    record_event(conn, ParcelIdRemoved(parcel_id), station=station, order_id=order_id)
    booked = booking_of(conn, order_id, parcel_id)
    if booked is not None:
        event, number = booked
        delivery = reported_delivery_count(conn, order_id) + 1
        payload = cancel_payload(event, order_id=order_id, delivery=delivery, booking=number)
        # The worker finds the row at its next look (within seconds): no caller carries the
        # outgoing queue here, and a cancel has no packer waiting on it.
        outgoing.add(conn, CANCEL_KIND, payload, at=utcnow(), order_id=order_id)
    return True


def kept_in_session(conn: Connection, station: str, order_id: int) -> list[str]:
    """The parcel ids `station` scanned onto `order_id`'s delivery since it opened the order
    and that are still on it, as kept (CANCEL takes them off again)."""
    scanned = []
    for code in session_parcel_scans(conn, station, order_id):
        try:
            scanned.append(check_parcel_id(code))
        except OrderRuleError:
            continue  # the journal kept a code that no longer reads as one: not on it
    kept = set(pending_parcel_ids(conn, [order_id]).get(order_id, []))
    return [parcel_id for parcel_id in dict.fromkeys(scanned) if parcel_id in kept]


def book_parcel_id(
    store: Store,
    carrier: Carrier,
    order_id: int,
    *,
    station: str,
    how: str,
    taken: Collection[str] = (),
    weight_g: int | None = None,
    printing: PrintService | None = None,
) -> str:
    """R13: book the next parcel of `order_id`'s delivery with the carrier and keep its id on
    the delivery; returns the id.

    `taken` are ids the packer has in fields that are not kept (yet): they count towards the
    four. The carrier is asked outside any transaction (it may take its time); its id is then
    kept like a typed one, and the carrier's own label (R16) is queued on `printing`'s label
    printer in the same transaction, the id noted as labelled so the station prints no second
    one. Raises `OrderRuleError` when the order can't ship or has no room for another parcel,
    `CarrierError` when the carrier fails.
    """
    with store.read() as conn:
        order = load_order(conn, order_id)
        if order is None:
            raise OrderRuleError(sentence("There is no order {id}.", id=order_id))
        plan_delivery(order)
        receiver = order_address(conn, order_id)
        kept = pending_delivery(conn, order_id)
        delivery = reported_delivery_count(conn, order_id) + 1
        booked = bookings_kept(conn, order_id) + 1
    ids = list(kept.parcel_ids) if kept is not None else []
    number = next_parcel_number(ids + [t for t in valid_parcel_ids(taken) if t not in ids])
    for attempt in range(CARRIER_TRIES):
        # A retry after an id in use is a new booking: it gets a reference of its own.
        reference = booking_reference(order_id, delivery, booked)
        if attempt:
            reference += f"-{attempt + 1}"
        booking = ParcelBooking(
            order_id, receiver, parcel_number=number, weight_g=weight_g, reference=reference
        )
        # One reference at the carrier from one place at a time: a second click waits, then
        # its look-up finds the first one's shipment (store/carrier_bookings.py).
        with booking_lock(store, reference):
            shipment = carrier.book(booking)
        try:
            parcel_id = check_parcel_id(shipment.parcel_ids[0])
        except (OrderRuleError, IndexError) as err:
            why = err.args[0] if isinstance(err, OrderRuleError) else "—"
            raise CarrierError(
                sentence("The carrier sent a parcel id the station can't use: {why}", why=why)
            ) from None
        try:
            with store.write() as conn:
                order = load_order(conn, order_id, for_update=True)
                if order is None:
                    raise OrderRuleError(sentence("There is no order {id}.", id=order_id))
                keep_parcel_id(
                    conn,
                    order,
                    parcel_id,
                    station=station,
                    how=how,
                    broker=carrier.name,
                    parcel_number=number,
                    reference=reference,
                )
                queue_carrier_labels(conn, printing, order_id, parcel_id, shipment.labels)
        except ParcelIdTaken:
            with store.read() as conn:
                mine = pending_parcel_ids(conn, [order_id])[order_id]
            if parcel_id in mine:
                # A click racing this one kept the same booking: it is this parcel's.
                log.info("order %s: %s was kept by another click", order_id, parcel_id)
                return parcel_id
            log.warning("carrier %s handed out %s, which is in use", carrier.name, parcel_id)
            continue
        except OrderRuleError as err:
            # The order changed while the carrier booked: the booking stays in the log.
            log.warning("order %s: booked parcel id %s was not kept: %s", order_id, parcel_id, err)
            raise
        return parcel_id
    raise CarrierError(
        sentence("The carrier handed out only parcel ids that are in use; ask its support.")
    )


def queue_carrier_labels(
    conn: Connection,
    printing: PrintService | None,
    order_id: int,
    parcel_id: str,
    labels: Sequence[bytes],
) -> list[int]:
    """R16: the carrier's labels (ZPL as it made them) on the label printer's durable queue,
    in the caller's transaction, and `parcel_id` noted as labelled; nothing without a label
    printer (report-in prints the station's own label then)."""
    if not labels or printing is None or LABEL not in printing.routes:
        return []
    jobs = [printing.submit(conn, LABEL, bytes(label), order_id) for label in labels]
    delivery = pending_delivery(conn, order_id)
    if delivery is not None and delivery.id is not None:
        mark_labelled(conn, delivery.id, [parcel_id])
    return jobs


def valid_parcel_ids(codes: Iterable[str]) -> list[str]:
    """The parcel ids among `codes` as stored; a bad one has its own complaint at its field."""
    valid = []
    for code in codes:
        try:
            clean = check_parcel_id(code)
        except OrderRuleError:
            continue
        if clean not in valid:
            valid.append(clean)
    return valid
