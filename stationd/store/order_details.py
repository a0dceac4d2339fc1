"""What the order page shows beyond the order itself: the customer and flags, each delivery
with its parcel ids, and the audit trail — the events written beside every change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select

from stationd.core.audit import PackScriptMoved
from stationd.core.documents import Address
from stationd.store.audit import StoredEvent, read_events
from stationd.store.tables import (
    deliveries,
    delivery_lines,
    orders,
    own_statuses,
    packscript_runs,
    parcel_ids,
)


@dataclass(frozen=True)
class OrderHeader:
    """The order's own fields, with its own status's code and name (R5: looked up, not copied)."""

    id: int
    status: str
    placed_at: datetime
    customer_name: str
    customer_email: str
    street: str
    postcode: str
    city: str
    country: str
    payment_method: str
    paid: bool
    waiting: bool
    comment: str
    currency: str
    value_minor: int
    own_status_id: int | None
    own_status_code: str | None
    own_status_name: str | None
    updated_at: datetime | None
    packscript_run_id: int | None


def order_header(conn: Connection, order_id: int) -> OrderHeader | None:
    row = conn.execute(
        select(
            orders.c.id,
            orders.c.status,
            orders.c.placed_at,
            orders.c.customer_name,
            orders.c.customer_email,
            orders.c.street,
            orders.c.postcode,
            orders.c.city,
            orders.c.country,
            orders.c.payment_method,
            orders.c.paid,
            orders.c.waiting,
            orders.c.comment,
            orders.c.currency,
            orders.c.value_minor,
            orders.c.own_status_id,
            own_statuses.c.code,
            own_statuses.c.name,
            orders.c.updated_at,
            orders.c.packscript_run_id,
        )
        .select_from(orders.outerjoin(own_statuses, own_statuses.c.id == orders.c.own_status_id))
        .where(orders.c.id == order_id)
    ).first()
    if row is None:
        return None
    values = list(row)
    values[10] = bool(values[10])  # paid
    values[11] = bool(values[11])  # waiting
    return OrderHeader(*values)


@dataclass
class DeliveryRecord:
    """One delivery of the order (R13–R15): when, where, its weight, parcel ids and lines."""

    id: int
    created_at: datetime
    reported_at: datetime | None
    weight_g: int | None
    station: str
    parcel_ids: list[str] = field(default_factory=list)
    quantities: dict[int, int] = field(default_factory=dict)  # line id → items


def order_deliveries(conn: Connection, order_id: int) -> list[DeliveryRecord]:
    """The order's deliveries, oldest first."""
    found = {
        r.id: DeliveryRecord(r.id, r.created_at, r.reported_at, r.weight_g, r.station)
        for r in conn.execute(
            select(deliveries)
            .where(deliveries.c.order_id == order_id)
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
    }
    if not found:
        return []
    for delivery_id, parcel_id in conn.execute(
        select(parcel_ids.c.delivery_id, parcel_ids.c.parcel_id)
        .where(parcel_ids.c.delivery_id.in_(found))
        .order_by(parcel_ids.c.delivery_id, parcel_ids.c.position)
    ):
        found[delivery_id].parcel_ids.append(parcel_id)
    for delivery_id, line_id, quantity in conn.execute(
        select(
            delivery_lines.c.delivery_id, delivery_lines.c.line_id, delivery_lines.c.quantity
        ).where(delivery_lines.c.delivery_id.in_(found))
    ):
        found[delivery_id].quantities[line_id] = quantity
    return list(found.values())


def order_events(conn: Connection, order_id: int, *, limit: int = 200) -> list[StoredEvent]:
    """The order's audit trail, typed, newest first.

    The pack script writes one event per run for all the orders it moves; the order keeps
    the run's id, so that move is told here too.
    """
    found = read_events(conn, order_id=order_id, newest_first=True, limit=limit)
    run = conn.execute(
        select(
            packscript_runs.c.id,
            packscript_runs.c.finished_at,
            packscript_runs.c.started_at,
            packscript_runs.c.station,
        )
        .select_from(
            orders.join(packscript_runs, packscript_runs.c.id == orders.c.packscript_run_id)
        )
        .where(orders.c.id == order_id)
    ).first()
    if run is not None:
        found.append(
            StoredEvent(
                key="",  # told from the run's own row, not a row of the log
                at=run.finished_at or run.started_at,
                station=run.station,
                order_id=order_id,
                operator_id=None,
                sent_at=None,
                event=PackScriptMoved(run.id),
            )
        )
        found.sort(key=lambda e: e.at, reverse=True)
    return found


def order_address(conn: Connection, order_id: int) -> Address:
    """The customer's postal address as the order row keeps it."""
    row = conn.execute(
        select(
            orders.c.customer_name, orders.c.street, orders.c.postcode, orders.c.city,
            orders.c.country,
        ).where(orders.c.id == order_id)
    ).one()  # fmt: skip
    return Address(*row)
