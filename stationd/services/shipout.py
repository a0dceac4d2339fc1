"""The ship-out page's parcel ids (R13): check one, keep it on the order's next delivery, take
one off again, fetch one from the carrier. Reporting the deliveries in is report-in's
(services/report_in.py).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from stationd.carriers import Carrier
from stationd.core.deliveries import check_parcel_id
from stationd.core.orders import OrderRuleError
from stationd.core.text import sentence
from stationd.events import Bus, OrderChanged
from stationd.services.parcel_ids import (
    book_parcel_id,
    drop_parcel_id,
    keep_parcel_id,
    valid_parcel_ids,
)
from stationd.store.database import Store
from stationd.store.deliveries import parcel_ids_in_use
from stationd.store.orders import load_order

if TYPE_CHECKING:
    from stationd.services.printing import PrintService


def check_parcel_id_for(
    store: Store, code: str, *, others: Collection[str] = (), order_id: int | None = None
) -> str:
    """R13: `code` as the parcel id it is, or `OrderRuleError` saying why it can't be one.

    Checks its format and check digit, that it isn't among `others` (the other ids typed for
    the same delivery) and that no order has it already (`order_id`'s own kept ids aside).
    """
    clean = check_parcel_id(code)
    if clean in valid_parcel_ids(others):
        raise OrderRuleError(sentence("Parcel id {code} is already on this delivery.", code=clean))
    with store.read() as conn:
        if parcel_ids_in_use(conn, [clean], besides_order=order_id):
            raise OrderRuleError(
                sentence("Parcel id {code} is already used on another order.", code=clean)
            )
    return clean


def keep_typed_parcel_id(
    store: Store, bus: Bus | None, order_id: int, code: str, *, replaces: str = "", station: str
) -> str:
    """R13: a parcel-id field left on the ship-out page: keep its id on the order's next
    delivery in place of `replaces` (what the field held before, if it was kept); returns the
    id as kept. An empty field takes `replaces` off. Raises `OrderRuleError` and changes
    nothing when the rules refuse it."""
    with store.write() as conn:
        order = load_order(conn, order_id, for_update=True)
        if order is None:
            raise OrderRuleError(sentence("There is no order {id}.", id=order_id))
        if code.strip():
            clean = check_parcel_id(code)
            keep_parcel_id(conn, order, clean, station=station, how="typed", replaces=replaces)
        else:
            clean = ""
            if replaces:
                drop_parcel_id(conn, order_id, replaces, station=station)
    if bus is not None and clean != replaces:
        bus.publish(OrderChanged(order_id, "parcels"))
    return clean


def fetch_parcel_id(
    store: Store,
    carrier: Carrier,
    order_id: int,
    *,
    taken: Collection[str] = (),
    weight_g: int | None = None,
    station: str,
    bus: Bus | None = None,
    printing: PrintService | None = None,
) -> str:
    """R13: book the next parcel of `order_id`'s delivery with the carrier and keep its id on
    the delivery; returns it. `taken` are the ids in the order's fields (at most four in all,
    with the kept ones). Raises `OrderRuleError` when the order can't ship or has no room for
    another parcel, `CarrierError` when the carrier fails. The carrier's label, when it makes
    one, goes to `printing`'s label printer."""
    parcel_id = book_parcel_id(
        store,
        carrier,
        order_id,
        station=station,
        how="broker",
        taken=taken,
        weight_g=weight_g,
        printing=printing,
    )
    if bus is not None:
        bus.publish(OrderChanged(order_id, "parcels"))
    return parcel_id
