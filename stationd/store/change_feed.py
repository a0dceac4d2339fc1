"""Central's side of pull (docs/sync.md): the change feed read in an xid window, and the
current images of what changed, all in one REPEATABLE READ snapshot.

The feed (`sync_changes`, migration 0008) is written by statement-level triggers; each row
names a kind of entity (`product` by SKU, `own_status` by id, `order` by id — its lines and
claim with it), the keys one statement changed, and the id of the transaction that changed
them (`xid`, an xid8). A pull reads the rows
with ``cursor <= xid < pg_snapshot_xmin(pg_current_snapshot())`` and then keeps that xmin as
its next cursor. Every transaction below the snapshot's xmin has ended, so a row committed
late (its transaction began writing before another committed, and commits after this pull)
is never skipped: its xid is at or above this xmin and a later pull reads it. A long
transaction holds the cursor back (lag), never makes it skip. The images are read in the same
snapshot, so what a pull writes is what central held at one instant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    any_,
    bindparam,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url

from stationd.store.tables import order_claims, order_lines, orders, own_statuses, products, stock

#: The NOTIFY channel the feed's triggers wake the stations on.
CHANNEL = "stationd_changes"
#: What the feed keeps (central's clock): a station whose cursor is older resyncs in full.
FEED_KEEPS = timedelta(days=7)

#: The entity kinds, in the order a pull writes them: an order names its own status.
KINDS = ("own_status", "product", "order")


def libpq_url(url: str) -> str:
    """`url` (SQLAlchemy's ``postgresql+psycopg://…``) as libpq takes it, for a raw psycopg
    connection (the LISTEN one)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Images:
    """The current rows of some entities of one kind at central; a key asked for and absent
    from the rows was deleted there."""

    kind: str
    keys: list[Any]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class Snapshot:
    """One REPEATABLE READ, read-only transaction on central (`snapshot()`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        row = conn.execute(
            text(
                "SELECT (SELECT system_identifier::text FROM pg_control_system()), "
                "pg_snapshot_xmin(pg_current_snapshot())::text, "
                "(SELECT through::text FROM sync_changes_pruned)"
            )
        ).one()
        #: Central's cluster: a new or restored one has another (`initdb` makes it).
        self.identifier: str = row[0]
        #: Every transaction below it has ended: the next pull's cursor.
        self.xmin: int = int(row[1])
        #: The feed may lack rows up to this xid (pruned): a cursor not above it resyncs.
        self.pruned_through: int = int(row[2])

    def changed(self, cursor: int) -> dict[str, list[Any]]:
        """The entities changed by transactions in ``cursor <= xid < xmin``, by kind."""
        found: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        rows = self.conn.execute(
            text(
                "SELECT DISTINCT entity, unnest(entity_ids) FROM sync_changes "
                "WHERE xid >= CAST(CAST(:cursor AS text) AS xid8) "
                "AND xid < CAST(CAST(:xmin AS text) AS xid8)"
            ),
            {"cursor": str(cursor), "xmin": str(self.xmin)},
        )
        for entity, key in rows:
            if entity in found:
                found[entity].append(key if entity == "product" else int(key))
        for keys in found.values():
            keys.sort()
        return found

    def everything(self) -> dict[str, list[Any]]:
        """Every entity central holds, by kind (a full resync)."""
        keys = (
            ("own_status", own_statuses.c.id),
            ("product", products.c.sku),
            ("order", orders.c.id),
        )
        return {
            kind: list(self.conn.execute(select(key).order_by(key)).scalars()) for kind, key in keys
        }

    def images(self, kind: str, keys: Sequence[Any]) -> Images:
        """The current rows of these entities: a product with its stock, an order with its
        lines and claim."""
        wanted = list(keys)
        found = Images(kind, wanted)
        if kind not in _IMAGE_TABLES:
            raise ValueError(f"no entity kind {kind!r} in the change feed")
        # One array parameter, not an IN list of a bind each: a batch's statement is the same
        # every time (compiled once) and its rows come back as plain tuples.
        key_type = String() if kind == "product" else BigInteger()
        asked = bindparam("keys", wanted, type_=ARRAY(key_type))
        for table, key in _IMAGE_TABLES[kind]:
            query = select(table).where(table.c[key] == any_(asked))
            found.rows[table.name] = [row._asdict() for row in self.conn.execute(query)]
        return found


#: The tables of each entity kind's image, and the column naming the entity in each.
_IMAGE_TABLES = {
    "own_status": ((own_statuses, "id"),),
    "product": ((products, "sku"), (stock, "sku")),
    "order": ((orders, "id"), (order_lines, "order_id"), (order_claims, "order_id")),
}


@contextmanager
def snapshot(central: Connection, *, timeout_s: float = 60.0) -> Iterator[Snapshot]:
    """A read-only REPEATABLE READ transaction on central (on `central`, a connection with
    no transaction going): the feed's window and the images come from one instant. Each
    statement gives up after `timeout_s` (set per transaction, so a connection pooler in
    between keeps no setting of ours)."""
    conn = central.execution_options(isolation_level="REPEATABLE READ")
    with conn.begin():
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
        yield Snapshot(conn)


#: Set for the statement that follows by `feed_kept` (migration 0008's WHEN on `orders`).
_FEED_KEPT = "SELECT set_config('stationd.sync_feed', :value, true)"


@contextmanager
def feed_kept(conn: Connection, entity: str, keys: Sequence[Any]) -> Iterator[None]:
    """For a bulk UPDATE of `orders` run inside the block (the pack script's move): the feed
    gets one row naming `keys` instead of a row per order from the row trigger, which the
    block's statements skip. `keys` must name every row the block changes. On SQLite (no
    feed) it does nothing."""
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.execute(text(_FEED_KEPT), {"value": "kept"})
    # No `finally`: the setting is the transaction's own (set_config's is_local), so one that
    # fails in the block takes it along; resetting it there would only hide the error.
    yield
    conn.execute(text(_FEED_KEPT), {"value": ""})
    # The keys as one JSON array: an array parameter is made element by element in Python
    # (~0.1 s of processor time for the pack script's 85,000 orders), json.dumps in C.
    conn.execute(
        text(
            "INSERT INTO sync_changes (entity, entity_ids) "
            "VALUES (:entity, ARRAY(SELECT json_array_elements_text(CAST(:keys AS json))))"
        ),
        {"entity": entity, "keys": json.dumps([str(key) for key in keys])},
    )
    conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def prune(central: Connection, *, keeps: timedelta = FEED_KEEPS) -> int:
    """Delete the feed's rows older than `keeps` (central's clock); returns how many.

    The highest xid deleted is kept in `sync_changes_pruned.through`: a station whose cursor
    is not above it may have missed a row and resyncs in full. Rows are taken by age, not by
    xid, so a few below `through` may stay; that only makes the check careful, never wrong —
    every deleted row is at or below `through`. Any station may call it: the `through` row's
    lock makes two at once take turns. `central`: a connection with no transaction going.
    """
    with central.begin():
        return central.execute(
            text(
                "WITH gone AS (DELETE FROM sync_changes "
                "WHERE at < now() - make_interval(secs => :keeps) RETURNING xid) "
                "UPDATE sync_changes_pruned "
                "SET through = greatest(through, coalesce((SELECT max(xid) FROM gone), through)) "
                "RETURNING (SELECT count(*) FROM gone)"
            ),
            {"keeps": keeps.total_seconds()},
        ).scalar_one()


__all__ = [
    "CHANNEL",
    "FEED_KEEPS",
    "KINDS",
    "Images",
    "Snapshot",
    "feed_kept",
    "libpq_url",
    "prune",
    "snapshot",
]
