"""Saving deliveries, their parcel ids and report-in (R13–R15) with the stock they move.

An order's next delivery exists before report-in as its *pending* delivery: a `deliveries` row
with no `reported_at` that holds the parcel ids typed, scanned or booked so far (at most one
per order). The unique constraint on `parcel_ids.parcel_id` holds for those too, so an id is
never on two orders, reported or not. Report-in completes that row.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    not_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from stationd.clock import utcnow
from stationd.core.deliveries import Delivery, ParcelIdTaken, ReportResult
from stationd.core.orders import OrderRuleError, OrderStatus
from stationd.core.text import sentence
from stationd.store.tables import deliveries, delivery_lines, order_lines, orders, parcel_ids, stock


def parcel_ids_in_use(
    conn: Connection, candidates: Iterable[str], *, besides_order: int | None = None
) -> set[str]:
    """Which of `candidates` are already on some delivery, reported or pending (R13: never on
    two orders) — not counting the pending delivery of `besides_order`."""
    wanted = list(candidates)
    if not wanted:
        return set()
    if besides_order is None:
        return set(conn.execute(_statements().in_use, {"ids": wanted}).scalars())
    found = conn.execute(_statements().in_use_besides, {"ids": wanted, "order_": besides_order})
    return set(found.scalars())


def pending_delivery(conn: Connection, order_id: int) -> Delivery | None:
    """The order's pending delivery (not reported yet) with its parcel ids, if it has one."""
    rows = conn.execute(_statements().pending, {"orders": [order_id]}).all()
    if not rows:
        return None
    ids = [parcel_id for _, _, parcel_id in rows if parcel_id is not None]
    return Delivery(order_id=order_id, quantities={}, parcel_ids=ids, id=rows[0][1])


@dataclass(frozen=True)
class _Statements:
    in_use: Select
    in_use_besides: Select
    pending: Select
    labelled: Select
    stock_out: Update


@functools.cache
def _statements() -> _Statements:
    # Built once with bound parameters: a report-in runs each of them, and building them cost
    # SQLAlchemy more CPU than running them (see print_queue._statements).
    in_use = select(parcel_ids.c.parcel_id).where(
        parcel_ids.c.parcel_id.in_(bindparam("ids", expanding=True))
    )
    besides = and_(deliveries.c.order_id == bindparam("order_"), deliveries.c.reported_at.is_(None))
    return _Statements(
        in_use=in_use,
        in_use_besides=in_use.join(deliveries, deliveries.c.id == parcel_ids.c.delivery_id).where(
            not_(besides)
        ),
        # The orders' pending deliveries and their ids in one query, in the order the ids
        # were added (a delivery with no id yet: one row, id None).
        pending=select(deliveries.c.order_id, deliveries.c.id, parcel_ids.c.parcel_id)
        .outerjoin(parcel_ids, parcel_ids.c.delivery_id == deliveries.c.id)
        .where(
            deliveries.c.order_id.in_(bindparam("orders", expanding=True)),
            deliveries.c.reported_at.is_(None),
        )
        .order_by(parcel_ids.c.position, parcel_ids.c.id),
        labelled=select(parcel_ids.c.parcel_id).where(
            parcel_ids.c.delivery_id == bindparam("delivery_"), parcel_ids.c.labelled.is_(True)
        ),
        stock_out=update(stock)
        .where(stock.c.sku == bindparam("sku_"))
        .values(
            on_hand=stock.c.on_hand - bindparam("out_"),
            reserved=stock.c.reserved - bindparam("released_"),
        ),
    )


def reported_delivery_count(conn: Connection, order_id: int) -> int:
    """How many deliveries of the order are reported (its next one is that plus one)."""
    query = select(func.count()).where(
        deliveries.c.order_id == order_id, deliveries.c.reported_at.is_not(None)
    )
    return int(conn.execute(query).scalar_one())


def pending_parcel_ids(conn: Connection, order_ids: Iterable[int]) -> dict[int, list[str]]:
    """The parcel ids kept for each order's next delivery, in the order they were added."""
    wanted = list(order_ids)
    found: dict[int, list[str]] = {order_id: [] for order_id in wanted}
    if not wanted:
        return found
    for order_id, _, parcel_id in conn.execute(_statements().pending, {"orders": wanted}):
        if parcel_id is not None:
            found[order_id].append(parcel_id)
    return found


def add_pending_parcel_id(
    conn: Connection, delivery: Delivery, parcel_id: str, *, station: str
) -> None:
    """Keep `parcel_id` on the pending `delivery` (created if it has no row yet), last.

    The caller holds the order's row lock and has checked the rules (core `add_parcel_id`).
    Raises `ParcelIdTaken` when another station took the id meanwhile; only this insert is
    undone then, so the caller's transaction can go on (to journal the refusal).
    """
    savepoint = conn.begin_nested()
    try:
        if delivery.id is None:
            delivery.id = conn.execute(
                insert(deliveries)
                .values(order_id=delivery.order_id, created_at=utcnow(), station=station)
                .returning(deliveries.c.id)
            ).scalar_one()
        position = conn.execute(
            select(func.coalesce(func.max(parcel_ids.c.position) + 1, 0)).where(
                parcel_ids.c.delivery_id == delivery.id
            )
        ).scalar_one()
        conn.execute(
            insert(parcel_ids).values(
                delivery_id=delivery.id, position=position, parcel_id=parcel_id
            )
        )
    except IntegrityError:
        savepoint.rollback()
        raise ParcelIdTaken(
            sentence("Parcel id {code} is already used on another order.", code=parcel_id)
        ) from None
    savepoint.commit()


def remove_pending_parcel_id(conn: Connection, order_id: int, parcel_id: str) -> bool:
    """Take `parcel_id` off the order's pending delivery; a delivery left with no id goes too.
    Returns whether it was there."""
    delivery = pending_delivery(conn, order_id)
    if delivery is None or parcel_id not in delivery.parcel_ids:
        return False
    conn.execute(
        delete(parcel_ids).where(
            parcel_ids.c.delivery_id == delivery.id, parcel_ids.c.parcel_id == parcel_id
        )
    )
    if len(delivery.parcel_ids) == 1:
        conn.execute(delete(deliveries).where(deliveries.c.id == delivery.id))
    return True


def labelled_parcel_ids(conn: Connection, delivery_id: int | None) -> set[str]:
    """The parcel ids of the delivery whose shipping label is queued already (R16)."""
    if delivery_id is None:
        return set()
    return set(conn.execute(_statements().labelled, {"delivery_": delivery_id}).scalars())


def mark_labelled(conn: Connection, delivery_id: int, ids: Iterable[str]) -> None:
    """Note that the labels of these parcel ids of the delivery are queued."""
    conn.execute(
        update(parcel_ids)
        .where(parcel_ids.c.delivery_id == delivery_id, parcel_ids.c.parcel_id.in_(list(ids)))
        .values(labelled=True)
    )


def write_delivery(
    conn: Connection,
    order_id: int,
    pending_id: int | None,
    *,
    quantities: Mapping[int, int],
    ids: Sequence[str],
    values: Mapping[str, Any],
    created_at: Any,
) -> int:
    """Write a reported delivery's row (`values`), lines and parcel ids; its id.

    The pending row `pending_id` is completed (its parcel ids become `ids`, each keeping
    whether its label is queued); without one a row is inserted. Raises IntegrityError when a
    parcel id is on another order already (R13's unique constraint): the caller says so.
    Shared by a station's report-in and central's apply of one (store.central_ops).
    """
    labelled = labelled_parcel_ids(conn, pending_id)
    if pending_id is not None:
        delivery_id = pending_id
        conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))
        conn.execute(delete(parcel_ids).where(parcel_ids.c.delivery_id == delivery_id))
    else:
        delivery_id = conn.execute(
            insert(deliveries)
            .values(order_id=order_id, created_at=created_at, **values)
            .returning(deliveries.c.id)
        ).scalar_one()
    if quantities:
        conn.execute(
            insert(delivery_lines),
            [
                {"delivery_id": delivery_id, "line_id": line_id, "quantity": qty}
                for line_id, qty in quantities.items()
            ],
        )
    if ids:
        conn.execute(
            insert(parcel_ids),
            [
                {
                    "delivery_id": delivery_id,
                    "position": i,
                    "parcel_id": pid,
                    "labelled": pid in labelled,
                }
                for i, pid in enumerate(ids)
            ],
        )
    return delivery_id


def save_reported_delivery(
    conn: Connection, delivery: Delivery, result: ReportResult, *, station: str
) -> int:
    """Save a reported delivery with its lines and parcel ids, and take its items off stock.

    A `delivery` with an id completes that pending row (its parcel ids become the reported
    ones, each keeping whether its label is queued); one without is inserted, and gets its id.
    """
    reported = {"reported_at": delivery.reported_at, "weight_g": delivery.weight_g}
    try:
        delivery.id = write_delivery(
            conn,
            delivery.order_id,
            delivery.id,
            quantities=delivery.quantities,
            ids=delivery.parcel_ids,
            values={**reported, "station": station},
            created_at=utcnow(),
        )
    except IntegrityError:
        # R13: another station reported one of these ids since they were checked; the unique
        # constraint caught it. The caller's transaction rolls back on the way out.
        raise OrderRuleError(
            sentence(
                "A parcel id of this delivery ({ids}) is already used on another order.",
                ids=", ".join(delivery.parcel_ids),
            )
        ) from None
    if result.stock_out:
        conn.execute(
            _statements().stock_out,
            [
                {"sku_": sku, "out_": qty, "released_": result.released.get(sku, 0)}
                for sku, qty in result.stock_out.items()
            ],
        )
    return delivery.id


def _ready_to_ship() -> tuple[ColumnElement[bool], ...]:
    # R13: packing orders with items packed and not yet delivered; R3: none that wait. Found
    # from the packed lines (ix_order_lines_packed holds only those), not by reading every
    # packing order's lines: 75 ms on PostgreSQL at 85,308 packing orders (issue 10 item 13).
    packed = orders.c.id.in_(select(order_lines.c.order_id).where(order_lines.c.packed > 0))
    return (packed, orders.c.status == OrderStatus.PACKING.value, orders.c.waiting.is_(False))


def ready_to_ship(conn: Connection, *, limit: int = 20, offset: int = 0) -> list[int]:
    """The ids of the orders the ship-out page lists (R13), oldest first."""
    return list(
        conn.execute(
            select(orders.c.id)
            .where(*_ready_to_ship())
            .order_by(orders.c.placed_at, orders.c.id)
            .limit(limit)
            .offset(offset)
        ).scalars()
    )


def count_ready_to_ship(conn: Connection) -> int:
    """How many orders `ready_to_ship` lists in all."""
    return conn.execute(
        select(func.count()).select_from(orders).where(*_ready_to_ship())
    ).scalar_one()


def ready_to_ship_mark(conn: Connection) -> tuple[object, ...]:
    """A value that changes when the ship-out list would: an order becomes packed or ships,
    an item is packed, a parcel id is kept or removed — also when another station did it (no
    event reaches this process then)."""
    listed = conn.execute(
        select(func.count(), func.sum(orders.c.id), func.max(orders.c.updated_at)).where(
            *_ready_to_ship()
        )
    ).one()
    # A delivery reported moves items from packed to delivered: the packed lines show it.
    packed = conn.execute(
        select(func.count(), func.sum(order_lines.c.packed)).where(order_lines.c.packed > 0)
    ).one()
    kept = conn.execute(
        select(func.count(), func.max(parcel_ids.c.id))
        .select_from(deliveries)
        .join(parcel_ids, parcel_ids.c.delivery_id == deliveries.c.id)
        .where(deliveries.c.reported_at.is_(None))
    ).one()
    return (*listed, *packed, *kept)
