"""What the Tools page and `stationd sync status` show of the sync with central (issue 11):
the same facts from the same reads — backlog, lag, the last push and pull, the last error, the
claims held — and the ops central refused (with its reasons), and central's open tasks for the
admin (conflicts, `sync_tasks`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, desc, select

from stationd.core.text import text_from_data
from stationd.store.database import Store
from stationd.store.local_copy import read_state
from stationd.store.outbox import backlog, claims_held, read_notes, refused_count
from stationd.store.tables import events, sync_tasks


@dataclass(frozen=True)
class SyncStatus:
    """The sync as this station keeps it (times are this station's clock: shown only)."""

    waiting: int
    #: The oldest change waiting (its age is the lag).
    oldest_at: datetime | None
    refused: int
    last_push_at: datetime | None
    #: The push's last error, when it came after the last good push (else None).
    last_error: str | None
    last_error_at: datetime | None
    last_pull_at: datetime | None
    last_pull_error: str
    #: Orders the pull leaves until central has their own changes.
    skipped: int
    #: The (order, epoch) claims this station holds.
    claims: list[tuple[int, int]]


@dataclass(frozen=True)
class Refusal:
    """An op central refused, and why."""

    at: datetime
    order_id: int | None
    kind: str
    #: A sentence (`core.text.Text`) where central sent one: say it in the reader's language.
    reason: str


@dataclass(frozen=True)
class SyncTask:
    """A conflict central left for the admin, not resolved yet."""

    id: int
    created_at: datetime
    order_id: int | None
    station: str
    kind: str
    #: A sentence (`core.text.Text`) where central kept one: say it in the reader's language.
    text: str


def _time(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def sync_status(store: Store, station: str) -> SyncStatus:
    """What `stationd sync status` and the Tools page say, in one read."""
    with store.read() as conn:
        waiting = backlog(conn)
        refused = refused_count(conn)
        claims = claims_held(conn, station)
        notes = read_notes(conn)
        pulled = read_state(conn)
    last_ok = notes.get("last_ok_at", "")
    error_at = notes.get("last_error_at", "")
    failing = bool(notes.get("last_error")) and error_at > last_ok
    return SyncStatus(
        waiting=waiting.count,
        oldest_at=waiting.oldest_at if waiting.count else None,
        refused=refused,
        last_push_at=_time(last_ok),
        last_error=notes.get("last_error") if failing else None,
        last_error_at=_time(error_at) if failing else None,
        last_pull_at=_time(pulled.last_at),
        last_pull_error=pulled.last_error,
        skipped=len(pulled.skipped),
        claims=claims,
    )


def refusals(store: Store, *, limit: int = 50) -> list[Refusal]:
    """The ops central refused, newest first."""
    query = (
        select(
            events.c.at,
            events.c.order_id,
            events.c.kind,
            events.c.outcome_reason,
            events.c.outcome_reason_data,
        )
        .where(events.c.outcome == "refused")
        .order_by(desc(events.c.id))
        .limit(limit)
    )
    with store.read() as conn:
        return [
            Refusal(
                r.at,
                r.order_id,
                r.kind,
                text_from_data(r.outcome_reason_data, r.outcome_reason or ""),
            )
            for r in conn.execute(query)
        ]


def open_tasks(conn: Connection, *, limit: int = 100) -> list[SyncTask]:
    """Central's conflicts not resolved yet, oldest first (run on central's connection)."""
    query = (
        select(
            sync_tasks.c.id,
            sync_tasks.c.created_at,
            sync_tasks.c.order_id,
            sync_tasks.c.station,
            sync_tasks.c.kind,
            sync_tasks.c.text,
            sync_tasks.c.text_data,
        )
        .where(sync_tasks.c.resolved_at.is_(None))
        .order_by(sync_tasks.c.id)
        .limit(limit)
    )
    return [
        SyncTask(
            r.id, r.created_at, r.order_id, r.station, r.kind, text_from_data(r.text_data, r.text)
        )
        for r in conn.execute(query)
    ]


__all__ = ["Refusal", "SyncStatus", "SyncTask", "open_tasks", "refusals", "sync_status"]
