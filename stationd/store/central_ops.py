"""Central's op inbox (docs/sync.md "Ops out"): one op a station pushed, applied once, in one
transaction of the central PostgreSQL.

`apply_op` locks the order's row and then its claim's (every writer of an order takes them in
that order), answers a key it has seen with the stored outcome, else reads the order as core
needs it, lets `core.sync_ops.decide` rule and writes the effects, the op's row in `sync_ops`
(`INSERT … ON CONFLICT DO NOTHING`: a second push of the key changes nothing) and the admin's
task, if any. `apply_in_transaction` runs it in a transaction of its own and turns an op that
central's constraints refuse into a refusal stored like any other, so no op blocks the queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DataError, IntegrityError

from stationd.core import sync_ops as so
from stationd.core.deliveries import Delivery
from stationd.store.deliveries import (
    add_pending_parcel_id,
    pending_delivery,
    remove_pending_parcel_id,
)
from stationd.store.tables import (
    deliveries,
    delivery_lines,
    order_claims,
    order_lines,
    orders,
    own_statuses,
    parcel_ids,
    products,
    stock,
    sync_ops,
    sync_tasks,
)
from stationd.store.unavailable import first_line


@dataclass(frozen=True, slots=True)
class OpOutcome:
    """Central's answer to one op: `accepted` or `refused`, the reason, and whether it was the
    stored answer to a key seen before (a duplicate push, an ack lost after the commit)."""

    key: str
    outcome: str
    reason: str | None = None
    duplicate: bool = False


class _KeyTakenMeanwhile(Exception):
    """The op's key was inserted by another transaction after this one looked."""


def central_engine(url: str, *, timeout_s: float) -> Engine:
    """An engine on the central PostgreSQL whose every exchange ends within `timeout_s`:
    connecting, each statement, and a transaction left idle (a station that died mid-op
    lets go of the order's lock)."""
    ms = int(timeout_s * 1000)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=2,
        connect_args={
            "connect_timeout": max(1, int(timeout_s)),
            "options": f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms}",
        },
    )


def apply_in_transaction(conn: Connection, op: so.Op, at: datetime) -> OpOutcome:
    """Apply `op`, which the station wrote `at` (its clock: kept, never compared), in a
    transaction of its own on `conn` (which has none open).

    A constraint of central's that the op breaks (a parcel id another order took in the same
    instant, a count out of range) refuses the op, stored like any refusal. A network or server
    error propagates: the caller tries the op again later, and its key makes that safe.
    """
    try:
        with conn.begin():
            return apply_op(conn, op, at)
    except _KeyTakenMeanwhile:
        pass
    except (IntegrityError, DataError) as err:
        reason = f"Central could not apply this change: {first_line(err)}"
        with conn.begin():
            if stored := _stored(conn, op.key):
                return stored
            _insert_op(conn, op, at, so.REFUSED, reason)
            return OpOutcome(op.key, so.REFUSED, reason)
    with conn.begin():
        stored = _stored(conn, op.key)
    assert stored is not None  # another transaction committed it
    return stored


def apply_op(conn: Connection, op: so.Op, at: datetime) -> OpOutcome:
    """Apply `op` in the caller's transaction (see the module's docstring)."""
    order = None
    if op.order_id is not None:
        row = conn.execute(
            select(orders.c.status, orders.c.waiting)
            .where(orders.c.id == op.order_id)
            .with_for_update()
        ).first()
        claim = conn.execute(
            select(order_claims.c.station, order_claims.c.epoch)
            .where(order_claims.c.order_id == op.order_id)
            .with_for_update()
        ).first()
        if row is not None:
            order = (row, claim)
    if stored := _stored(conn, op.key):
        return stored
    central = None
    elsewhere = so.Elsewhere()
    if op.kind in so.BENCH_KINDS or op.kind in so.EDIT_KINDS:
        if order is not None:
            central = _central_order(conn, op.order_id, *order)  # type: ignore[arg-type]
        elsewhere = _elsewhere(conn, op)
    decision = so.decide(op, central, elsewhere)
    for effect in decision.effects:
        _write(conn, op, at, effect)
    reason = str(decision.reason) if decision.reason is not None else None
    if not _insert_op(conn, op, at, decision.outcome, reason):
        raise _KeyTakenMeanwhile(op.key)
    if decision.task is not None:
        conn.execute(
            insert(sync_tasks).values(
                created_at=func.now(),
                order_id=op.order_id,
                op_key=op.key,
                station=op.station,
                kind=op.kind,
                text=str(decision.task),
            )
        )
    return OpOutcome(op.key, decision.outcome, reason)


def _stored(conn: Connection, key: str) -> OpOutcome | None:
    row = conn.execute(
        select(sync_ops.c.outcome, sync_ops.c.reason).where(sync_ops.c.key == key)
    ).first()
    return None if row is None else OpOutcome(key, row.outcome, row.reason, duplicate=True)


def _insert_op(conn: Connection, op: so.Op, at: datetime, outcome: str, reason: str | None) -> bool:
    inserted = conn.execute(
        pg_insert(sync_ops)
        .values(
            key=op.key,
            station=op.station,
            kind=op.kind,
            order_id=op.order_id,
            epoch=op.epoch,
            at=at,
            received_at=func.now(),  # central's clock
            payload=json.dumps(dict(op.payload), ensure_ascii=False, default=str),
            outcome=outcome,
            reason=reason,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(sync_ops.c.key)
    ).first()
    return inserted is not None


def _central_order(conn: Connection, order_id: int, row: Any, claim: Any) -> so.CentralOrder:
    lines = tuple(
        so.CentralLine(r.id, r.sku, r.quantity, r.packed, r.delivered, r.unit_price_minor)
        for r in conn.execute(
            select(
                order_lines.c.id,
                order_lines.c.sku,
                order_lines.c.quantity,
                order_lines.c.packed,
                order_lines.c.delivered,
                order_lines.c.unit_price_minor,
            )
            .where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.position, order_lines.c.id)
        )
    )
    pending: list[str] = []
    reported: list[str] = []
    labelled = False
    for pid, was_labelled, reported_at in conn.execute(
        select(parcel_ids.c.parcel_id, parcel_ids.c.labelled, deliveries.c.reported_at)
        .join(deliveries, deliveries.c.id == parcel_ids.c.delivery_id)
        .where(deliveries.c.order_id == order_id)
        .order_by(parcel_ids.c.position, parcel_ids.c.id)
    ):
        (pending if reported_at is None else reported).append(pid)
        labelled = labelled or was_labelled or reported_at is not None
    if not labelled:
        labelled = (
            conn.execute(
                select(deliveries.c.id)
                .where(deliveries.c.order_id == order_id, deliveries.c.reported_at.is_not(None))
                .limit(1)
            ).first()
            is not None
        )
    return so.CentralOrder(
        order_id,
        row.status,
        lines,
        waiting=row.waiting,
        claim=None if claim is None else so.Claim(claim.station, claim.epoch),
        labelled=labelled,
        pending_parcel_ids=tuple(pending),
        reported_parcel_ids=tuple(reported),
    )


def _elsewhere(conn: Connection, op: so.Op) -> so.Elsewhere:
    taken: set[str] = set()
    if wanted := so.parcel_ids_of(op):
        taken = set(
            conn.execute(
                select(parcel_ids.c.parcel_id)
                .join(deliveries, deliveries.c.id == parcel_ids.c.delivery_id)
                .where(parcel_ids.c.parcel_id.in_(wanted), deliveries.c.order_id != op.order_id)
            ).scalars()
        )
    codes: set[str] = set()
    if op.kind == "order.own_status":
        codes = set(conn.execute(select(own_statuses.c.code)).scalars())
    return so.Elsewhere(taken, codes)


def _write(conn: Connection, op: so.Op, at: datetime, effect: so.Effect) -> None:
    order_id = op.order_id
    assert order_id is not None
    line_of = (order_lines.c.order_id == order_id,)
    match effect:
        case so.PackedDelta(line_id, delta):
            conn.execute(
                update(order_lines)
                .where(order_lines.c.id == line_id, *line_of)
                .values(packed=func.greatest(order_lines.c.packed + delta, 0))
            )
        case so.KeepParcelId(pid):
            pending = pending_delivery(conn, order_id) or Delivery(order_id=order_id, quantities={})
            add_pending_parcel_id(conn, pending, pid, station=op.station)
        case so.DropParcelId(pid):
            remove_pending_parcel_id(conn, order_id, pid)
        case so.MarkLabelled(pids) if pids:
            conn.execute(
                update(parcel_ids)
                .where(
                    parcel_ids.c.parcel_id.in_(list(pids)),
                    parcel_ids.c.delivery_id.in_(
                        select(deliveries.c.id).where(deliveries.c.order_id == order_id)
                    ),
                )
                .values(labelled=True)
            )
        case so.Report():
            _report(conn, op, at, effect)
        case so.SetQuantity(line_id, sku, quantity, released):
            conn.execute(
                update(order_lines)
                .where(order_lines.c.id == line_id, *line_of)
                .values(quantity=quantity)
            )
            _release(conn, sku, released)
            _touch(conn, order_id, value=True)
        case so.DropLine(line_id, sku, released):
            conn.execute(delete(order_lines).where(order_lines.c.id == line_id, *line_of))
            _release(conn, sku, released)
            _touch(conn, order_id, value=True)
        case so.AddLine(sku, quantity, price):
            product = conn.execute(
                select(products.c.name, products.c.gtin).where(products.c.sku == sku)
            ).first()
            last = conn.execute(select(func.max(order_lines.c.position)).where(*line_of)).scalar()
            conn.execute(
                insert(order_lines).values(
                    order_id=order_id,
                    position=0 if last is None else last + 1,
                    sku=sku,
                    name=product.name if product else sku,
                    gtin=product.gtin if product else None,
                    quantity=quantity,
                    unit_price_minor=price,
                )
            )
            _touch(conn, order_id, value=True)
        case so.SetWaiting(waiting):
            _touch(conn, order_id, waiting=waiting)
        case so.SetOwnStatus(code):
            own = None
            if code is not None:
                own = select(own_statuses.c.id).where(own_statuses.c.code == code).scalar_subquery()
            _touch(conn, order_id, own_status_id=own)


def _report(conn: Connection, op: so.Op, at: datetime, report: so.Report) -> None:
    """A reported delivery: the pending one completed (or a new one), its lines and parcel ids,
    the line counts, the stock, the order's status. Stock never below zero: the parcel left."""
    order_id = op.order_id
    pending = pending_delivery(conn, order_id)  # type: ignore[arg-type]
    values = {"reported_at": at, "station": op.station}
    if pending is not None:
        delivery_id = pending.id
        labelled = set(
            conn.execute(
                select(parcel_ids.c.parcel_id).where(
                    parcel_ids.c.delivery_id == delivery_id, parcel_ids.c.labelled.is_(True)
                )
            ).scalars()
        )
        conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))
        conn.execute(delete(parcel_ids).where(parcel_ids.c.delivery_id == delivery_id))
    else:
        labelled = set()
        delivery_id = conn.execute(
            insert(deliveries)
            .values(order_id=order_id, created_at=func.now(), **values)
            .returning(deliveries.c.id)
        ).scalar_one()
    if report.quantities:
        conn.execute(
            insert(delivery_lines),
            [
                {"delivery_id": delivery_id, "line_id": line_id, "quantity": qty}
                for line_id, qty in report.quantities.items()
            ],
        )
    if report.parcel_ids:
        conn.execute(
            insert(parcel_ids),
            [
                {
                    "delivery_id": delivery_id,
                    "position": i,
                    "parcel_id": pid,
                    "labelled": pid in labelled,
                }
                for i, pid in enumerate(report.parcel_ids)
            ],
        )
    for line_id, qty in report.quantities.items():
        conn.execute(
            update(order_lines)
            .where(order_lines.c.id == line_id, order_lines.c.order_id == order_id)
            .values(
                delivered=order_lines.c.delivered + qty,
                packed=func.greatest(order_lines.c.packed - report.unpacked.get(line_id, 0), 0),
            )
        )
    for sku, qty in report.stock_out.items():
        released = report.released.get(sku, 0)
        conn.execute(
            update(stock)
            .where(stock.c.sku == sku)
            .values(
                on_hand=func.greatest(stock.c.on_hand - qty, 0),
                reserved=func.greatest(stock.c.reserved - released, 0),
            )
        )
    _touch(conn, order_id, status=report.status)  # type: ignore[arg-type]


def _release(conn: Connection, sku: str, quantity: int) -> None:
    if quantity:
        conn.execute(
            update(stock)
            .where(stock.c.sku == sku)
            .values(reserved=func.greatest(stock.c.reserved - quantity, 0))
        )


def _touch(conn: Connection, order_id: int, *, value: bool = False, **values: Any) -> None:
    if value:
        values["value_minor"] = (
            select(
                func.coalesce(func.sum(order_lines.c.quantity * order_lines.c.unit_price_minor), 0)
            )
            .where(order_lines.c.order_id == order_id)
            .scalar_subquery()
        )
    conn.execute(
        update(orders).where(orders.c.id == order_id).values(updated_at=func.now(), **values)
    )


__all__ = ["OpOutcome", "apply_in_transaction", "apply_op", "central_engine"]
