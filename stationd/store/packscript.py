"""The pack script against the database: load, decide (core), write — one transaction, locked.

R7/R17: stock is never reserved twice, also with several stations. On SQLite the transaction
starts with `BEGIN IMMEDIATE`, which holds the file's write lock for the whole run; on
PostgreSQL it takes a transaction-level advisory lock that every other run waits for, and order
edits take the same lock shared (`packscript_lock(shared=True)`), so nothing a run has read
changes under it.

The hot path talks SQL directly: one run touches 100,000 orders and 300,000 lines.
"""

from __future__ import annotations

import json
import logging
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, desc, insert, select

from stationd.core.packscript import (
    PackCandidate,
    PackResult,
    Step,
    StepListener,
    run_pack_script,
)
from stationd.store.database import Store
from stationd.store.orders import utcnow
from stationd.store.tables import packscript_runs

log = logging.getLogger(__name__)

#: The PostgreSQL advisory-lock key of the pack script ("PACK" in ASCII).
PACKSCRIPT_LOCK_KEY = 0x5041434B


def packscript_lock(conn: Connection, *, shared: bool = False) -> None:
    """Hold the pack-script lock until the transaction ends (PostgreSQL; SQLite needs none)."""
    if conn.dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.exec_driver_sql(f"SELECT {fn}({PACKSCRIPT_LOCK_KEY})")


def load_candidates(conn: Connection) -> list[PackCandidate]:
    """Every order in state `order` with its lines, for one run."""
    rows = conn.exec_driver_sql(
        "SELECT o.id, o.placed_at, o.paid, l.sku, l.quantity "
        "FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id "
        "WHERE o.status = 'order' ORDER BY o.id"
    )
    candidates: list[PackCandidate] = []
    append = candidates.append
    current = None
    placed = paid = None
    lines: list[tuple[str, int]] = []
    for order_id, placed_at, is_paid, sku, qty in rows:
        if order_id != current:
            if current is not None:
                append(PackCandidate(current, placed, bool(paid), tuple(lines)))
            current, placed, paid, lines = order_id, placed_at, is_paid, []
        if sku is not None:
            lines.append((sku, qty))
    if current is not None:
        append(PackCandidate(current, placed, bool(paid), tuple(lines)))
    return candidates


def load_available(conn: Connection) -> dict[str, int]:
    """Stock on hand minus reserved, per SKU."""
    if conn.dialect.name == "postgresql":
        # Stock counts are changed by report-in and stock imports too; lock them for the run.
        rows = conn.exec_driver_sql("SELECT sku, on_hand - reserved FROM stock FOR UPDATE")
    else:
        rows = conn.exec_driver_sql("SELECT sku, on_hand - reserved FROM stock")
    return dict(rows.all())


def write_result(conn: Connection, result: PackResult, *, station: str) -> None:
    """Move the decided orders to packing, reserve their stock, and log one event each."""
    if not result.moves:
        return
    now = _timestamp(conn, utcnow())
    conn.exec_driver_sql(
        _q(
            conn,
            "UPDATE orders SET status = 'packing', updated_at = ? "
            "WHERE id = ? AND status = 'order'",
        ),
        [(now, move.order_id) for move in result.moves],
    )
    params = [(move.order_id,) for move in result.moves]
    conn.exec_driver_sql(
        _q(conn, "UPDATE order_lines SET reserved = quantity - delivered WHERE order_id = ?"),
        params,
    )
    conn.exec_driver_sql(
        _q(conn, "UPDATE stock SET reserved = reserved + ? WHERE sku = ?"),
        [(qty, sku) for sku, qty in result.reserved.items()],
    )
    conn.exec_driver_sql(
        _q(
            conn,
            "INSERT INTO events (key, at, station, kind, order_id, payload) "
            "VALUES (?, ?, ?, 'order.packing', ?, ?)",
        ),
        [
            (str(uuid.uuid4()), now, station, move.order_id, '{"by": "packscript"}')
            for move in result.moves
        ],
    )


def _q(conn: Connection, sql: str) -> str:
    return sql if conn.dialect.name == "sqlite" else sql.replace("?", "%s")


def _timestamp(conn: Connection, value: datetime) -> object:
    # Raw SQL skips SQLAlchemy's type processing; write SQLite times the way it writes them.
    if conn.dialect.name == "sqlite":
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def encode_trace(trace: list[Step]) -> bytes:
    """The trace as zlib-compressed JSON lines, one step a line."""
    text = "\n".join(json.dumps(list(step), ensure_ascii=False) for step in trace)
    return zlib.compress(text.encode(), 1)


def decode_trace(blob: bytes | None) -> Iterator[Step]:
    if not blob:
        return
    for line in zlib.decompress(blob).decode().splitlines():
        yield Step(*json.loads(line))


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


def run_in_store(
    store: Store,
    *,
    station: str,
    trigger: str,
    on_step: StepListener | None = None,
) -> tuple[int, PackResult]:
    """One pack-script run: lock, load, decide, write, record — all in one transaction.

    Returns the run's id and its result. If writing fails the moves roll back, and the failure
    is recorded as a run of its own with the error, so the Tools page shows what happened.
    """
    started = utcnow()
    try:
        with store.write() as conn:
            packscript_lock(conn)
            candidates = load_candidates(conn)
            available = load_available(conn)
            result = run_pack_script(candidates, available, on_step)
            write_result(conn, result, station=station)
            run_id = _record_run(conn, station, trigger, started, result, None)
    except Exception as err:
        log.exception("pack script run failed")
        failed = PackResult(stopped=Step(None, "error", False, f"{type(err).__name__}: {err}"))
        with store.write() as conn:
            run_id = _record_run(conn, station, trigger, started, failed, "failed")
        raise PackScriptRunFailed(run_id, str(failed.stopped.detail)) from err
    return run_id, result


class PackScriptRunFailed(Exception):
    """Writing a run's outcome failed; nothing was moved. `run_id` is the recorded failure."""

    def __init__(self, run_id: int, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id


def _record_run(
    conn: Connection,
    station: str,
    trigger: str,
    started: datetime,
    result: PackResult,
    status: str | None,
) -> int:
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
            moved=len(result.moves),
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
    cols = [c for c in packscript_runs.c if c.name != "trace"]
    rows = conn.execute(select(*cols).order_by(desc(packscript_runs.c.id)).limit(limit))
    return [RunRecord(**row._mapping) for row in rows]


def run_trace(conn: Connection, run_id: int) -> list[Step]:
    blob = conn.execute(
        select(packscript_runs.c.trace).where(packscript_runs.c.id == run_id)
    ).scalar_one_or_none()
    return list(decode_trace(blob))


__all__ = [
    "PACKSCRIPT_LOCK_KEY",
    "PackScriptRunFailed",
    "RunRecord",
    "load_available",
    "load_candidates",
    "packscript_lock",
    "recent_runs",
    "run_in_store",
    "run_trace",
    "write_result",
]
