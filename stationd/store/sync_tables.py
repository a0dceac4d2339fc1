"""The sync's tables (docs/sync.md), on `store.tables.metadata`.

Import them from `stationd.store.tables` (which imports this module at its end), so that any
user of the schema has them in the metadata the migrations are compared with.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Text

from stationd.store.tables import TS, BigId, metadata

# --- sync (docs/sync.md) ----------------------------------------------------------------------
# On the central database: which bench holds which order (R17), each claim with an epoch that
# only grows — the fencing token every op of that bench carries. On a station: the claims it
# pulled (what it holds ahead for when the network drops).
order_claims = Table(
    "order_claims",
    metadata,
    Column("order_id", BigId, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("station", String(64), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    # Central's clock, never a station's: a Pi has no clock battery.
    Column("lease_until", TS, nullable=False),
)
Index("ix_order_claims_station", order_claims.c.station)

# On the central database: every op a station pushed (its audit event's key), applied once; a
# duplicate push gets the stored outcome back.
sync_ops = Table(
    "sync_ops",
    metadata,
    Column("key", String(36), primary_key=True),
    Column("station", String(64), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("order_id", BigId),
    Column("epoch", BigInteger),
    Column("at", TS, nullable=False),  # the station's time, shown, never compared
    Column("received_at", TS, nullable=False),  # central's time
    Column("payload", Text, nullable=False, server_default="{}"),
    Column("outcome", String(10), nullable=False),  # accepted | refused
    Column("reason", Text),  # in English, for logs and the CLI
    # The reason as a sentence (core.text.text_data), which the bench says in its language.
    Column("reason_data", Text),
)
Index("ix_sync_ops_order", sync_ops.c.order_id)

# On the central database: what a conflict left for a person to decide (an order cancelled or
# changed centrally after a bench labelled or shipped it offline, …), shown to the admin.
sync_tasks = Table(
    "sync_tasks",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("created_at", TS, nullable=False),
    Column("order_id", BigId),
    Column("op_key", String(36)),
    Column("station", String(64), nullable=False, server_default=""),
    Column("kind", String(40), nullable=False),
    Column("text", Text, nullable=False),
    # The task as a sentence (core.text.text_data): the admin reads it in the kiosk's language.
    Column("text_data", Text),
    Column("resolved_at", TS),
)
Index("ix_sync_tasks_open", sync_tasks.c.resolved_at)

# On a station: what the sync keeps between runs (central's system identifier, the pull cursor,
# the last error …), one row a name.
sync_state = Table(
    "sync_state",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)

__all__ = ["order_claims", "sync_ops", "sync_state", "sync_tasks"]
