"""Ship-out: report a delivery of an order with its parcel ids (R13–R15)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection

from stationd.clock import utcnow
from stationd.core.deliveries import Delivery, ReportResult, add_parcel_id, plan_delivery, report_in
from stationd.core.orders import Order, OrderRuleError
from stationd.events import Bus, OrderChanged
from stationd.store.database import Store
from stationd.store.deliveries import parcel_ids_in_use, save_reported_delivery
from stationd.store.orders import (
    load_order,
    record_event,
    save_line_counts,
    save_order_header,
)


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
    Raises `OrderRuleError` with the reason when the rules refuse it; nothing is written then.
    """
    wanted = [p for p in parcel_ids if p.strip()]
    with store.write() as conn:
        order = load_order(conn, order_id, for_update=True)
        if order is None:
            raise OrderRuleError(f"There is no order {order_id}.")
        delivery = plan_delivery(order, quantities)
        delivery.weight_g = weight_g
        used = parcel_ids_in_use(conn, [p.strip().upper() for p in wanted])
        for parcel_id in wanted:
            add_parcel_id(delivery, parcel_id, used)
        result = report_in(order, delivery, at or utcnow())
        save_reported_delivery(conn, delivery, result, station=station)
        save_line_counts(conn, order, delivery.quantities)
        save_order_header(conn, order)
        if on_reported is not None:
            on_reported(conn, order, delivery)
        record_event(
            conn,
            "order.shipped" if result.shipped else "order.partial_delivery",
            station=station,
            order_id=order_id,
            payload={
                "delivery_id": delivery.id,
                "parcel_ids": delivery.parcel_ids,
                "quantities": {str(k): v for k, v in delivery.quantities.items()},
            },
        )
    if bus is not None:
        bus.publish(OrderChanged(order_id, "shipped" if result.shipped else "delivery"))
    return result
