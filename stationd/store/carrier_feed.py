"""What a carrier's feed of shipments showed, kept in the database (issue 13 §2, R13: no
double booking across stations).

nShift has no search by order number: the station finds a booking again by reading the feed
of printed shipments from where it last stopped. Kept in a file per station, a second station
on the same database read that feed from *its own* start — a feed first read starts now — and
never saw the first one's booking, so it booked the parcel again. Here the position and every
shipment seen are rows every station shares: a booking made (and noted) by one is found by the
next station that looks its reference up, under the same booking lock
(store/carrier_bookings.booking_lock).

Two stations reading the feed at once read the same page from the same position and note the
same shipments (an upsert: the same row again); the position they write is the one their page
ended at, so at worst a later read goes over a page again. Nothing seen is lost by it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stationd.clock import utcnow
from stationd.store.carrier_feed_tables import carrier_feed_shipments, carrier_feeds
from stationd.store.database import Store

#: How long a shipment seen stays findable by its reference: a look-up that matters follows
#: its booking within minutes (a lost answer, a crash before the commit), never months later.
KEEP_DAYS = 90


@dataclass(frozen=True, slots=True)
class SeenShipment:
    """A shipment a feed showed under a reference: the carrier's id for it (to fetch its
    labels again), its number and its parcel ids."""

    shipment_id: str
    shipment_no: str
    parcel_ids: tuple[str, ...]


class CarrierFeed:
    """One carrier's feed (`feed`: "nshift") as the stations on `store` share it."""

    def __init__(self, store: Store, feed: str) -> None:
        self.store = store
        self.feed = feed

    def position(self) -> str | None:
        """Where the feed was last read to (None: never read)."""
        with self.store.read() as conn:
            return conn.execute(
                select(carrier_feeds.c.position).where(carrier_feeds.c.feed == self.feed)
            ).scalar()

    def seen(self, reference: str) -> SeenShipment | None:
        """The shipment seen under `reference`, if any."""
        t = carrier_feed_shipments
        with self.store.read() as conn:
            row = conn.execute(
                select(t.c.shipment_id, t.c.shipment_no, t.c.parcel_ids).where(
                    t.c.feed == self.feed, t.c.reference == reference
                )
            ).first()
        if row is None:
            return None
        return SeenShipment(row.shipment_id, row.shipment_no, tuple(json.loads(row.parcel_ids)))

    def note(self, seen: Mapping[str, SeenShipment], *, read_to: str | None = None) -> None:
        """Keep the shipments `seen` (by reference) and, after a page of the feed, the
        position it was read to — in one transaction, so a position is never ahead of what
        was kept from before it."""
        now = utcnow()
        with self.store.write() as conn:
            if seen:
                self._upsert(
                    conn,
                    carrier_feed_shipments,
                    [
                        {
                            "feed": self.feed,
                            "reference": reference,
                            "shipment_id": shipment.shipment_id,
                            "shipment_no": shipment.shipment_no,
                            "parcel_ids": json.dumps(list(shipment.parcel_ids)),
                            "seen_at": now,
                        }
                        for reference, shipment in seen.items()
                    ],
                    keys=["feed", "reference"],
                )
            if read_to is not None:
                self._upsert(
                    conn,
                    carrier_feeds,
                    [{"feed": self.feed, "position": read_to, "read_at": now}],
                    keys=["feed"],
                )
                conn.execute(
                    delete(carrier_feed_shipments).where(
                        carrier_feed_shipments.c.feed == self.feed,
                        carrier_feed_shipments.c.seen_at < now - timedelta(days=KEEP_DAYS),
                    )
                )

    @staticmethod
    def _upsert(conn: Connection, table, rows: list[dict], *, keys: list[str]) -> None:  # type: ignore[no-untyped-def]
        dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
        statement = dialect_insert(table)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=keys,
                set_={name: statement.excluded[name] for name in rows[0] if name not in keys},
            ),
            rows,
        )
