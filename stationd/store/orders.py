"""Loading and saving orders, the outbound queue, and the audit log written beside each change."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from stationd.clock import utcnow
from stationd.core.orders import Document, Order, OrderLine, OrderStatus, PaymentMethod
from stationd.store.tables import events, order_lines, orders, printed_documents, stations


def record_event(
    conn: Connection,
    kind: str,
    *,
    station: str,
    order_id: int | None = None,
    payload: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Write one audit event in the caller's transaction (the outbox of a later sync).

    The event names the operator signed in at `station` then: who packed, who shipped.
    """
    conn.execute(
        insert(events).values(
            key=str(uuid.uuid4()),
            at=at or utcnow(),
            station=station,
            kind=kind,
            order_id=order_id,
            payload=json.dumps(payload or {}, ensure_ascii=False, default=str),
            operator_id=select(stations.c.current_operator_id)
            .where(stations.c.name == station)
            .scalar_subquery(),
        )
    )


def load_order(conn: Connection, order_id: int, *, for_update: bool = False) -> Order | None:
    """The order with its lines and print markers, or None. `for_update` row-locks it (PG)."""
    return load_orders(conn, [order_id], for_update=for_update).get(order_id)


def load_orders(
    conn: Connection, order_ids: Iterable[int], *, for_update: bool = False
) -> dict[int, Order]:
    """The orders with these ids that exist, with their lines and print markers, in three
    queries whatever their number. `for_update` row-locks them (PG)."""
    ids = list(dict.fromkeys(order_ids))
    if not ids:
        return {}
    # In id order: two transactions locking some of the same orders take them in one order.
    query = select(orders).where(orders.c.id.in_(ids)).order_by(orders.c.id)
    if for_update:
        query = query.with_for_update()
    rows = conn.execute(query).mappings().all()
    if not rows:
        return {}
    found = [row["id"] for row in rows]
    lines: dict[int, list[OrderLine]] = {}
    for line in conn.execute(
        select(order_lines)
        .where(order_lines.c.order_id.in_(found))
        .order_by(order_lines.c.order_id, order_lines.c.position, order_lines.c.id)
    ).mappings():
        lines.setdefault(line["order_id"], []).append(
            OrderLine(
                id=line["id"],
                sku=line["sku"],
                name=line["name"],
                gtin=line["gtin"],
                quantity=line["quantity"],
                unit_price_minor=line["unit_price_minor"],
                packed=line["packed"],
                delivered=line["delivered"],
            )
        )
    printed: dict[int, dict[Document, datetime]] = {}
    for order_id, doc, at in conn.execute(
        select(
            printed_documents.c.order_id, printed_documents.c.document, printed_documents.c.last_at
        ).where(printed_documents.c.order_id.in_(found))
    ):
        printed.setdefault(order_id, {})[Document(doc)] = at
    return {
        row["id"]: Order(
            id=row["id"],
            status=OrderStatus(row["status"]),
            placed_at=row["placed_at"],
            customer_name=row["customer_name"],
            payment_method=PaymentMethod(row["payment_method"]),
            paid=row["paid"],
            waiting=row["waiting"],
            comment=row["comment"],
            own_status_id=row["own_status_id"],
            lines=lines.get(row["id"], []),
            printed=printed.get(row["id"], {}),
        )
        for row in rows
    }


def save_line_counts(conn: Connection, order: Order, line_ids: Iterable[int]) -> None:
    """Write the packed/delivered counts of the named lines."""
    for line_id in line_ids:
        line = order.line(line_id)
        conn.execute(
            update(order_lines)
            .where(order_lines.c.id == line_id, order_lines.c.order_id == order.id)
            .values(packed=line.packed, delivered=line.delivered)
        )


def save_order_header(conn: Connection, order: Order) -> None:
    """Write the order's state, flags and own status."""
    conn.execute(
        update(orders)
        .where(orders.c.id == order.id)
        .values(
            status=order.status.value,
            waiting=order.waiting,
            own_status_id=order.own_status_id,
            comment=order.comment,
            value_minor=order.value_minor,
            updated_at=utcnow(),
        )
    )


@dataclass(frozen=True)
class QueueRow:
    """One row of the outbound queue (R9, R10)."""

    id: int
    placed_at: datetime
    customer_name: str
    payment_method: str
    value_minor: int
    currency: str
    comment: str
    lines: int
    items: int
    printed: frozenset[str]


def outbound_queue(conn: Connection, *, limit: int = 200, offset: int = 0) -> list[QueueRow]:
    """R9 + R3: orders in packing that are not waiting, oldest first."""
    line_counts = (
        select(
            order_lines.c.order_id,
            func.count().label("lines"),
            func.sum(order_lines.c.quantity - order_lines.c.delivered).label("item_count"),
        )
        .group_by(order_lines.c.order_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            orders.c.id,
            orders.c.placed_at,
            orders.c.customer_name,
            orders.c.payment_method,
            orders.c.value_minor,
            orders.c.currency,
            orders.c.comment,
            func.coalesce(line_counts.c.lines, 0),
            func.coalesce(line_counts.c.item_count, 0),
        )
        .select_from(orders.outerjoin(line_counts, line_counts.c.order_id == orders.c.id))
        .where(orders.c.status == OrderStatus.PACKING.value, orders.c.waiting.is_(False))
        .order_by(orders.c.placed_at, orders.c.id)
        .limit(limit)
        .offset(offset)
    ).all()
    ids = [r[0] for r in rows]
    printed: dict[int, set[str]] = {}
    if ids:
        for order_id, doc in conn.execute(
            select(printed_documents.c.order_id, printed_documents.c.document).where(
                printed_documents.c.order_id.in_(ids)
            )
        ):
            printed.setdefault(order_id, set()).add(doc)
    return [
        QueueRow(
            id=r[0],
            placed_at=r[1],
            customer_name=r[2],
            payment_method=r[3],
            value_minor=r[4],
            currency=r[5],
            comment=r[6],
            lines=int(r[7]),
            items=int(r[8]),
            printed=frozenset(printed.get(r[0], ())),
        )
        for r in rows
    ]


def count_outbound_queue(conn: Connection) -> int:
    return conn.execute(
        select(func.count())
        .select_from(orders)
        .where(orders.c.status == OrderStatus.PACKING.value, orders.c.waiting.is_(False))
    ).scalar_one()


def outbound_queue_mark(conn: Connection) -> tuple[object, ...]:
    """A value that changes when an order enters or leaves the outbound queue, one in it
    changes, or a document of one is printed: a screen compares it to see whether it must draw
    the queue again (the pack script of another process announces nothing here)."""
    in_queue = (orders.c.status == OrderStatus.PACKING.value, orders.c.waiting.is_(False))
    queue = conn.execute(
        select(func.count(), func.sum(orders.c.id), func.max(orders.c.updated_at)).where(*in_queue)
    ).one()
    printed = conn.execute(
        select(func.count(), func.sum(printed_documents.c.times))
        .select_from(printed_documents.join(orders, orders.c.id == printed_documents.c.order_id))
        .where(*in_queue)
    ).one()
    return (*queue, *printed)
