"""A carrier's feed of shipments as tables (migration 0013), on `store.tables.metadata`.

Import them from `stationd.store.tables` (which imports this module at its end), so that any
user of the schema has them in the metadata the migrations are compared with.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

from stationd.store.tables import TS, metadata

# Where the station last stopped reading a carrier's feed of printed shipments (nShift's
# `fetchId`): one row a feed, shared by every station on the database, so a booking one bench
# made is seen by the next bench that looks the reference up (no double booking, issue 13).
carrier_feeds = Table(
    "carrier_feeds",
    metadata,
    Column("feed", String(20), primary_key=True),
    Column("position", String(64)),  # NULL: never read (the first read starts now)
    Column("read_at", TS, nullable=False),
)

# What a feed (or a booking's own answer) showed of each reference: the shipment to hand back
# when the reference is looked up again.
carrier_feed_shipments = Table(
    "carrier_feed_shipments",
    metadata,
    Column("feed", String(20), primary_key=True),
    Column("reference", String(64), primary_key=True),
    Column("shipment_id", String(64), nullable=False, server_default=""),
    Column("shipment_no", String(64), nullable=False),
    Column("parcel_ids", Text, nullable=False),  # JSON: the parcel ids in order
    Column("seen_at", TS, nullable=False),
)
# The oldest are let go (store/carrier_feed.KEEP_DAYS).
Index("ix_carrier_feed_shipments_seen_at", carrier_feed_shipments.c.seen_at)
