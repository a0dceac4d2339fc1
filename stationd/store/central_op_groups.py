"""Central's op inbox for a group of ops (docs/sync.md "Ops out"): a station's consecutive
ops applied in one transaction of the central PostgreSQL, each with the outcome
`store.central_ops.apply_op` would give it alone; its plain ops read and written set-based.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from stationd.core import sync_ops as so
from stationd.store.central_ops import (
    _ORDER_PARTS,
    OpOutcome,
    _apply,
    _central_order,
    _KeyTakenMeanwhile,
    _reason,
    _row,
    apply_in_transaction,
    lost_a_conflict,
)
from stationd.store.stock_moves import StockMoves


def apply_group(conn: Connection, ops: Sequence[tuple[so.Op, datetime]]) -> list[OpOutcome]:
    """Apply a station's consecutive ops in one transaction, each exactly as `apply_op` would
    (its own outcome, its effects and its inbox row together): the commit — an fsync on
    central — is paid once per group, not per op, and the group's plain ops (a scan's count,
    a sign-in) are read and written set-based (`_Group`): a few statements for the group, not
    two per op. If any op of the group fails (a constraint, its key taken meanwhile, a
    deadlock central broke by aborting the group) the whole group rolls back and each op is
    applied in a transaction of its own (`apply_in_transaction`): only there can one op fail
    alone. A network or server error propagates, nothing of the group committed or all of it."""
    if len(ops) == 1:
        return [apply_in_transaction(conn, *ops[0])]
    try:
        with conn.begin():
            return _Group(conn).apply(ops)
    except (_KeyTakenMeanwhile, IntegrityError, DataError):
        pass
    except OperationalError as err:
        # A group locks its orders (and their stock) in its ops' order, so two benches'
        # groups can wait on each other; one op a transaction holds one order's locks at a
        # time and makes no such cycle.
        if not lost_a_conflict(err):
            raise
    return [apply_in_transaction(conn, op, at) for op, at in ops]


#: The group's keys central has seen, with their stored answers.
_SEEN = text(
    "SELECT key, outcome, reason, reason_data FROM sync_ops WHERE key = ANY(CAST(:keys AS text[]))"
)

#: The group's orders as `_ORDER_READ` reads one: each order's row locked (in id order: two
#: groups meet their common orders in the same order), then its claim's.
_ORDERS_READ = text(
    """
    WITH o AS MATERIALIZED (
        SELECT id, status, waiting FROM orders WHERE id = ANY(CAST(:ids AS bigint[]))
        ORDER BY id FOR UPDATE
    )
    SELECT o.id, o.status, o.waiting, c.station AS claim_station, c.epoch AS claim_epoch,"""
    + _ORDER_PARTS
)

_ROWS_INSERT = """
    INSERT INTO sync_ops (key, station, kind, order_id, epoch, at, received_at, payload,
                          outcome, reason, reason_data)
    SELECT v.key, v.station, v.kind, v.order_id, v.epoch, v.at, now(), v.payload, v.outcome,
           v.reason, v.reason_data
      FROM unnest(CAST(:key AS text[]), CAST(:station AS text[]), CAST(:kind AS text[]),
                  CAST(:order_id AS bigint[]), CAST(:epoch AS bigint[]),
                  CAST(:at AS timestamptz[]), CAST(:payload AS text[]),
                  CAST(:outcome AS text[]), CAST(:reason AS text[]),
                  CAST(:reason_data AS text[]))
           AS v(key, station, kind, order_id, epoch, at, payload, outcome, reason, reason_data)
    ON CONFLICT (key) DO NOTHING
    RETURNING key
"""  # received_at: central's clock
_ROWS = text(_ROWS_INSERT)
#: The same with the lines' packed counts set: one statement (and one change-feed row) for
#: the group's scans. Set, not moved: the group read them under the order's lock and ruled
#: on each op in turn with the count as the op before it left it (clamped at 0 each time).
_PACKED_AND_ROWS = text(
    "WITH packed AS (UPDATE order_lines l SET packed = v.packed "
    "FROM unnest(CAST(:line_id AS bigint[]), CAST(:packed AS integer[])) AS v(id, packed) "
    "WHERE l.id = v.id) " + _ROWS_INSERT
)


class _Group:
    """One group's ops in the caller's transaction, set-based where an op is plain.

    The group's seen keys are read in one statement and its orders (locked, with claims,
    lines and parcel ids) in another. A plain op — one core rules on from the order alone
    and whose only effect is a line's packed count (a scan), or none — is decided against the
    order as the group's ops before it left it, and its inbox row and count wait for the
    group's end, written in one statement. Any other op (a parcel id, a report, an edit, one
    that leaves a task) first writes what waits, then goes `_apply`'s way, and its order is
    read again for the ops after it. Every op gets the outcome it would get alone."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.moves = StockMoves()
        self.orders: dict[int, so.CentralOrder | None] = {}
        self.rows: list[dict[str, Any]] = []
        self.packed: dict[int, int] = {}  # line → its count, to be written

    def apply(self, ops: Sequence[tuple[so.Op, datetime]]) -> list[OpOutcome]:
        seen = {
            row.key: OpOutcome(
                row.key, row.outcome, _reason(row.reason, row.reason_data), duplicate=True
            )
            for row in self.conn.execute(_SEEN, {"keys": [op.key for op, _ in ops]})
        }
        self._read({op.order_id for op, _ in ops if op.key not in seen} - {None})  # type: ignore[arg-type]
        outcomes = [seen.get(op.key) or self._one(op, at) for op, at in ops]
        self._write_waiting()
        self.moves.write(self.conn)
        return outcomes

    def _read(self, order_ids: set[int]) -> None:
        ids = sorted(order_ids)
        if not ids:
            return
        for order_id in ids:
            self.orders[order_id] = None  # gone at central unless read below
        for row in self.conn.execute(_ORDERS_READ, {"ids": ids}):
            self.orders[row.id] = _central_order(row.id, row)

    def _one(self, op: so.Op, at: datetime) -> OpOutcome:
        rules = so.ruled_on(op)
        if rules and so.needs_elsewhere(op):
            return self._alone(op, at)
        central = None
        if rules and op.order_id is not None:
            if op.order_id not in self.orders:
                self._read({op.order_id})  # read again after an op that went alone
            central = self.orders[op.order_id]
        decision = so.decide(op, central, so.Elsewhere())
        if decision.task is not None or any(
            not isinstance(effect, so.PackedDelta) for effect in decision.effects
        ):
            return self._alone(op, at)
        for effect in decision.effects:
            assert isinstance(effect, so.PackedDelta) and central is not None
            # Core made the delta from this order's line. Never below 0, as _PACKED's greatest.
            line = central.line(effect.line_id)
            count = max(line.packed + effect.delta, 0)  # type: ignore[union-attr]
            self.packed[line.id] = count
            central = replace(
                central,
                lines=tuple(
                    replace(old, packed=count) if old.id == line.id else old
                    for old in central.lines
                ),
            )
            self.orders[op.order_id] = central  # type: ignore[index]
        self.rows.append(_row(op, at, decision.outcome, decision.reason))
        return OpOutcome(op.key, decision.outcome, decision.reason)

    def _alone(self, op: so.Op, at: datetime) -> OpOutcome:
        self._write_waiting()
        outcome = _apply(self.conn, op, at, self.moves)
        if op.order_id is not None:
            self.orders.pop(op.order_id, None)  # changed: read again when next needed
        return outcome

    def _write_waiting(self) -> None:
        if not self.rows:
            return
        # the columns of `_row`, each as one array
        params: dict[str, list[Any]] = {name: [r[name] for r in self.rows] for name in self.rows[0]}
        statement = _ROWS
        if self.packed:
            statement = _PACKED_AND_ROWS
            params["line_id"] = list(self.packed)
            params["packed"] = list(self.packed.values())
        inserted = {row.key for row in self.conn.execute(statement, params)}
        if len(inserted) != len(self.rows):
            raise _KeyTakenMeanwhile(next(r["key"] for r in self.rows if r["key"] not in inserted))
        self.rows.clear()
        self.packed.clear()


__all__ = ["apply_group"]
