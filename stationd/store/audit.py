"""The audit log's one writer and one reader: typed events (core.audit) in the `events` table.

Each row keeps its idempotency key (`key`) and `sent_at` (NULL until a sync has sent it to the
central database): the table is the sync's outbox. The stored `kind` is the event class's kind
string and the payload its fields as JSON, so rows of every version read back typed.

An event for an order its station holds a claim on (a synced bench, R17) carries that claim's
epoch (`epoch`), read by the insert itself from the station's `order_claims`: central refuses
an op whose epoch is no longer the order's current claim's.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, Select, bindparam, desc, insert, select, update

from stationd.clock import utcnow
from stationd.core.audit import AuditEvent, UnknownEvent, event_from_payload
from stationd.core.text import text_from_data
from stationd.store.tables import events, order_claims, stations

#: `record_event`'s default operator: the one signed in at the event's station, read by the
#: insert itself.
STATION_OPERATOR: Any = object()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of the audit log: the typed event and where, when and by whom it happened."""

    key: str
    at: datetime
    station: str
    order_id: int | None
    operator_id: int | None
    sent_at: datetime | None
    event: AuditEvent
    #: The epoch of the station's claim on the order when it was written (None: no claim).
    epoch: int | None = None
    #: Central's answer to the op (sync): "accepted" or "refused", None while unsent.
    outcome: str | None = None
    #: Why central refused it, in words a person reads (a `core.text.Text` where central sent
    #: one: said in the reader's language).
    outcome_reason: str | None = None


@functools.cache
def _inserts() -> tuple[Insert, Insert]:
    # Built once with bound parameters: the bench writes one for most scans (see
    # print_queue._statements).
    # The epoch of the claim the station holds on the order when the event is written (none
    # without sync, or for an order it holds no claim on): later changes to the claim never
    # restamp it, so a bench's ops made before a take-over keep their old epoch.
    epoch = (
        select(order_claims.c.epoch)
        .where(
            order_claims.c.order_id == bindparam("claim_order"),
            order_claims.c.station == bindparam("claim_station"),
        )
        .scalar_subquery()
    )
    of_station = insert(events).values(
        operator_id=select(stations.c.current_operator_id)
        .where(stations.c.name == bindparam("of_station"))
        .scalar_subquery(),
        epoch=epoch,
    )
    return of_station, insert(events).values(epoch=epoch)


def stored_kind(event: AuditEvent) -> str:
    """The kind string an event is stored under (an unknown one keeps the one it was read
    with)."""
    return event.stored_kind if isinstance(event, UnknownEvent) else event.kind


def record_event(
    conn: Connection,
    event: AuditEvent,
    *,
    station: str,
    order_id: int | None = None,
    at: datetime | None = None,
    operator_id: int | None = STATION_OPERATOR,
    key: str | None = None,
) -> str:
    """Write one audit event in the caller's transaction; returns its idempotency key.

    The event names the operator signed in at `station` then: who packed, who shipped. A
    caller that read that operator in this transaction already passes `operator_id` (None:
    nobody signed in) and saves the insert its subquery. `key` is a new UUID unless given (an
    event that came from elsewhere keeps its own).
    """
    kind = stored_kind(event)
    if not kind:
        raise ValueError(f"{type(event).__name__} is no registered audit event kind")
    values = {
        "key": key or str(uuid.uuid4()),
        "at": at or utcnow(),
        "station": station,
        "kind": kind,
        "order_id": order_id,
        "payload": json.dumps(event.payload(), ensure_ascii=False, default=str),
        "claim_order": order_id,
        "claim_station": station,
    }
    of_station, plain = _inserts()
    if operator_id is STATION_OPERATOR:
        conn.execute(of_station, {**values, "of_station": station})
    else:
        conn.execute(plain, {**values, "operator_id": operator_id})
    return values["key"]


def _columns() -> Select:
    return select(
        events.c.key,
        events.c.at,
        events.c.station,
        events.c.order_id,
        events.c.operator_id,
        events.c.sent_at,
        events.c.kind,
        events.c.payload,
        events.c.epoch,
        events.c.outcome,
        events.c.outcome_reason,
        events.c.outcome_reason_data,
    )


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(
        row.key,
        row.at,
        row.station,
        row.order_id,
        row.operator_id,
        row.sent_at,
        event_from_payload(row.kind, payload_of(row.payload)),
        row.epoch,
        row.outcome,
        row.outcome_reason and text_from_data(row.outcome_reason_data, row.outcome_reason),
    )


def payload_of(text: str | None) -> dict[str, Any]:
    """A stored payload as a dict (one that is no JSON object is kept under a key of its own)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}


def read_events(
    conn: Connection,
    *,
    order_id: int | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[StoredEvent]:
    """The audit log typed, oldest first (or newest first); only one order's with `order_id`."""
    query = _columns()
    if order_id is not None:
        query = query.where(events.c.order_id == order_id)
    if newest_first:
        query = query.order_by(desc(events.c.at), desc(events.c.id))
    else:
        query = query.order_by(events.c.at, events.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [_stored(row) for row in conn.execute(query)]


def unsent_events(conn: Connection, *, limit: int = 500) -> list[StoredEvent]:
    """The outbox: events not yet sent to the central database, in the order they were
    written."""
    query = _columns().where(events.c.sent_at.is_(None)).order_by(events.c.id).limit(limit)
    return [_stored(row) for row in conn.execute(query)]


def mark_sent(conn: Connection, keys: Iterable[str], *, at: datetime | None = None) -> int:
    """Note the events with these keys as sent (a key sent twice keeps its first time);
    returns how many rows changed."""
    wanted = list(keys)
    if not wanted:
        return 0
    result = conn.execute(
        update(events)
        .where(events.c.key.in_(wanted), events.c.sent_at.is_(None))
        .values(sent_at=at or utcnow())
    )
    return result.rowcount


__all__ = [
    "STATION_OPERATOR",
    "StoredEvent",
    "mark_sent",
    "payload_of",
    "read_events",
    "record_event",
    "stored_kind",
    "unsent_events",
]
