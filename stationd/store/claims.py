"""Claims on this station's database (R17).

`LocalClaims`: which bench has an order open, read off the `stations` rows — each bench's open
order and when it was last active, a lease that a crashed bench's claim runs out of; the
benches share the database (no sync).

With sync, central decides the claims (`store.central_claims`) and a station keeps the ones it
holds in its own `order_claims` (the functions below): what it may pack offline, and the epoch
each audit event it writes for such an order carries (`store.audit.record_event`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, literal, select, update

from stationd.clock import utcnow
from stationd.store.tables import events, order_claims, orders, stations


class LocalClaims:
    """Claims held on the station rows of the database the benches share."""

    def __init__(self, lease_s: float = 300) -> None:
        #: A bench not active for this long no longer holds the order it had open.
        self.lease_s = lease_s

    def holder(self, conn: Connection, order_id: int, *, besides: str) -> str | None:
        """R17: the bench other than `besides` that has `order_id` open, if it was active within
        the lease.

        The caller holds the order's row lock, so two benches opening one order take turns
        here and the second sees the first's claim.
        """
        fresh_since = utcnow() - timedelta(seconds=self.lease_s)
        return conn.execute(
            select(stations.c.name).where(
                stations.c.current_order_id == order_id,
                stations.c.name != besides,
                stations.c.last_seen_at >= fresh_since,
            )
        ).scalar()

    # Locally the claim *is* the station's row: the bench writes its open order and the time
    # it was last active there with every scan (`store.bench.touch_station`), in the scan's
    # transaction. Claiming, renewing and releasing have nothing more to write.
    def claim(self, conn: Connection, order_id: int, station: str) -> None:
        """`station` has `order_id` open from now (its row says so already)."""

    def renew(self, conn: Connection, station: str) -> None:
        """`station` is active (its row's `last_seen_at` says so already)."""

    def release(self, conn: Connection, station: str) -> None:
        """`station` has no order open any more (its row says so already)."""


# -- a synced station's copy of the claims it holds ---------------------------------------------


def keep_claims(conn: Connection, station: str, held: Iterable[tuple[int, int, datetime]]) -> None:
    """Note the claims `station` holds at central — (order id, epoch, lease until by central's
    clock) — in its copy; one for an order the copy does not have (yet) is left out."""
    for order_id, epoch, lease_until in held:
        conn.execute(delete(order_claims).where(order_claims.c.order_id == order_id))
        conn.execute(
            insert(order_claims).from_select(
                ["order_id", "station", "epoch", "lease_until"],
                select(orders.c.id, literal(station), literal(epoch), literal(lease_until)).where(
                    orders.c.id == order_id
                ),
            )
        )


def drop_claims(conn: Connection, station: str, order_ids: Iterable[int]) -> None:
    """`station` no longer holds these orders (released, or taken over)."""
    ids = list(order_ids)
    if ids:
        conn.execute(
            delete(order_claims).where(
                order_claims.c.station == station, order_claims.c.order_id.in_(ids)
            )
        )


def drop_released(conn: Connection, station: str, released: Iterable[tuple[int, int]]) -> None:
    """`station` released these claims — (order id, epoch) — at central. A claim of the order
    under another epoch stays: the bench claimed it again meanwhile (its scan's transaction
    may commit before this background write)."""
    for order_id, epoch in released:
        conn.execute(
            delete(order_claims).where(
                order_claims.c.station == station,
                order_claims.c.order_id == order_id,
                order_claims.c.epoch == epoch,
            )
        )


def held_claims(conn: Connection, station: str) -> dict[int, int]:
    """The orders `station`'s copy says it holds → their epochs."""
    rows = conn.execute(
        select(order_claims.c.order_id, order_claims.c.epoch).where(
            order_claims.c.station == station
        )
    )
    return {order_id: epoch for order_id, epoch in rows}


def held_epoch(conn: Connection, station: str, order_id: int) -> int | None:
    """The epoch of `station`'s claim on `order_id` as its copy has it (None: not held)."""
    return conn.execute(
        select(order_claims.c.epoch).where(
            order_claims.c.order_id == order_id, order_claims.c.station == station
        )
    ).scalar()


def packing_among(
    conn: Connection, order_ids: Iterable[int], *, or_not_yet: bool = False
) -> set[int]:
    """Which of these orders the copy has in packing (those a bench may hold ahead); with
    `or_not_yet`, also those it still has as 'order' (central's pack script may have moved
    them to packing, a move the copy has not pulled yet) — not those shipped or cancelled."""
    ids = list(order_ids)
    if not ids:
        return set()
    statuses = ("packing", "order") if or_not_yet else ("packing",)
    rows = conn.execute(
        select(orders.c.id).where(orders.c.id.in_(ids), orders.c.status.in_(statuses))
    )
    return {order_id for (order_id,) in rows}


def with_unsent_ops(conn: Connection, station: str, order_ids: Iterable[int]) -> set[int]:
    """Which of these orders have audit events of `station` not yet sent to central: their
    claims are kept until central has those ops (else another bench's claim would fence them)."""
    ids = list(order_ids)
    if not ids:
        return set()
    rows = conn.execute(
        select(events.c.order_id)
        .where(events.c.order_id.in_(ids), events.c.station == station, events.c.sent_at.is_(None))
        .distinct()
    )
    return {order_id for (order_id,) in rows}


def open_order_of(conn: Connection, station: str) -> int | None:
    """The order open at `station`'s bench, as its row says."""
    return conn.execute(
        select(stations.c.current_order_id).where(stations.c.name == station)
    ).scalar()


def close_taken_order(conn: Connection, station: str, order_id: int) -> bool:
    """`order_id` was taken over from `station`: its bench no longer has it open (True if it
    had)."""
    result = conn.execute(
        update(stations)
        .where(stations.c.name == station, stations.c.current_order_id == order_id)
        .values(current_order_id=None)
    )
    return result.rowcount > 0
