"""A station's outbox as the push reads and answers it (docs/sync.md "Ops out").

The outbox is the `events` table (store/audit.py writes it): the unsent rows in `id` order with
their claim's epoch, and central's answers written back — `sent_at`, `outcome`,
`outcome_reason` — for a whole batch in one local transaction. What `stationd sync status` says
(backlog, the oldest op waiting, the push's last error, the claims held) is read here too; the
push keeps its own notes in `sync_state` under names starting with "push.".
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Update, bindparam, delete, func, insert, select, update

from stationd.clock import utcnow
from stationd.core.text import text_data
from stationd.store.tables import events, order_claims, sync_state


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One unsent event as the push sends it."""

    id: int
    key: str
    at: datetime
    station: str
    kind: str
    order_id: int | None
    epoch: int | None
    payload: str


@dataclass(frozen=True, slots=True)
class Answer:
    """Central's answer to one op, to write on its event row."""

    key: str
    outcome: str
    #: A sentence (`core.text.Text`) when central sent one: kept with its facts (0009).
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Backlog:
    """The ops waiting: how many, and when the oldest was written (the station's clock)."""

    count: int
    oldest_at: datetime | None


#: The note naming the last event written before this station first pushed: the events up to
#: it are the history of a bench from before sync (a single bench, or one straight on the
#: shared PostgreSQL that is central now) and are never pushed.
START_NOTE = "push.after_id"


#: What an event from before sync says on its row: it was never sent, and why.
HISTORY_REASON = "Written before this bench's sync began: kept here, not sent."


def start_pushing(conn: Connection, *, at: datetime | None = None) -> int:
    """Where the push starts: noted once, at the first push of this station, as the newest
    event then. The events up to it are marked done — `sent_at` set, no outcome, the reason
    saying why — so that nothing (the push, the pull's "unsent ops" test) waits for them.
    Returns that id (0: none before)."""
    noted = conn.execute(select(sync_state.c.value).where(sync_state.c.name == START_NOTE)).scalar()
    if noted is not None:
        return int(noted)
    last = conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one()
    conn.execute(insert(sync_state).values(name=START_NOTE, value=str(last)))
    conn.execute(
        update(events)
        .where(events.c.id <= last, events.c.sent_at.is_(None))
        .values(sent_at=at or utcnow(), outcome_reason=HISTORY_REASON)
    )
    return last


def _after(conn: Connection):  # type: ignore[no-untyped-def]
    noted = conn.execute(select(sync_state.c.value).where(sync_state.c.name == START_NOTE)).scalar()
    return events.c.id > int(noted or 0)


def unsent(conn: Connection, *, limit: int = 200) -> list[OutboxRow]:
    """The outbox's next `limit` unsent events since the push started, in the order they were
    written."""
    query = (
        select(
            events.c.id,
            events.c.key,
            events.c.at,
            events.c.station,
            events.c.kind,
            events.c.order_id,
            events.c.epoch,
            events.c.payload,
        )
        .where(events.c.sent_at.is_(None), _after(conn))
        .order_by(events.c.id)
        .limit(limit)
    )
    return [OutboxRow(*row) for row in conn.execute(query)]


@functools.cache
def _answer_statement() -> Update:
    return (
        update(events)
        .where(events.c.key == bindparam("key_"), events.c.sent_at.is_(None))
        .values(
            sent_at=bindparam("sent_at_"),
            outcome=bindparam("outcome_"),
            outcome_reason=bindparam("reason_"),
            outcome_reason_data=bindparam("reason_data_"),
        )
    )


def write_answers(
    conn: Connection, answers: Iterable[Answer], *, at: datetime | None = None
) -> int:
    """Note central's answers on the events (one that has an answer keeps it); how many
    changed."""
    sent_at = at or utcnow()
    rows = [
        {
            "key_": a.key,
            "sent_at_": sent_at,
            "outcome_": a.outcome,
            "reason_": None if a.reason is None else str(a.reason),
            "reason_data_": text_data(a.reason),
        }
        for a in answers
    ]
    if not rows:
        return 0
    changed = conn.execute(_answer_statement(), rows).rowcount
    refused = [r["key_"] for r in rows if r["outcome_"] == "refused"]
    if refused:
        # here, not at the top: local_copy reads the outbox (which orders have unsent ops)
        from stationd.store.local_copy import ask_again

        orders = conn.execute(
            select(events.c.order_id)
            .where(events.c.key.in_(refused), events.c.order_id.is_not(None))
            .distinct()
        )
        ask_again(conn, list(orders.scalars()))
    return changed


def backlog(conn: Connection) -> Backlog:
    """How many ops wait to be pushed, and the oldest one's time."""
    count, oldest = conn.execute(
        select(func.count(), func.min(events.c.at)).where(events.c.sent_at.is_(None), _after(conn))
    ).one()
    return Backlog(count, oldest)


def refused_count(conn: Connection) -> int:
    """How many ops central refused (each with its reason on the event row)."""
    return conn.execute(
        select(func.count()).select_from(events).where(events.c.outcome == "refused")
    ).scalar_one()


def claims_held(conn: Connection, station: str) -> list[tuple[int, int]]:
    """The (order, epoch) claims this station holds, as its copy of `order_claims` says."""
    query = (
        select(order_claims.c.order_id, order_claims.c.epoch)
        .where(order_claims.c.station == station)
        .order_by(order_claims.c.order_id)
    )
    return [(row.order_id, row.epoch) for row in conn.execute(query)]


def read_notes(conn: Connection, prefix: str = "push.") -> dict[str, str]:
    """The push's notes kept in `sync_state` (names without the prefix)."""
    rows = conn.execute(
        select(sync_state.c.name, sync_state.c.value).where(sync_state.c.name.startswith(prefix))
    )
    return {name[len(prefix) :]: value for name, value in rows}


def write_notes(conn: Connection, notes: Mapping[str, str | None], prefix: str = "push.") -> None:
    """Keep (or, for None, forget) the push's notes in `sync_state`."""
    names = [prefix + name for name in notes]
    conn.execute(delete(sync_state).where(sync_state.c.name.in_(names)))
    kept = [{"name": prefix + n, "value": v} for n, v in notes.items() if v is not None]
    if kept:
        conn.execute(insert(sync_state), kept)


__all__ = [
    "HISTORY_REASON",
    "START_NOTE",
    "Answer",
    "Backlog",
    "OutboxRow",
    "backlog",
    "claims_held",
    "read_notes",
    "refused_count",
    "start_pushing",
    "unsent",
    "write_answers",
    "write_notes",
]
