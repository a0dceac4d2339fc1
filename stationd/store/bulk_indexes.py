"""SQLite: the order indexes a big import sets aside and makes anew at its end (issue 13 §1).

A new order goes into each index of `orders` and `order_lines` and, through its trigger, into
the order-text index (`orders_text`, FTS5). The indexes keyed by id grow at their end and
cost little; those keyed by a name, a time, an amount, a SKU or an EAN take each row at a
random place, so each batch's commit writes most of their pages again, and the text index's
trigger tokenises row by row. At 100,000 new orders these were ~13 s of an import's ~18 s of
SQLite time; made from the table at the end they take ~1.5 s (bench/import_orders.py).

So, like a pack-script run that moves most orders (`store.packscript._indexes_to_remake`, the
same rule: at least `REMAKE_INDEXES_FROM` orders and at least half of them this import's), an
import drops those indexes and the text triggers and puts them back after its last batch. Each
batch stays a transaction of its own, so a bench's scan still waits for one batch at most;
meanwhile searches by name, SKU or EAN are slower (never wrong: the order text is rebuilt from
the table, what any writer did meanwhile included). Should the import die first, `put_back`
(run by every `Store.upgrade`, so by every start and every import) makes them again.
"""

from __future__ import annotations

from sqlalchemy import Connection

from stationd.store.packscript import REMAKE_INDEXES_FROM
from stationd.store.tables import metadata

#: The indexes a big import sets aside: those it would change at random places.
SET_ASIDE = (
    "ix_orders_customer_key",
    "ix_orders_placed_at",
    "ix_orders_queue",
    "ix_orders_value",
    "ix_order_lines_sku",
    "ix_order_lines_gtin",
)

# `ix_orders_queue` is SQLite's alone (`tables.ENGINE_SPECIFIC`: not in the metadata); made as
# migrations 0001 and 0006 make it.
_QUEUE_INDEX = "CREATE INDEX ix_orders_queue ON orders (status, waiting, placed_at)"

# The order-text index's triggers, as migration 0001 made them (a migration's text is its
# own and never changes; these are what `put_back` makes again).
_TEXT_TRIGGERS = {
    "orders_text_insert": "CREATE TRIGGER orders_text_insert AFTER INSERT ON orders BEGIN "
    "INSERT INTO orders_text (rowid, customer_key, customer_email) "
    "VALUES (new.id, new.customer_key, new.customer_email); END",
    "orders_text_delete": "CREATE TRIGGER orders_text_delete AFTER DELETE ON orders BEGIN "
    "INSERT INTO orders_text (orders_text, rowid, customer_key, customer_email) "
    "VALUES ('delete', old.id, old.customer_key, old.customer_email); END",
    "orders_text_update": "CREATE TRIGGER orders_text_update "
    "AFTER UPDATE OF id, customer_key, customer_email ON orders BEGIN "
    "INSERT INTO orders_text (orders_text, rowid, customer_key, customer_email) "
    "VALUES ('delete', old.id, old.customer_key, old.customer_email); "
    "INSERT INTO orders_text (rowid, customer_key, customer_email) "
    "VALUES (new.id, new.customer_key, new.customer_email); END",
}


def _present(conn: Connection) -> set[str]:
    rows = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger', 'table')"
    )
    return {name for (name,) in rows}


def worth_setting_aside(conn: Connection, new_so_far: int) -> bool:
    """Whether an import that has added `new_so_far` orders, and goes on, is big enough to
    set the indexes aside (SQLite only): the pack script's rule for remaking its indexes."""
    if conn.dialect.name != "sqlite" or new_so_far < REMAKE_INDEXES_FROM:
        return False
    total = conn.exec_driver_sql("SELECT count(*) FROM orders").scalar() or 0
    return 2 * new_so_far >= total


def set_aside(conn: Connection) -> None:
    """Drop the `SET_ASIDE` indexes and the order-text triggers (SQLite), in `conn`'s
    transaction; `put_back` makes them again."""
    present = _present(conn)
    for name in SET_ASIDE:
        if name in present:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
    for name in _TEXT_TRIGGERS:
        if name in present:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')


def put_back(conn: Connection) -> bool:
    """Make any `SET_ASIDE` index or order-text trigger that is missing (SQLite), the order
    text rebuilt from `orders` if a trigger was; True if anything was missing."""
    if conn.dialect.name != "sqlite":
        return False
    present = _present(conn)
    indexes = {ix.name: ix for table in metadata.sorted_tables for ix in table.indexes}
    missing = [name for name in SET_ASIDE if name not in present]
    for name in missing:
        if name in indexes:
            indexes[name].create(conn)
        else:
            conn.exec_driver_sql(_QUEUE_INDEX)
    # No text index at all: SQLite without FTS5 made none (migration 0001); nothing to keep.
    triggers = [n for n in _TEXT_TRIGGERS if n not in present] if "orders_text" in present else []
    for name in triggers:
        conn.exec_driver_sql(_TEXT_TRIGGERS[name])
    if triggers:
        conn.exec_driver_sql("INSERT INTO orders_text (orders_text) VALUES ('rebuild')")
    return bool(missing or triggers)
