"""What the Tools page asks the database about pack-script runs, beside `store.packscript`:
where a run is going now, one run's record and its trace read lazily, and an order's state.

"Where": a station marks `stations.packscript_since` while it runs. On PostgreSQL the marker
is believed only while the pack-script advisory lock is really held, so a station that died
mid-run leaves no ghost behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from stationd.core.packscript import Step
from stationd.store.packscript import (
    RUN_COLUMNS,
    RunRecord,
    decode_trace,
    recent_runs,
)
from stationd.store.packscript_runlock import run_lock_held
from stationd.store.tables import orders, packscript_runs, stations


def mark_running(conn: Connection, station: str, since: datetime | None) -> None:
    """Say that `station` runs the pack script since `since` (None: it has stopped)."""
    done = conn.execute(
        update(stations).where(stations.c.name == station).values(packscript_since=since)
    )
    if done.rowcount == 0 and since is not None:
        conn.execute(stations.insert().values(name=station, packscript_since=since))


@dataclass(frozen=True, slots=True)
class RunningElsewhere:
    """A run going on now at another station (`station` None: one that left no name)."""

    station: str | None
    since: datetime | None


def running_elsewhere(conn: Connection, station: str) -> RunningElsewhere | None:
    """The pack-script run going on at a station other than `station`, if any."""
    marked = conn.execute(
        select(stations.c.name, stations.c.packscript_since)
        .where(stations.c.packscript_since.is_not(None), stations.c.name != station)
        .order_by(stations.c.packscript_since.desc())
        .limit(1)
    ).first()
    # A marker with the run lock free is left by a station that died mid-run (it would refuse
    # every run by hand for ever).
    if not run_lock_held(conn):
        return None
    if marked is None:
        # A run started without a marker (`stationd packscript`, here or on another machine).
        return RunningElsewhere(None, None)
    return RunningElsewhere(marked.name, marked.packscript_since)


def run_record(conn: Connection, run_id: int) -> RunRecord | None:
    """One run as `recent_runs` lists it, or None."""
    row = conn.execute(select(*RUN_COLUMNS).where(packscript_runs.c.id == run_id)).first()
    return RunRecord(**row._mapping) if row is not None else None


def latest_run(conn: Connection) -> RunRecord | None:
    """The newest run, or None before the first."""
    return next(iter(recent_runs(conn, limit=1)), None)


def trace_steps(conn: Connection, run_id: int) -> Iterator[Step]:
    """The run's trace, step by step, unfolded as it is read (a run may have 300,000 steps)."""
    blob = conn.execute(
        select(packscript_runs.c.trace).where(packscript_runs.c.id == run_id)
    ).scalar_one_or_none()
    return decode_trace(blob)


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order as "why is it not packing?" needs it."""

    id: int
    status: str
    waiting: bool
    paid: bool
    packscript_run_id: int | None


def order_state(conn: Connection, order_id: int) -> OrderState | None:
    row = conn.execute(
        select(
            orders.c.id,
            orders.c.status,
            orders.c.waiting,
            orders.c.paid,
            orders.c.packscript_run_id,
        ).where(orders.c.id == order_id)
    ).first()
    if row is None:
        return None
    return OrderState(row.id, row.status, bool(row.waiting), bool(row.paid), row.packscript_run_id)


__all__ = [
    "OrderState",
    "RunningElsewhere",
    "latest_run",
    "mark_running",
    "order_state",
    "run_record",
    "running_elsewhere",
    "trace_steps",
]
