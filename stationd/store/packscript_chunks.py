"""The SQL of a run that writes in short transactions (issue 10): the run's row, and each chunk
of its moves written only as decided.

A run reads and decides outside any write transaction, then writes its moves a chunk at a time
(`services.packscript_run`), so that the bench's scans get the database between chunks. The
world may change between the read and a chunk: an order edited or moved, stock taken by a
delivery. So each chunk checks, in its own transaction, that its orders are still in `order`
exactly as read (`orders.updated_at`, which every change to an order sets) and that the stock it
reserves is still there; if not, nothing of the transaction is written (`MovesChanged`) and the
run decides again from there. Stock is never reserved twice (R7, R17), whatever lands between.

Every chunk also counts its moves on the run's row, so a run that is interrupted (killed,
power cut) between chunks leaves orders, stock, audit events and its row agreeing; the next run
marks that row as failed (`begin_run`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert, update

from stationd.clock import utcnow
from stationd.core.audit import PackScriptMoved
from stationd.core.packscript import Candidate, PackResult, reserved_by
from stationd.store.audit import record_event
from stationd.store.change_feed import feed_kept
from stationd.store.packscript import (
    _ORDER_STATES_KEPT,
    _WRITE_SQL,
    _cursor,
    _timestamp,
    encode_trace,
    limit_run_transaction,
    move_to_packing,
    pg_list,
)
from stationd.store.tables import packscript_runs

#: What a run that died between chunks is marked with, when the next run begins.
INTERRUPTED = "interrupted: the run ended before it had written all its moves"


class MovesChanged(Exception):
    """A chunk's orders or stock changed since the run read them; the chunk was not written."""


_CHECK_SQL = {
    "sqlite": {
        # Driven by the chunk's ids (CROSS JOIN keeps json_each outside): one lookup each.
        "unchanged": "SELECT count(*) FROM json_each(?) AS j CROSS JOIN orders AS o "
        "ON o.id = json_extract(j.value, '$[0]') "
        "WHERE o.status = 'order' AND o.updated_at IS json_extract(j.value, '$[1]')",
        "stock": "UPDATE stock SET reserved = reserved + j.value FROM json_each(?) AS j "
        "WHERE stock.sku = j.key AND stock.on_hand - stock.reserved >= j.value",
    },
    "postgresql": {
        # The orders are checked by the move itself (`move_to_packing` with `seen`): locking
        # them first (SELECT … FOR UPDATE) wrote every row twice, 0.36 s of a 85,000-order run.
        # The SKUs as JSON, as in `store.packscript` (an array parameter costs more).
        "stock": "UPDATE stock SET reserved = stock.reserved + r.value::int "
        "FROM json_each_text(%s::json) AS r "
        "WHERE stock.sku = r.key AND stock.on_hand - stock.reserved >= r.value::int",
    },
}


def begin_run(conn: Connection, station: str, trigger: str, started: Any) -> int:
    """Insert the run's row, `running`, and return its id. Called with the run lock held: a
    row still `running` then is a run that died between chunks, and is marked failed."""
    limit_run_transaction(conn)
    conn.execute(
        update(packscript_runs)
        .where(packscript_runs.c.status == "running")
        .values(status="failed", error=INTERRUPTED)
    )
    return conn.execute(
        insert(packscript_runs)
        .values(station=station, trigger=trigger, started_at=started, status="running")
        .returning(packscript_runs.c.id)
    ).scalar_one()


def move_orders(
    conn: Connection,
    moves: Sequence[Candidate],
    versions: Mapping[int, Any],
    *,
    run_id: int,
    need: dict[str, int] | None = None,
) -> None:
    """Move one chunk of run `run_id`'s orders to packing and reserve their stock, in the
    caller's transaction, only as decided: each order must still be in `order` with the
    `updated_at` the run read (`versions`), and each SKU must still have what they take
    available; else MovesChanged is raised (the caller rolls back). Their audit event and
    count on the run's row follow per transaction (`record_moves`). `need` is the stock the
    chunk reserves per SKU, if the caller counted it already (else it is counted here).
    """
    if not moves:
        return
    limit_run_transaction(conn)  # each chunk: SET LOCAL again is cheap, and always right
    ids = [move[0] for move in moves]
    if need is None:
        need = reserved_by(moves)
    sqlite = conn.dialect.name == "sqlite"
    sql = _CHECK_SQL["sqlite" if sqlite else "postgresql"]
    at = _timestamp(conn, utcnow())
    with _cursor(conn) as cur:
        if sqlite:
            seen = json.dumps([[i, versions.get(i)] for i in ids])
            unchanged = cur.execute(sql["unchanged"], (seen,)).fetchone()[0]
            if unchanged != len(ids):
                raise MovesChanged(f"{len(ids) - unchanged} of {len(ids)} orders changed meanwhile")
        taken = cur.execute(sql["stock"], (json.dumps(need),)).rowcount
        if taken != len(need):
            raise MovesChanged(f"the stock of {len(need) - taken} SKUs was taken meanwhile")
        if sqlite:
            changed = move_to_packing(conn, cur, ids, at=at, run_id=run_id)
            if changed != len(ids):  # checked just above, in this transaction: never
                raise RuntimeError(f"{len(ids) - changed} of {len(ids)} orders did not move")
            return
        # PostgreSQL: the move is the check (the orders as read, or none of the transaction).
        seen_at = [versions.get(i) for i in ids]
        changed = move_to_packing(conn, cur, ids, at=at, run_id=run_id, seen=seen_at)
        if changed != len(ids):
            raise MovesChanged(f"{len(ids) - changed} of {len(ids)} orders changed meanwhile")


#: The plans a batch of `CentralMoves.move` may not take (`SET LOCAL … = off`).
_BY_KEY_ONLY = ("enable_hashjoin", "enable_mergejoin", "enable_seqscan")


class CentralMoves:
    """PostgreSQL: one transaction that writes a run's moves batch by batch as the decide hands
    them on (`core.packscript.run_pack_script`'s `on_moves`), so that the server moves the
    first orders while the rest are decided; `finish` then reserves their stock and writes what
    follows from the moves, set-based, once. Only as decided, as `move_orders`: an order no
    longer in `order` as read, or stock no longer there, raises MovesChanged (the caller rolls
    back). The caller's transaction, on `conn`, is this one's.
    """

    def __init__(self, conn: Connection, versions: Mapping[int, Any], *, run_id: int) -> None:
        limit_run_transaction(conn)
        self._conn = conn
        self._versions = versions
        self._run_id = run_id
        self._at = _timestamp(conn, utcnow())
        #: The orders moved so far, in the order moved.
        self.ids: list[int] = []
        # A batch is a few thousand of 100,000 orders: each found by its key, never by reading
        # every order (a hash join does that once a batch; a whole run's ids cost the same
        # either way). Told, not left to the planner: on orders just imported, not yet
        # analyzed, it joined each id of a batch with every open order (8 s for 10,000).
        for plan in _BY_KEY_ONLY:
            conn.exec_driver_sql(f"SET LOCAL {plan} = off")
        self._feed = feed_kept(conn, "order", self.ids)  # one feed row naming them all
        self._feed.__enter__()
        conn.exec_driver_sql(_ORDER_STATES_KEPT, ("kept",))

    def move(self, moves: Sequence[Candidate]) -> None:
        """Move these orders to packing, each only if still as read."""
        ids = [move[0] for move in moves]
        seen = pg_list([self._versions.get(i) for i in ids])
        sql = _WRITE_SQL["postgresql"]["orders_seen"]
        with _cursor(self._conn) as cur:
            changed = cur.execute(sql, (self._at, self._run_id, pg_list(ids), seen)).rowcount
        if changed != len(ids):
            raise MovesChanged(f"{len(ids) - changed} of {len(ids)} orders changed meanwhile")
        self.ids.extend(ids)

    def finish(self, need: Mapping[str, int]) -> None:
        """Reserve `need` (the stock of every order moved, per SKU) if it is still there, and
        write the moved orders' `order_states` rows and their change feed row."""
        conn = self._conn
        for plan in _BY_KEY_ONLY:  # the planner's own choice again, for what follows
            conn.exec_driver_sql(f"SET LOCAL {plan} TO DEFAULT")
        self._feed.__exit__(None, None, None)
        moved = pg_list(self.ids)
        with _cursor(conn) as cur:
            cur.execute(_ORDER_STATES_KEPT, ("",))
            copied = cur.execute(_WRITE_SQL["postgresql"]["order_states"], (moved,)).rowcount
            if copied != len(self.ids):
                raise RuntimeError(f"order_states had {copied} of {len(self.ids)} orders moved")
            taken = cur.execute(_CHECK_SQL["postgresql"]["stock"], (json.dumps(need),)).rowcount
        if taken != len(need):
            raise MovesChanged(f"the stock of {len(need) - taken} SKUs was taken meanwhile")


def record_moves(conn: Connection, ids: Sequence[int], *, station: str, run_id: int) -> None:
    """Count the orders `ids` a transaction moved (`move_orders`) on the run's row, and write
    the one audit event that names them (once per transaction, not per chunk)."""
    if not ids:
        return
    conn.execute(
        update(packscript_runs)
        .where(packscript_runs.c.id == run_id)
        .values(moved=packscript_runs.c.moved + len(ids))
    )
    record_event(conn, PackScriptMoved(run_id, tuple(ids)), station=station)


def finish_run(
    conn: Connection,
    run_id: int,
    result: PackResult,
    status: str | None,
    trace: bytes | None = None,
) -> None:
    """Write the run's counts and trace on its row (`status` None: "ok" or "stopped").

    `trace` is the result's trace encoded (`encode_trace`), if done before the transaction.
    A failed run keeps the count of moves its chunks wrote (`moved`): they stay written.
    """
    stopped = result.stopped
    values: dict[str, Any] = {
        "finished_at": utcnow(),
        "status": status or ("ok" if stopped is None else "stopped"),
        "looked_at": result.looked_at,
        "unpaid": result.unpaid,
        "short": result.short,
        "skipped": result.skipped,
        "stopped_order_id": stopped.order_id if stopped else None,
        "error": stopped.detail if stopped else None,
        "trace": trace if trace is not None else encode_trace(result.trace),
    }
    if status != "failed":
        values["moved"] = result.moved
    limit_run_transaction(conn)
    conn.execute(update(packscript_runs).where(packscript_runs.c.id == run_id).values(values))


__all__ = [
    "INTERRUPTED",
    "CentralMoves",
    "MovesChanged",
    "begin_run",
    "finish_run",
    "move_orders",
    "record_moves",
]
