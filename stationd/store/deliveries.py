"""Saving deliveries, their parcel ids and report-in (R13–R15) with the stock they move."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select, update

from stationd.clock import utcnow
from stationd.core.deliveries import Delivery, ReportResult
from stationd.store.tables import deliveries, delivery_lines, parcel_ids, stock


def parcel_ids_in_use(conn: Connection, candidates: Iterable[str]) -> set[str]:
    """Which of `candidates` are already on some delivery (R13: never on two orders)."""
    wanted = list(candidates)
    if not wanted:
        return set()
    return set(
        conn.execute(
            select(parcel_ids.c.parcel_id).where(parcel_ids.c.parcel_id.in_(wanted))
        ).scalars()
    )


def save_reported_delivery(
    conn: Connection, delivery: Delivery, result: ReportResult, *, station: str
) -> int:
    """Insert a reported delivery with its lines and parcel ids, and take its items off stock."""
    delivery_id = conn.execute(
        insert(deliveries)
        .values(
            order_id=delivery.order_id,
            created_at=utcnow(),
            reported_at=delivery.reported_at,
            weight_g=delivery.weight_g,
            station=station,
        )
        .returning(deliveries.c.id)
    ).scalar_one()
    conn.execute(
        insert(delivery_lines),
        [
            {"delivery_id": delivery_id, "line_id": line_id, "quantity": qty}
            for line_id, qty in delivery.quantities.items()
        ],
    )
    conn.execute(
        insert(parcel_ids),
        [
            {"delivery_id": delivery_id, "position": i, "parcel_id": pid}
            for i, pid in enumerate(delivery.parcel_ids)
        ],
    )
    for sku, qty in result.stock_out.items():
        conn.execute(
            update(stock)
            .where(stock.c.sku == sku)
            .values(
                on_hand=stock.c.on_hand - qty,
                reserved=stock.c.reserved - result.released.get(sku, 0),
            )
        )
    delivery.id = delivery_id
    return delivery_id
