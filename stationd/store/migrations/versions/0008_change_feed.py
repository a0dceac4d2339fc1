"""central's change feed (docs/sync.md, pull): `sync_changes` written by statement-level
triggers, a NOTIFY to wake the stations, and how far the feed was pruned (PostgreSQL only)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 00:00:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: What each watched table's changes name: the entity a station fetches again, and its key.
#: Stock is its product's, a line or a claim its order's: a station reads an order whole.
WATCHED = {
    "products": ("product", "sku"),
    "stock": ("product", "sku"),
    "own_statuses": ("own_status", "id"),
    "orders": ("order", "id"),
    "order_lines": ("order", "order_id"),
    "order_claims": ("order", "order_id"),
}

# The feed: one row per statement and kind of entity, naming the keys it changed in an array
# (a row per key cost the pack script's 85,000-row UPDATE ~4x more: measured in
# bench/change_feed_cost.py); `xid` is the writing transaction's id (xid8, never wraps), the
# pull's cursor. Not in `metadata` (store/tables.in_metadata): a station's SQLite has none of
# it. `at` is central's clock, used only to prune.
_CREATE = (
    "CREATE TABLE sync_changes ("
    " id bigserial PRIMARY KEY,"
    " xid xid8 NOT NULL DEFAULT pg_current_xact_id(),"
    " at timestamptz NOT NULL DEFAULT now(),"
    " entity text NOT NULL,"
    " entity_ids text[] NOT NULL)",
    "CREATE INDEX sync_changes_xid ON sync_changes (xid)",
    # The highest xid pruned so far: a station whose cursor is not above it may have missed
    # rows and resyncs in full (store/change_feed.prune).
    "CREATE TABLE sync_changes_pruned (one boolean PRIMARY KEY DEFAULT true CHECK (one),"
    " through xid8 NOT NULL DEFAULT '0')",
    "INSERT INTO sync_changes_pruned DEFAULT VALUES",
)


def _function(table: str, operation: str, entity: str, key: str) -> str:
    # One INSERT per statement, not a row trigger per row: the pack script's 85,000-row UPDATE
    # pays one array of keys. An UPDATE may move a row to another key (a line to another
    # order): then the old keys are written too. Its old and new rows come in the same order,
    # so equal arrays (the usual case) mean no key moved; were the order ever to differ, both
    # arrays are written — more than needed, never less. NOTIFY folds repeats within a
    # transaction into one and is sent at commit; a statement that changed no row sends none.
    side = "old_rows" if operation == "delete" else "new_rows"
    also_old = (
        "SELECT array_agg(" + key + "::text) INTO old_keys FROM old_rows; "
        "IF old_keys IS DISTINCT FROM keys THEN "
        f"INSERT INTO sync_changes (entity, entity_ids) VALUES ('{entity}', old_keys); END IF; "
        if operation == "update"
        else ""
    )
    return (
        f"CREATE FUNCTION sync_changes_{table}_{operation}() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ DECLARE keys text[]; old_keys text[]; BEGIN "
        f"SELECT array_agg({key}::text) INTO keys FROM {side}; "
        "IF keys IS NULL THEN RETURN NULL; END IF; "
        f"INSERT INTO sync_changes (entity, entity_ids) VALUES ('{entity}', keys); "
        + also_old
        + "PERFORM pg_notify('stationd_changes', ''); "
        "RETURN NULL; END $$"
    )


_REFERENCING = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}


#: `orders` is wide and the pack script updates most of it at once: a statement trigger's
#: transition tables would copy every row it moves, twice, before the trigger runs (tens of MB,
#: spilled to disk). Its UPDATEs have a row trigger instead, skipped (its WHEN, checked
#: without calling it) by a statement that writes the feed itself — the pack script's move,
#: through `store.change_feed.feed_kept` — and otherwise one feed row per order changed.
ROW_UPDATES = {"orders"}
#: The setting a statement that writes its own feed row sets for itself (`feed_kept`).
FEED_KEPT_SETTING = "stationd.sync_feed"

_ORDERS_ROW_FUNCTION = (
    "CREATE FUNCTION sync_changes_orders_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO sync_changes (entity, entity_ids) VALUES ('order', CASE WHEN OLD.id = NEW.id "
    "THEN ARRAY[NEW.id::text] ELSE ARRAY[OLD.id::text, NEW.id::text] END); "
    "PERFORM pg_notify('stationd_changes', ''); "
    "RETURN NULL; END $$"
)


def _triggers(table: str, entity: str, key: str) -> list[str]:
    statements = []
    for operation, referencing in _REFERENCING.items():
        if operation == "update" and table in ROW_UPDATES:
            statements.append(_ORDERS_ROW_FUNCTION)
            statements.append(
                f"CREATE TRIGGER sync_changes_update AFTER UPDATE ON {table} FOR EACH ROW "
                f"WHEN (current_setting('{FEED_KEPT_SETTING}', true) IS DISTINCT FROM 'kept') "
                f"EXECUTE FUNCTION sync_changes_{table}_row()"
            )
            continue
        statements.append(_function(table, operation, entity, key))
        statements.append(
            f"CREATE TRIGGER sync_changes_{operation} AFTER {operation.upper()} ON {table} "
            f"REFERENCING {referencing} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION sync_changes_{table}_{operation}()"
        )
    return statements


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # a station's SQLite is no central: it follows one, it keeps no feed
    for statement in _CREATE:
        bind.exec_driver_sql(statement)
    for table, (entity, key) in WATCHED.items():
        for statement in _triggers(table, entity, key):
            bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql("DROP FUNCTION IF EXISTS sync_changes_orders_row() CASCADE")
    for table in WATCHED:
        for operation in _REFERENCING:
            bind.exec_driver_sql(
                f"DROP FUNCTION IF EXISTS sync_changes_{table}_{operation}() CASCADE"
            )
    bind.exec_driver_sql("DROP TABLE IF EXISTS sync_changes_pruned")
    bind.exec_driver_sql("DROP TABLE IF EXISTS sync_changes")
