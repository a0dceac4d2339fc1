"""The SQL of the pack script: the lock, loading, writing the moves, recording the run.

The run itself (lock, read, decide, write in short transactions, record) is the service
`services.packscript_run`; the decisions are core's (`core.packscript`); the short
transactions' SQL is `store.packscript_chunks`, the run lock `store.packscript_runlock`.

R7/R17: stock is never reserved twice, also with several stations. A run's short transactions
each check what they were decided on (`packscript_chunks.move_orders`). `write_result` writes
a whole run in the caller's one transaction — a run's fallback when its short transactions
keep meeting changes: on SQLite that transaction holds the file's write lock; on PostgreSQL
the stock rows are locked (`load_available`) and order edits wait on the pack-script advisory
lock (`packscript_lock(shared=True)`), which the run holds for its whole length.

The hot path talks to the database driver directly: one run reads 100,000 orders and 300,000
lines and moves most of them. It reads with two queries in the same order, and writes the
orders with one set-based statement over the moved ids (a JSON array on SQLite, an array
parameter on PostgreSQL) instead of a statement per row. It writes no order lines (what a
line holds follows from its order's state) and one audit event for the whole run. On SQLite
the transaction is a bulk write (`Store.write(bulk=True)`): the WAL checkpoint happens after
the commit, on a thread of its own; and a run that moves most orders makes the indexes on the
order status anew rather than changing them order by order. On PostgreSQL no index of `orders`
names what the move writes, so each row is rewritten in place (HOT) and no index of `orders`
is touched; the status's index is in `order_states`, which the move updates set-based too
(migration 0006, `store/postgres_tables.py`).
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from operator import itemgetter, sub
from typing import Any

from sqlalchemy import Connection, desc, func, insert, select, update

from stationd.clock import utcnow
from stationd.core.audit import PackScriptMoved
from stationd.core.packscript import (
    Candidate,
    PackResult,
    Step,
    Trace,
)
from stationd.core.packscript_reasons import Reason, reason_from_data
from stationd.store.audit import record_event
from stationd.store.change_feed import feed_kept
from stationd.store.tables import orders, packscript_runs

#: The PostgreSQL advisory-lock key of the pack script ("PACK" in ASCII).
PACKSCRIPT_LOCK_KEY = 0x5041434B


#: PostgreSQL: the longest statement of a run's transaction, and the longest it may sit idle
#: between two (seconds). A run's transactions set them for themselves (`SET LOCAL`: nothing
#: stays on a pooled session), so a stalled runner holds no row of central's for long.
RUN_STATEMENT_S, RUN_IDLE_S = 60.0, 30.0


def limit_run_transaction(
    conn: Connection, *, statement_s: float | None = None, idle_s: float | None = None
) -> None:
    """PostgreSQL: give the transaction going on `conn` central's statement and idle timeouts
    for a pack-script run (this transaction only; `RUN_STATEMENT_S`, `RUN_IDLE_S` unless
    given). SQLite: nothing (one file, one process's lock; `Store.busy_timeout_s` bounds its
    waits)."""
    if conn.dialect.name != "postgresql":
        return
    statement_s = RUN_STATEMENT_S if statement_s is None else statement_s
    idle_s = RUN_IDLE_S if idle_s is None else idle_s
    conn.exec_driver_sql(
        "SELECT set_config('statement_timeout', %s, true), "
        "set_config('idle_in_transaction_session_timeout', %s, true)",
        (f"{int(statement_s * 1000)}ms", f"{int(idle_s * 1000)}ms"),
    )


def packscript_lock(conn: Connection, *, shared: bool = False) -> None:
    """Hold the pack-script lock until the transaction ends (PostgreSQL; SQLite needs none)."""
    if conn.dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.exec_driver_sql(f"SELECT {fn}({PACKSCRIPT_LOCK_KEY})")


# SQLite: both queries list the open orders in the same order — the order of ix_orders_queue,
# so SQLite sorts nothing — which puts each order's lines together and in step with the orders.
# PostgreSQL: no index of `orders` names the status (so that `write_result`'s update of
# `orders` is HOT; migration 0006): the open orders are found in `order_states` and sorted, and
# their lines come in order id order (a merge of two indexes, nothing sorted) and are put with
# their orders here.
_OPEN_ORDERS = {
    "sqlite": "SELECT id, placed_at, paid FROM orders WHERE status = 'order' "
    "ORDER BY waiting, placed_at, id",
    "postgresql": "SELECT o.id, o.placed_at, o.paid FROM order_states s "
    "JOIN orders o ON o.id = s.order_id WHERE s.status = 'order' "
    "ORDER BY o.waiting, o.placed_at, o.id",
}
# The same, with each order's `updated_at`: a run that writes in short transactions checks by it
# that an order is still the one it decided on (store/packscript_chunks.py).
_OPEN_ORDERS_SEEN = {
    engine: sql.replace("paid FROM", "paid, updated_at FROM").replace(
        "o.paid FROM", "o.paid, o.updated_at FROM"
    )
    for engine, sql in _OPEN_ORDERS.items()
}
_OPEN_ORDER_LINES = {
    "sqlite": "SELECT l.order_id, l.sku, l.quantity FROM orders o "
    "JOIN order_lines l ON l.order_id = o.id WHERE o.status = 'order' "
    "ORDER BY o.waiting, o.placed_at, o.id, l.id",
    "postgresql": "SELECT l.order_id, l.sku, l.quantity FROM order_states s "
    "JOIN order_lines l ON l.order_id = s.order_id WHERE s.status = 'order' "
    "ORDER BY l.order_id, l.id",
}


def load_candidates(conn: Connection, versions: dict[int, Any] | None = None) -> list[Candidate]:
    """Every order in state `order` with its lines, for one run (as `PackCandidate` tuples).

    With `versions`, each order's `updated_at` as read goes into it (order id → value): every
    change to an order sets it, so a run that writes later (`write_moves`) can tell whether
    an order is still the one it decided on.
    """
    engine = "sqlite" if conn.dialect.name == "sqlite" else "postgresql"
    with _cursor(conn) as cur:
        if engine == "postgresql":
            # For this run's transaction only: sorting 100,000 open orders in memory rather
            # than on disk (the default 4 MB of work_mem spills them); and the run's timeouts.
            cur.execute("SET LOCAL work_mem = '32MB'")
            limit_run_transaction(conn)
        if versions is None:
            orders = cur.execute(_OPEN_ORDERS[engine]).fetchall()
        else:
            orders = cur.execute(_OPEN_ORDERS_SEEN[engine]).fetchall()
            versions.update(map(itemgetter(0, 3), orders))
        rows = cur.execute(_OPEN_ORDER_LINES[engine]).fetchall()
    # (SKU, quantity) pairs and lines per order, built in C rather than row by row.
    lines = list(zip(map(itemgetter(1), rows), map(itemgetter(2), rows), strict=True))
    counts = Counter(map(itemgetter(0), rows))
    lines_of = counts.get
    if engine == "postgresql":  # the lines in order id order: where each order's start
        starts = dict(zip(counts, accumulate(counts.values(), initial=0), strict=False))
    candidates: list[Candidate] = []
    append = candidates.append
    taken = start = 0
    for order_id, placed_at, paid, *_ in orders:
        if engine == "postgresql":
            start = starts.get(order_id, 0)
        end = start + lines_of(order_id, 0)
        if end > start and rows[start][0] != order_id:
            raise RuntimeError(f"the lines of order {order_id} came back out of order")
        append((order_id, placed_at, paid, lines[start:end]))
        taken += end - start
        start = end
    if taken != len(rows):
        raise RuntimeError("order lines came back that belong to no open order")
    return candidates


def load_available(conn: Connection, *, lock: bool = True) -> dict[str, int]:
    """Stock on hand minus reserved, per SKU (`lock`: held for the transaction, PostgreSQL)."""
    sql = "SELECT sku, on_hand - reserved FROM stock"
    if lock and conn.dialect.name == "postgresql":
        # Stock counts are changed by report-in and stock imports too; lock them for the run.
        sql += " FOR UPDATE"
    with _cursor(conn) as cur:
        return dict(cur.execute(sql).fetchall())


#: The audit event of a run that moved orders: one per run, not one per order, naming the run
#: and the orders it moved (`{"run": 7, "orders": [1001, 1004, …]}`), enough to replay the
#: moves from the outbox. Each moved order also points at its run (`orders.packscript_run_id`).
MOVED_EVENT = PackScriptMoved.kind

_WRITE_SQL = {
    "sqlite": {
        # `+status`: look each order up by id instead of walking ix_orders_queue for 'order'.
        "orders": "UPDATE orders SET status = 'packing', updated_at = ?, packscript_run_id = ? "
        "WHERE id IN (SELECT value FROM json_each(?)) AND +status = 'order'",
        "stock": "UPDATE stock SET reserved = reserved + ? WHERE sku = ?",
    },
    "postgresql": {
        # Joined with unnest(): `id = ANY(%s)` with a long array is a sequential scan. HOT:
        # no index of `orders` names a column written here (0006). `order_states` is written
        # by the next statement, set-based, instead of by its row trigger order by order.
        # The lists go as one string each (`pg_list`), not as array parameters: psycopg makes
        # those element by element in Python (~0.5 s of processor time for a run's 85,000
        # ids and their SKUs), the server splits a string in a few milliseconds.
        "orders": "UPDATE orders o SET status = 'packing', updated_at = %s, packscript_run_id = %s "
        "FROM unnest(string_to_array(%s, ',')::bigint[]) AS m(id) "
        "WHERE o.id = m.id AND o.status = 'order'",
        # The same, moving only the orders still as the run read them (`updated_at`, which
        # every change to an order sets): the check and the move in one pass over the rows.
        # An UPDATE that waited for another writer checks the row as that one left it.
        "orders_seen": "UPDATE orders o SET status = 'packing', updated_at = %s, "
        "packscript_run_id = %s FROM unnest(string_to_array(%s, ',')::bigint[], "
        "string_to_array(%s, ',', '')::timestamptz[]) AS m(id, seen) "
        "WHERE o.id = m.id AND o.status = 'order' AND o.updated_at IS NOT DISTINCT FROM m.seen",
        "order_states": "UPDATE order_states s SET status = 'packing' "
        "FROM unnest(string_to_array(%s, ',')::bigint[]) AS m(id) "
        "WHERE s.status = 'order' AND s.order_id = m.id",
        # SKUs are any text: a JSON object (SKU → quantity), which json.dumps writes in C.
        "stock": "UPDATE stock SET reserved = stock.reserved + r.value::int "
        "FROM json_each_text(%s::json) AS r WHERE stock.sku = r.key",
    },
}


def pg_list(values: Iterable[Any]) -> str:
    """PostgreSQL: numbers or times as one comma-separated string for `string_to_array` (None
    as the empty string, which `string_to_array(…, ',', '')` reads as NULL)."""
    return ",".join("" if value is None else str(value) for value in values)


def write_result(conn: Connection, result: PackResult, *, station: str, run_id: int) -> None:
    """Move the decided orders to packing for run `run_id`, reserve their stock, log the event.

    A line's own reservation is not written: it follows from the order now being packing.
    """
    ids = result.moved_ids
    if not ids:
        return
    sqlite = conn.dialect.name == "sqlite"
    sql = _WRITE_SQL["sqlite" if sqlite else "postgresql"]
    now = utcnow()
    limit_run_transaction(conn)
    with _cursor(conn) as cur:
        remade = _indexes_to_remake(cur, len(ids)) if sqlite else []
        for name, _ in remade:
            cur.execute(f'DROP INDEX "{name}"')
        changed = move_to_packing(conn, cur, ids, at=_timestamp(conn, now), run_id=run_id)
        if changed != len(ids):
            # Only possible if something changed an order without taking the pack-script lock.
            raise RuntimeError(
                f"{len(ids) - changed} of the {len(ids)} orders to move to packing "
                "are no longer in state 'order'"
            )
        for _, create in remade:
            cur.execute(create)
        if sqlite:
            cur.executemany(sql["stock"], [(qty, sku) for sku, qty in result.reserved.items()])
        else:
            cur.execute(sql["stock"], (json.dumps(result.reserved),))
    record_event(conn, PackScriptMoved(run_id, tuple(ids)), station=station, at=now)


def move_to_packing(
    conn: Connection,
    cur: Any,
    ids: list[int],
    *,
    at: Any,
    run_id: int,
    seen: list[Any] | None = None,
) -> int:
    """The one UPDATE that moves the orders `ids` still in `order` to packing (both writers of
    a run: `write_result` and `packscript_chunks.move_orders`); how many moved.

    PostgreSQL: `order_states` is then written by one statement, not by its row trigger, and
    central's change feed gets one row naming the orders, not a row each (0006, 0008). With
    `seen` (each order's `updated_at` as the run read it, in `ids`' order) only the orders
    still so move; the caller compares the count and rolls back (PostgreSQL only).
    """
    sqlite = conn.dialect.name == "sqlite"
    sql = _WRITE_SQL["sqlite" if sqlite else "postgresql"]
    moved: Any = json.dumps(ids) if sqlite else ",".join(map(str, ids))
    if not sqlite:
        cur.execute(_ORDER_STATES_KEPT, ("kept",))
    with feed_kept(conn, "order", ids):
        if seen is None:
            changed = cur.execute(sql["orders"], (at, run_id, moved)).rowcount
        else:
            changed = cur.execute(sql["orders_seen"], (at, run_id, moved, pg_list(seen))).rowcount
    if not sqlite:
        cur.execute(_ORDER_STATES_KEPT, ("",))  # the trigger again for what follows
        copied = cur.execute(sql["order_states"], (moved,)).rowcount
        if copied != changed:
            raise RuntimeError(f"order_states had {copied} of {changed} orders moved")
    return changed


#: PostgreSQL: for the rest of the statement that follows, `order_states` is kept by the
#: statement itself, not by its row trigger (0006's `order_states_update` skips then).
_ORDER_STATES_KEPT = "SELECT set_config('stationd.order_states', %s, true)"

#: SQLite: a run that moves at least this many orders, and at least half of all orders (the
#: first run over a large import), makes the indexes on `orders.status` anew after the move
#: instead of changing them order by order (`_indexes_to_remake`).
REMAKE_INDEXES_FROM = 10_000

# The indexes of `orders` that moving an order changes: those keyed on status, and any
# partial one (its condition may name the status).
_STATUS_INDEXES = (
    "SELECT name, sql FROM sqlite_master m WHERE type = 'index' AND tbl_name = 'orders' "
    "AND sql IS NOT NULL AND (instr(upper(sql), ' WHERE ') "
    "OR EXISTS (SELECT 1 FROM pragma_index_info(m.name) WHERE name = 'status'))"
)


def _indexes_to_remake(cur: Any, moving: int) -> list[tuple[str, str]]:
    """SQLite: the status indexes to drop before the move and make again after it, if any.

    Each order moved changes every index on `status` twice (out of 'order', into 'packing').
    When a run moves most orders, making those indexes anew from the table is cheaper
    (measured at 85,000 of 100,000 orders, with two such indexes: the update 0.41 s; dropped,
    updated and made again 0.29 s). It all happens in the run's transaction: no one else
    ever sees them missing, and a rollback brings them back as they were.
    """
    if moving < REMAKE_INDEXES_FROM:
        return []
    if 2 * moving < cur.execute("SELECT count(*) FROM orders").fetchone()[0]:
        return []
    return cur.execute(_STATUS_INDEXES).fetchall()


@contextmanager
def _cursor(conn: Connection) -> Iterator[Any]:
    """A DB-API cursor in the connection's transaction (plain tuples, no per-row wrapping)."""
    cur = conn.connection.cursor()
    try:
        yield cur
    finally:
        cur.close()


def _timestamp(conn: Connection, value: datetime) -> object:
    # Raw SQL skips SQLAlchemy's type processing: bind through the column type itself, so a
    # time is written the one way the store writes times (UtcDateTime).
    bind = orders.c.updated_at.type.bind_processor(conn.dialect)
    return bind(value) if bind is not None else value


def encode_trace(trace: Trace) -> bytes:
    """The trace for `packscript_runs.trace`: zlib-compressed JSON, one outcome per order.

    Order ids are stored as differences to the one before (mostly small), outcomes as one
    letter each, reasons typed (`Reason.data`); `decode_trace` unfolds it into every step
    again.
    """
    ids = list(trace.order_ids)
    stopped = trace.stopped
    doc = {
        "v": 3,
        "orders": [*ids[:1], *map(sub, ids[1:], ids[:-1])],
        "outcomes": trace.outcomes.decode("ascii"),
        "reasons": {str(n): reason for n, reason in trace.reasons.items()},  # data already
        "stopped": None if stopped is None else [stopped.order_id, _reason_data(stopped.detail)],
    }
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode(), 1)


def _reason_data(reason: str) -> Any:
    return reason.data() if isinstance(reason, Reason) else reason


def decode_trace(blob: bytes | None) -> Iterator[Step]:
    """Every step of a stored trace, in order, its reasons typed (also the forms of earlier
    versions: JSON lines, and reasons kept only as English, which read back as `Message`)."""
    if not blob:
        return
    text = zlib.decompress(blob).decode()
    if not text.startswith("{"):
        for line in text.splitlines():
            yield Step(*json.loads(line))
        return
    doc = json.loads(text)
    stopped = doc["stopped"]
    yield from Trace(
        list(accumulate(doc["orders"])),
        doc["outcomes"].encode("ascii"),
        {int(n): reason for n, reason in doc["reasons"].items()},  # typed as steps unfold
        None if stopped is None else Step(stopped[0], "error", False, reason_from_data(stopped[1])),
    )


@dataclass(frozen=True)
class RunRecord:
    """A pack-script run as remembered in `packscript_runs`."""

    id: int
    station: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    looked_at: int
    moved: int
    unpaid: int
    short: int
    skipped: int
    stopped_order_id: int | None
    error: str | None
    #: False once the trace is forgotten (`forget_old_traces`): the run's counts stay.
    trace_kept: bool = True


#: The columns of a `RunRecord`: all but the trace itself, and whether it is still kept.
RUN_COLUMNS = [
    *(c for c in packscript_runs.c if c.name != "trace"),
    packscript_runs.c.trace.is_not(None).label("trace_kept"),
]


def record_run(
    conn: Connection,
    station: str,
    trigger: str,
    started: datetime,
    result: PackResult,
    status: str | None,
) -> int:
    """Insert the run's row with its counts and trace; returns its id (`status` None: from
    the result, "ok" or "stopped")."""
    stopped = result.stopped
    return conn.execute(
        insert(packscript_runs)
        .values(
            station=station,
            trigger=trigger,
            started_at=started,
            finished_at=utcnow(),
            status=status or ("ok" if stopped is None else "stopped"),
            looked_at=result.looked_at,
            moved=result.moved,
            unpaid=result.unpaid,
            short=result.short,
            skipped=result.skipped,
            stopped_order_id=stopped.order_id if stopped else None,
            error=stopped.detail if stopped else None,
            trace=encode_trace(result.trace),
        )
        .returning(packscript_runs.c.id)
    ).scalar_one()


def recent_runs(conn: Connection, limit: int = 20) -> list[RunRecord]:
    rows = conn.execute(select(*RUN_COLUMNS).order_by(desc(packscript_runs.c.id)).limit(limit))
    return [RunRecord(**row._mapping) for row in rows]


def forget_old_traces(conn: Connection, *, before: datetime) -> int:
    """Drop the traces of the runs that started before `before`, but never the latest run's
    ("why is order N not packing?" reads it). The runs stay, with their counts, status and
    error. Returns how many traces went.

    A trace holds every order a run looked at (~100 KB at 100,000 orders) and the pack script
    runs every 15 minutes: kept for ever, they would fill a small station's disk.
    """
    latest = select(func.max(packscript_runs.c.id)).scalar_subquery()
    return conn.execute(
        update(packscript_runs)
        .where(
            packscript_runs.c.started_at < before,
            packscript_runs.c.id < latest,
            packscript_runs.c.trace.is_not(None),
        )
        .values(trace=None)
    ).rowcount


__all__ = [
    "MOVED_EVENT",
    "PACKSCRIPT_LOCK_KEY",
    "RUN_COLUMNS",
    "RunRecord",
    "decode_trace",
    "encode_trace",
    "forget_old_traces",
    "limit_run_transaction",
    "load_available",
    "load_candidates",
    "packscript_lock",
    "recent_runs",
    "record_run",
    "write_result",
]
