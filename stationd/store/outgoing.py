"""The outbox for outgoing things (issue 13 section 4): `outgoing` rows and their attempts.

A row is written by `add` in the caller's transaction, beside the change it tells about (a
delivery reported, an order packed), so it exists exactly when that change committed. The
outgoing worker (services/outgoing.py) `claim`s due rows — `sending`, committed, before
anything goes out — and records each try: `sent`, or a failure with its reason and the time
of the next try (or `failed` for good, for a person to `resend`). A row a crash left `sending`
may or may not have reached its receiver; unlike a print job it is safe to send again, because
the receiver sees the same event id: `release_interrupted` puts it back to `pending`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from stationd.core.outgoing import OutgoingState
from stationd.core.text import text_data, text_from_data
from stationd.store.tables import orders, outgoing, outgoing_attempts

#: The longest reason kept on a row.
REASON_CHARS = 500


@dataclass(frozen=True)
class OutgoingItem:
    """One outgoing row."""

    id: int
    event_id: str
    kind: str
    order_id: int | None
    delivery_id: int | None
    payload: dict[str, Any]
    state: OutgoingState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    #: The last failed try's reason: a core sentence (`Text`) when it was kept as one.
    last_error: str | None


@dataclass(frozen=True)
class Attempt:
    """One try of an outgoing row (or a person's resend)."""

    at: datetime
    station: str
    result: str
    reason: str | None  # a core sentence (`Text`) when it was kept as one


def add(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    at: datetime,
    order_id: int | None = None,
    delivery_id: int | None = None,
    event_id: str | None = None,
) -> str:
    """Write an outgoing row in the caller's transaction, due at once; returns its event id
    (a new one unless given)."""
    event_id = event_id or new_event_id()
    conn.execute(
        insert(outgoing).values(
            event_id=event_id,
            kind=kind,
            order_id=order_id,
            delivery_id=delivery_id,
            payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
            state=OutgoingState.PENDING.value,
            attempts=0,
            created_at=at,
            next_attempt_at=at,
        )
    )
    return event_id


def new_event_id() -> str:
    """A new event id (random: unique across stations without asking anyone)."""
    return uuid.uuid4().hex


def release_one(conn: Connection, row_id: int, at: datetime) -> None:
    """Put a row claimed and not tried back to `pending`, due at once."""
    conn.execute(
        update(outgoing)
        .where(outgoing.c.id == row_id, outgoing.c.state == OutgoingState.SENDING.value)
        .values(state=OutgoingState.PENDING.value, sending_by=None, next_attempt_at=at)
    )


def claim_due(
    conn: Connection, station: str, now: datetime, *, kinds: list[str], limit: int = 20
) -> list[OutgoingItem]:
    """Take the due pending rows of `kinds` (oldest due first) for `station`'s worker: each is
    `sending` once the caller commits. A row another station's worker took first is left out."""
    due = conn.execute(
        select(outgoing.c.id)
        .where(
            outgoing.c.state == OutgoingState.PENDING.value,
            outgoing.c.next_attempt_at <= now,
            outgoing.c.kind.in_(kinds),
        )
        .order_by(outgoing.c.next_attempt_at, outgoing.c.id)
        .limit(limit)
    ).scalars()
    taken = []
    for row_id in list(due):
        # Compare-and-set: two stations on one central database never both take a row.
        claimed = conn.execute(
            update(outgoing)
            .where(outgoing.c.id == row_id, outgoing.c.state == OutgoingState.PENDING.value)
            .values(state=OutgoingState.SENDING.value, sending_by=station)
        ).rowcount
        if claimed:
            taken.append(row_id)
    if not taken:
        return []
    rows = conn.execute(select(outgoing).where(outgoing.c.id.in_(taken)).order_by(outgoing.c.id))
    return [_item(row) for row in rows.mappings()]


def mark_sent(conn: Connection, row_id: int, station: str, at: datetime) -> None:
    """Record a try that the receiver took."""
    conn.execute(
        update(outgoing)
        .where(outgoing.c.id == row_id)
        .values(
            state=OutgoingState.SENT.value,
            sent_at=at,
            attempts=outgoing.c.attempts + 1,
            sending_by=None,
            last_error=None,
            last_error_data=None,
        )
    )
    _attempt(conn, row_id, station, at, "sent", None)


def mark_failed(
    conn: Connection,
    row_id: int,
    station: str,
    at: datetime,
    reason: str,
    *,
    next_attempt_at: datetime | None,
) -> None:
    """Record a failed try with its reason (a core sentence is kept as one, to be said in the
    reader's language): pending again at `next_attempt_at`, or `failed` for good when that is
    None."""
    state = OutgoingState.FAILED if next_attempt_at is None else OutgoingState.PENDING
    values: dict[str, Any] = {
        "state": state.value,
        "attempts": outgoing.c.attempts + 1,
        "sending_by": None,
        **_reason(reason, "last_error", "last_error_data"),
    }
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    conn.execute(update(outgoing).where(outgoing.c.id == row_id).values(**values))
    _attempt(conn, row_id, station, at, "failed", reason)


def release_interrupted(
    conn: Connection, station: str, at: datetime, reason: str, *, kinds: list[str]
) -> int:
    """Put back to `pending` (due at once) the rows of `kinds` `station`'s worker was sending
    when it stopped: sent or not, they go again with the same event id. Returns how many.
    Only `kinds`: the worker's lane of another kind may be sending its rows right now."""
    stuck = list(
        conn.execute(
            select(outgoing.c.id).where(
                outgoing.c.state == OutgoingState.SENDING.value,
                outgoing.c.sending_by == station,
                outgoing.c.kind.in_(kinds),
            )
        ).scalars()
    )
    for row_id in stuck:
        conn.execute(
            update(outgoing)
            .where(outgoing.c.id == row_id)
            .values(state=OutgoingState.PENDING.value, sending_by=None, next_attempt_at=at)
        )
        _attempt(conn, row_id, station, at, "interrupted", reason)
    return len(stuck)


def resend(conn: Connection, event_id: str, station: str, at: datetime) -> bool:
    """A person asks for a row to go (again): a failed or sent one is pending, due at once,
    with its tries counted from zero. Returns False when there is no such row or it is
    pending or sending already."""
    done = conn.execute(
        update(outgoing)
        .where(
            outgoing.c.event_id == event_id,
            outgoing.c.state.in_([OutgoingState.FAILED.value, OutgoingState.SENT.value]),
        )
        .values(state=OutgoingState.PENDING.value, next_attempt_at=at, attempts=0)
    ).rowcount
    if not done:
        return False
    row_id = conn.execute(select(outgoing.c.id).where(outgoing.c.event_id == event_id)).scalar_one()
    _attempt(conn, row_id, station, at, "resend", None)
    return True


def listed(
    conn: Connection, state: OutgoingState | None = None, *, limit: int = 50
) -> list[OutgoingItem]:
    """The newest rows (of `state`, or all), newest first."""
    query = select(outgoing).order_by(outgoing.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(outgoing.c.state == state.value)
    return [_item(row) for row in conn.execute(query).mappings()]


def counts(conn: Connection) -> dict[OutgoingState, int]:
    """How many rows are in each state."""
    found = dict.fromkeys(OutgoingState, 0)
    rows = conn.execute(select(outgoing.c.state, func.count()).group_by(outgoing.c.state))
    for state, n in rows:
        found[OutgoingState(state)] = n
    return found


def get(conn: Connection, event_id: str) -> OutgoingItem | None:
    """The row with this event id, or None."""
    row = conn.execute(select(outgoing).where(outgoing.c.event_id == event_id)).mappings().first()
    return _item(row) if row is not None else None


def attempts_of(conn: Connection, row_id: int) -> list[Attempt]:
    """Every try of a row, oldest first."""
    rows = conn.execute(
        select(outgoing_attempts)
        .where(outgoing_attempts.c.outgoing_id == row_id)
        .order_by(outgoing_attempts.c.id)
    ).mappings()
    return [
        Attempt(r["at"], r["station"], r["result"], _said(r["reason"], r["reason_data"]))
        for r in rows
    ]


def customer_email(conn: Connection, order_id: int) -> str:
    """Where the order's customer is mailed ("" when the shop gave no address)."""
    found = conn.execute(select(orders.c.customer_email).where(orders.c.id == order_id)).scalar()
    return (found or "").strip()


def next_due_at(conn: Connection, kinds: list[str]) -> datetime | None:
    """When the earliest pending row of `kinds` is due (None: nothing pending)."""
    return conn.execute(
        select(func.min(outgoing.c.next_attempt_at)).where(
            outgoing.c.state == OutgoingState.PENDING.value, outgoing.c.kind.in_(kinds)
        )
    ).scalar()


def _attempt(
    conn: Connection, row_id: int, station: str, at: datetime, result: str, reason: str | None
) -> None:
    kept = _reason(reason, "reason", "reason_data") if reason is not None else {}
    conn.execute(
        insert(outgoing_attempts).values(
            outgoing_id=row_id, at=at, station=station, result=result, **kept
        )
    )


def _reason(reason: str, english: str, data: str) -> dict[str, str | None]:
    # The English, cut to fit, for logs and old readers; the whole sentence as data.
    return {english: str(reason)[:REASON_CHARS], data: text_data(reason)}


def _said(english: str | None, data: str | None) -> str | None:
    return english if english is None else text_from_data(data, english)


def _item(row: Any) -> OutgoingItem:
    return OutgoingItem(
        id=row["id"],
        event_id=row["event_id"],
        kind=row["kind"],
        order_id=row["order_id"],
        delivery_id=row["delivery_id"],
        payload=json.loads(row["payload"]),
        state=OutgoingState(row["state"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        sent_at=row["sent_at"],
        last_error=_said(row["last_error"], row["last_error_data"]),
    )
