"""Ship-out: report a delivery of an order with its parcel ids (R13–R15)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection, select

from stationd.clock import utcnow
from stationd.core.audit import PartialDelivery, Shipped
from stationd.core.deliveries import (
    Delivery,
    ReportResult,
    add_parcel_id,
    check_kept_parcel_ids,
    check_parcel_id,
    plan_delivery,
    report_in,
)
from stationd.core.orders import Order, OrderRuleError
from stationd.core.text import sentence
from stationd.core.weight import (
    WeightCheck,
    WeightUnknownError,
    check_weight,
    delivery_items,
    expected_weight_g,
)
from stationd.events import Bus, OrderChanged
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.deliveries import (
    parcel_ids_in_use,
    pending_delivery,
    save_reported_delivery,
)
from stationd.store.orders import (
    load_order,
    save_line_counts,
    save_order_header,
)
from stationd.store.tables import products


def ship(
    store: Store,
    order_id: int,
    parcel_ids: Iterable[str],
    *,
    station: str,
    quantities: Mapping[int, int] | None = None,
    bus: Bus | None = None,
    at: datetime | None = None,
    weight_g: int | None = None,
    on_reported: Callable[[Connection, Order, Delivery], object] | None = None,
) -> ReportResult:
    """Report in one delivery of `order_id`: everything left, or `quantities` (partial, R14).

    `on_reported` runs inside the same transaction once the delivery is saved — the station
    queues the shipping labels there (R16), so labels exist exactly when the delivery does.
    The parcel ids kept for the order's next delivery (services/parcel_ids.py) must all be
    among `parcel_ids`; that pending delivery is the one reported.
    Raises `OrderRuleError` with the reason when the rules refuse it; nothing is written then.
    """
    wanted = [p for p in parcel_ids if p.strip()]
    with store.write() as conn:
        order = load_order(conn, order_id, for_update=True)
        if order is None:
            raise OrderRuleError(sentence("There is no order {id}.", id=order_id))
        delivery = plan_delivery(order, quantities)
        delivery.weight_g = weight_g
        clean = [check_parcel_id(p) for p in wanted]
        kept = pending_delivery(conn, order_id)
        if kept is not None:
            check_kept_parcel_ids(order_id, kept.parcel_ids, clean)
            delivery.id = kept.id
        used = parcel_ids_in_use(conn, clean, besides_order=order_id)
        for parcel_id in clean:
            add_parcel_id(delivery, parcel_id, used)
        result = report_in(order, delivery, at or utcnow())
        save_reported_delivery(conn, delivery, result, station=station)
        save_line_counts(conn, order, delivery.quantities)
        save_order_header(conn, order)
        if on_reported is not None:
            on_reported(conn, order, delivery)
        record_event(
            conn,
            (Shipped if result.shipped else PartialDelivery)(
                delivery.id,
                tuple(delivery.parcel_ids),
                {str(k): v for k, v in delivery.quantities.items()},
            ),
            station=station,
            order_id=order_id,
        )
    if bus is not None:
        bus.publish(OrderChanged(order_id, "shipped" if result.shipped else "delivery"))
    return result


class WeightNeedsConfirmation(OrderRuleError):
    """The parcel's weight is off what its contents should weigh: the packer must confirm.

    `check` carries the numbers, for a screen that asks in the packer's language.
    """

    def __init__(self, check: WeightCheck) -> None:
        super().__init__(check.message)
        self.check = check


def check_parcel_weight(
    conn: Connection,
    order: Order,
    delivery: Delivery,
    *,
    measured_g: int,
    tolerance_g: int,
    tolerance_pct: float,
    tare_g: int,
    confirmed: bool,
) -> WeightCheck | None:
    """Issue 3's weight check before a label prints: the measured weight against the products'
    weights plus the box's tare. Raises `WeightNeedsConfirmation` on a mismatch not confirmed;
    returns None when a product's weight is unknown (nothing to check against)."""
    items = delivery_items(order, delivery)
    weights = dict(
        conn.execute(
            select(products.c.sku, products.c.weight_g).where(products.c.sku.in_(list(items)))
        ).all()
    )
    known = {sku: w for sku, w in weights.items() if w}  # 0 g means "never weighed"
    try:
        expected = expected_weight_g(items, known) + tare_g
    except WeightUnknownError:
        return None
    check = check_weight(measured_g, expected, tolerance_g=tolerance_g, tolerance_pct=tolerance_pct)
    if not check.ok and not confirmed:
        raise WeightNeedsConfirmation(check)
    return check
