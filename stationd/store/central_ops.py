"""Central's op inbox (docs/sync.md "Ops out"): one op a station pushed, applied once, in one
transaction of the central PostgreSQL.

`apply_op` locks the order's row and then its claim's (every writer of an order takes them in
that order), answers a key it has seen with the stored outcome, else reads the order as core
needs it, lets `core.sync_ops.decide` rule and writes the effects, the op's row in `sync_ops`
(`INSERT … ON CONFLICT DO NOTHING`: a second push of the key changes nothing) and the admin's
task, if any. `apply_in_transaction` runs it in a transaction of its own and turns an op that
central's constraints refuse into a refusal stored like any other, so no op blocks the queue.
A station's consecutive ops in one transaction: `store.central_op_groups`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from stationd.core import audit as ev
from stationd.core import sync_ops as so
from stationd.core.deliveries import Delivery
from stationd.core.text import sentence, text_data, text_from_data
from stationd.store.deliveries import (
    add_pending_parcel_id,
    pending_delivery,
    remove_pending_parcel_id,
    write_delivery,
)
from stationd.store.stock_moves import StockMoves
from stationd.store.tables import (
    deliveries,
    order_lines,
    orders,
    own_statuses,
    parcel_ids,
    products,
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
    #: A sentence (`core.text.Text`) where central kept one: the bench says it in its language.
    reason: str | None = None
    duplicate: bool = False


class _KeyTakenMeanwhile(Exception):
    """The op's key was inserted by another transaction after this one looked."""


def apply_in_transaction(conn: Connection, op: so.Op, at: datetime) -> OpOutcome:
    """Apply `op`, which the station wrote `at` (its clock: kept, never compared), in a
    transaction of its own on `conn` (which has none open).

    A constraint of central's that the op breaks (a parcel id another order took in the same
    instant, a count out of range) refuses the op, stored like any refusal. A network or server
    error propagates: the caller tries the op again later, and its key makes that safe.
    """
    for attempt in range(1, CONFLICT_TRIES + 1):
        try:
            with conn.begin():
                return apply_op(conn, op, at)
        except _KeyTakenMeanwhile:
            break
        except OperationalError as err:
            # Central broke a lock cycle (or a serialization conflict) by aborting this op:
            # nothing of it committed, and it goes again — no outage to back off from.
            if not lost_a_conflict(err) or attempt == CONFLICT_TRIES:
                raise
        except (IntegrityError, DataError) as err:
            return _refuse(conn, op, at, err)
    with conn.begin():
        stored = _stored(conn, op.key)
    assert stored is not None  # another transaction committed it
    return stored


#: How often one op is tried when central aborts it to break a deadlock.
CONFLICT_TRIES = 5


def lost_a_conflict(err: OperationalError) -> bool:
    """Whether central aborted the transaction to break a deadlock (40P01) or a serialization
    conflict (40001): the work is sound and goes again, central is not away."""
    return getattr(err.orig, "sqlstate", None) in ("40P01", "40001")


def _refuse(conn: Connection, op: so.Op, at: datetime, err: Exception) -> OpOutcome:
    reason = sentence("Central could not apply this change: {why}", why=first_line(err))
    with conn.begin():
        if stored := _stored(conn, op.key):
            return stored
        _insert_op(conn, op, at, so.REFUSED, reason)
        return OpOutcome(op.key, so.REFUSED, reason)


#: The order as an op meets it, read in one round trip: its row locked first, then its claim's
#: (the CTE is scanned before the lateral join runs, so the order's lock comes first, as in the
#: claim-ahead of store/central_claims; a take-over waits for the op, or the op for it), the
#: op's key if central has seen it, the lines and the parcel ids with whether each is labelled
#: or reported. On a busy central the round trips, not the work, are what an op costs
#: (bench/sync_push.py).
#: What an op's rules read of its order `o` (locked first by the caller's CTE): its lines,
#: its parcel ids, whether it was reported, and its claim's row, locked after the order's.
_ORDER_PARTS = """
           (SELECT coalesce(json_agg(json_build_array(l.id, l.sku, l.quantity, l.packed,
                                                      l.delivered, l.unit_price_minor)
                                     ORDER BY l.position, l.id), '[]')
              FROM order_lines l WHERE l.order_id = o.id) AS lines,
           (SELECT coalesce(json_agg(json_build_array(p.parcel_id, p.labelled,
                                                      d.reported_at IS NOT NULL)
                                     ORDER BY p.position, p.id), '[]')
              FROM deliveries d JOIN parcel_ids p ON p.delivery_id = d.id
             WHERE d.order_id = o.id) AS parcels,
           EXISTS (SELECT 1 FROM deliveries d
                    WHERE d.order_id = o.id AND d.reported_at IS NOT NULL) AS reported
      FROM o
      LEFT JOIN LATERAL (SELECT station, epoch FROM order_claims
                          WHERE order_id = o.id FOR UPDATE) c ON true
"""
_ORDER_READ = text(
    """
    WITH o AS MATERIALIZED (
        SELECT id, status, waiting FROM orders WHERE id = :order_id FOR UPDATE
    )
    SELECT o.status, o.waiting, c.station AS claim_station, c.epoch AS claim_epoch,
           s.outcome AS seen_outcome, s.reason AS seen_reason, s.reason_data AS seen_data,"""
    + _ORDER_PARTS
    + """
      LEFT JOIN sync_ops s ON s.key = :key
    """
)


def apply_op(conn: Connection, op: so.Op, at: datetime) -> OpOutcome:
    """Apply `op` in the caller's transaction (see the module's docstring), its stock moves
    written before it returns (a group's `_apply`s write theirs at the group's end)."""
    moves = StockMoves()
    outcome = _apply(conn, op, at, moves)
    moves.write(conn)
    return outcome


def _apply(conn: Connection, op: so.Op, at: datetime, moves: StockMoves) -> OpOutcome:
    row = None
    if op.order_id is not None:
        row = conn.execute(_ORDER_READ, {"key": op.key, "order_id": op.order_id}).first()
    if row is not None and row.seen_outcome is not None:
        reason = _reason(row.seen_reason, row.seen_data)
        return OpOutcome(op.key, row.seen_outcome, reason, duplicate=True)
    if row is None and (stored := _stored(conn, op.key)):
        return stored
    central = None
    elsewhere = so.Elsewhere()
    if so.ruled_on(op):
        if row is not None:
            central = _central_order(op.order_id, row)  # type: ignore[arg-type]
        elsewhere = _elsewhere(conn, op)
    decision = so.decide(op, central, elsewhere)
    reason = decision.reason
    packed = None
    match decision.effects:
        case (so.PackedDelta() as packed,):
            pass  # a scan's op, the most common: its effect rides with its inbox row
        case effects:
            for effect in effects:
                _write(conn, op, at, effect, moves)
    if not _insert_op(conn, op, at, decision.outcome, reason, packed=packed):
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
                text_data=text_data(decision.task),
            )
        )
    return OpOutcome(op.key, decision.outcome, reason)


def _stored(conn: Connection, key: str) -> OpOutcome | None:
    row = conn.execute(
        select(sync_ops.c.outcome, sync_ops.c.reason, sync_ops.c.reason_data).where(
            sync_ops.c.key == key
        )
    ).first()
    if row is None:
        return None
    return OpOutcome(key, row.outcome, _reason(row.reason, row.reason_data), duplicate=True)


def _reason(english: str | None, data: str | None) -> str | None:
    """A stored reason as the sentence it was (its English alone, from before 0009)."""
    return None if english is None else text_from_data(data, english)


_INSERT_SQL = """
    INSERT INTO sync_ops (key, station, kind, order_id, epoch, at, received_at, payload,
                          outcome, reason, reason_data)
    VALUES (:key, :station, :kind, :order_id, :epoch, :at, now(), :payload, :outcome, :reason,
            :reason_data)
    ON CONFLICT (key) DO NOTHING
    RETURNING key
"""  # received_at: central's clock
_INSERT_OP = text(_INSERT_SQL)
#: The same with a line's packed count moved in the same statement: one round trip, not two.
_PACKED_AND_INSERT_OP = text(
    "WITH packed AS (UPDATE order_lines SET packed = greatest(packed + :delta, 0) "
    "WHERE id = :line_id AND order_id = :order_id) " + _INSERT_SQL
)


def _row(op: so.Op, at: datetime, outcome: str, reason: str | None) -> dict[str, Any]:
    """An op's row in `sync_ops`, as the statements' parameters."""
    return {
        "key": op.key,
        "station": op.station,
        "kind": op.kind,
        "order_id": op.order_id,
        "epoch": op.epoch,
        "at": at,
        "payload": json.dumps(dict(op.payload), ensure_ascii=False, default=str),
        "outcome": outcome,
        "reason": None if reason is None else str(reason),
        "reason_data": text_data(reason),
    }


def _insert_op(
    conn: Connection,
    op: so.Op,
    at: datetime,
    outcome: str,
    reason: str | None,
    *,
    packed: so.PackedDelta | None = None,
) -> bool:
    values = _row(op, at, outcome, reason)
    if packed is None:
        return conn.execute(_INSERT_OP, values).first() is not None
    values.update(delta=packed.delta, line_id=packed.line_id)
    return conn.execute(_PACKED_AND_INSERT_OP, values).first() is not None


_PACKED = text(
    "UPDATE order_lines SET packed = greatest(packed + :delta, 0) "
    "WHERE id = :line_id AND order_id = :order_id"
)


def _central_order(order_id: int, row: Any) -> so.CentralOrder:
    pending: list[str] = []
    reported: list[str] = []
    labelled = bool(row.reported)
    for pid, was_labelled, was_reported in _json(row.parcels):
        (reported if was_reported else pending).append(pid)
        labelled = labelled or was_labelled or was_reported
    claim = None
    if row.claim_station is not None:
        claim = so.Claim(row.claim_station, row.claim_epoch)
    return so.CentralOrder(
        order_id,
        row.status,
        tuple(so.CentralLine(*line) for line in _json(row.lines)),
        waiting=row.waiting,
        claim=claim,
        labelled=labelled,
        pending_parcel_ids=tuple(pending),
        reported_parcel_ids=tuple(reported),
    )


def _json(value: Any) -> list[Any]:
    return json.loads(value) if isinstance(value, str) else list(value or ())


def _elsewhere(conn: Connection, op: so.Op) -> so.Elsewhere:
    if not so.needs_elsewhere(op):
        return so.Elsewhere()
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
    refused: dict[int, int] = {}
    if op.kind in so.REPORT_KINDS:
        refused = _refused_packing(conn, op)
    return so.Elsewhere(taken, codes, refused)


def _refused_packing(conn: Connection, op: so.Op) -> dict[int, int]:
    """The op's station's item scans on the order that central refused, per line: refused
    packs less refused unpacks (an item taken out again is not in the box). Read for a
    reported delivery only; refusals are few (ix_sync_ops_order)."""
    counts: dict[int, int] = {}
    rows = conn.execute(
        select(sync_ops.c.kind, sync_ops.c.payload).where(
            sync_ops.c.order_id == op.order_id,
            sync_ops.c.station == op.station,
            sync_ops.c.outcome == so.REFUSED,
            sync_ops.c.kind.in_((ev.ItemPacked.kind, ev.ItemUnpacked.kind)),
        )
    )
    for kind, payload in rows:
        line_id = json.loads(payload or "{}").get("line_id")
        if isinstance(line_id, int):
            counts[line_id] = counts.get(line_id, 0) + (1 if kind == ev.ItemPacked.kind else -1)
    return {line_id: n for line_id, n in counts.items() if n > 0}


def _write(conn: Connection, op: so.Op, at: datetime, effect: so.Effect, moves: StockMoves) -> None:
    order_id = op.order_id
    assert order_id is not None
    line_of = (order_lines.c.order_id == order_id,)
    match effect:
        case so.PackedDelta(line_id, delta):
            conn.execute(_PACKED, {"delta": delta, "line_id": line_id, "order_id": order_id})
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
            _report(conn, op, at, effect, moves)
        case so.SetQuantity(line_id, sku, quantity, released):
            conn.execute(
                update(order_lines)
                .where(order_lines.c.id == line_id, *line_of)
                .values(quantity=quantity)
            )
            moves.release(sku, released)
            _touch(conn, order_id, value=True)
        case so.DropLine(line_id, sku, released):
            conn.execute(delete(order_lines).where(order_lines.c.id == line_id, *line_of))
            moves.release(sku, released)
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


def _report(
    conn: Connection, op: so.Op, at: datetime, report: so.Report, moves: StockMoves
) -> None:
    """A reported delivery: the pending one completed (or a new one), its lines and parcel ids,
    the line counts, the stock, the order's status. Stock never below zero: the parcel left."""
    order_id = op.order_id
    pending = pending_delivery(conn, order_id)  # type: ignore[arg-type]
    write_delivery(
        conn,
        order_id,  # type: ignore[arg-type]
        pending.id if pending is not None else None,
        quantities=report.quantities,
        ids=report.parcel_ids,
        values={"reported_at": at, "station": op.station},
        created_at=func.now(),
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
        moves.take_out(sku, qty, released=report.released.get(sku, 0))
    _touch(conn, order_id, status=report.status)  # type: ignore[arg-type]


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


__all__ = [
    "OpOutcome",
    "apply_in_transaction",
    "apply_op",
]
