"""Loading and saving orders, the outbound queue, and the audit log written beside each change."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Select, Update, bindparam, func, select, update

from stationd.clock import utcnow
from stationd.core.orders import Document, Order, OrderLine, OrderStatus, PaymentMethod
from stationd.store.postgres_tables import in_status
from stationd.store.tables import order_lines, orders, printed_documents


@dataclass(frozen=True)
class _Statements:
    orders: Select
    orders_for_update: Select
    lines: Select
    printed: Select
    line_counts: Update
    header: Update


@functools.cache
def _statements() -> _Statements:
    # The statements of every scan at the bench, built once with bound parameters: building
    # them cost SQLAlchemy more CPU than running them (see print_queue._statements).
    by_ids = select(orders).where(orders.c.id.in_(bindparam("ids", expanding=True)))
    return _Statements(
        orders=by_ids.order_by(orders.c.id),
        orders_for_update=by_ids.order_by(orders.c.id).with_for_update(),
        lines=select(order_lines)
        .where(order_lines.c.order_id.in_(bindparam("ids", expanding=True)))
        .order_by(order_lines.c.order_id, order_lines.c.position, order_lines.c.id),
        printed=select(
            printed_documents.c.order_id, printed_documents.c.document, printed_documents.c.last_at
        ).where(printed_documents.c.order_id.in_(bindparam("ids", expanding=True))),
        line_counts=update(order_lines)
        .where(
            order_lines.c.id == bindparam("line_id_"), order_lines.c.order_id == bindparam("order_")
        )
        .values(packed=bindparam("packed_"), delivered=bindparam("delivered_")),
        header=update(orders)
        .where(orders.c.id == bindparam("order_"))
        .values(
            status=bindparam("status_"),
            waiting=bindparam("waiting_"),
            own_status_id=bindparam("own_status_"),
            comment=bindparam("comment_"),
            value_minor=bindparam("value_"),
            updated_at=bindparam("updated_"),
        ),
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
    statements = _statements()
    query = statements.orders_for_update if for_update else statements.orders
    rows = conn.execute(query, {"ids": ids}).mappings().all()
    if not rows:
        return {}
    found = {"ids": [row["id"] for row in rows]}
    lines: dict[int, list[OrderLine]] = {}
    for line in conn.execute(statements.lines, found).mappings():
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
    for order_id, doc, at in conn.execute(statements.printed, found):
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
            country=row["country"],
            currency=row["currency"],
        )
        for row in rows
    }


def save_line_counts(conn: Connection, order: Order, line_ids: Iterable[int]) -> None:
    """Write the packed/delivered counts of the named lines."""
    lines = [order.line(line_id) for line_id in line_ids]
    counts = [
        {
            "line_id_": line.id,
            "order_": order.id,
            "packed_": line.packed,
            "delivered_": line.delivered,
        }
        for line in lines
    ]
    if counts:  # one executemany: a report-in writes every line it delivers
        conn.execute(_statements().line_counts, counts)


def save_order_header(conn: Connection, order: Order) -> None:
    """Write the order's state, flags and own status."""
    conn.execute(
        _statements().header,
        {
            "order_": order.id,
            "status_": order.status.value,
            "waiting_": order.waiting,
            "own_status_": order.own_status_id,
            "comment_": order.comment,
            "value_": order.value_minor,
            "updated_": utcnow(),
        },
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
        .where(in_status(conn, OrderStatus.PACKING.value, waiting=False))
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
        .where(in_status(conn, OrderStatus.PACKING.value, waiting=False))
    ).scalar_one()


def outbound_queue_mark(conn: Connection) -> tuple[object, ...]:
    """A value that changes when an order enters or leaves the outbound queue, one in it
    changes, or a document of one is printed: a screen compares it to see whether it must draw
    the queue again (the pack script of another process announces nothing here)."""
    in_queue = (in_status(conn, OrderStatus.PACKING.value, waiting=False),)
    queue = conn.execute(
        select(func.count(), func.sum(orders.c.id), func.max(orders.c.updated_at)).where(*in_queue)
    ).one()
    printed = conn.execute(
        select(func.count(), func.sum(printed_documents.c.times))
        .select_from(printed_documents.join(orders, orders.c.id == printed_documents.c.order_id))
        .where(*in_queue)
    ).one()
    return (*queue, *printed)
