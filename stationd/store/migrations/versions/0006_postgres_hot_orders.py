"""PostgreSQL: the pack script's update of `orders` made HOT — the status indexes go to a
narrow `order_states` table, the trigram index to an `orders_text` table, both kept by
triggers; `orders` gets room on each page (fillfactor 50). SQLite is left as it is.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:10:00

Why (issue 11): the pack script moves ~85,000 of 100,000 orders to packing with one UPDATE.
`status` was indexed (ix_orders_queue, ix_orders_status), so no row could be updated in place
(HOT) and every index of `orders` — ten, the trigram GIN index the dearest — got a new entry
per row: 3.3 of the run's 4.2 s and half its WAL. Now no index of `orders` names a column the
pack script writes (status, updated_at, packscript_run_id), so with free room on the page each
row is rewritten in place and no index of `orders` is touched. What needs the status found fast
(the pack script's queue, the outbound queue, the order list by status) reads `order_states`:
(status, order_id), a copy of each order's status kept by triggers (and by the pack script's
own set-based update, see `store.packscript`). `orders.status` stays the one truth that
everything reads and writes. The order search's text goes to `orders_text` (order_id,
customer_key, lower(customer_email)) with the trigram index, kept by triggers that fire only
when a name or e-mail is written.

On SQLite none of this pays: its pack script already remakes the status indexes after a large
move, and its text index is an FTS5 table already.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ORDER_STATES = (
    # One index, the primary key: a status's orders newest first (the order list), an order's
    # row found from its old status (the triggers). Each order moved costs the heap row and
    # this one entry; the waiting flag and the date are read from `orders`.
    "CREATE TABLE order_states ("
    " status VARCHAR(10) NOT NULL,"
    " order_id BIGINT NOT NULL,"
    " CONSTRAINT pk_order_states PRIMARY KEY (status, order_id))",
    "INSERT INTO order_states (status, order_id) SELECT status, id FROM orders",
    # Inserts and deletes: statement triggers over the statement's rows, one set-based write
    # per statement (an import of 100,000 orders). No foreign key: it would need an index on
    # order_id alone; the delete and truncate triggers do its work.
    "CREATE FUNCTION order_states_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO order_states (status, order_id) SELECT status, id FROM new_orders; "
    "RETURN NULL; END $$",
    # A change of status: a row trigger, called only for a row whose status changed (its WHEN
    # is checked without calling the function) — and not for the pack script's move, which
    # writes `order_states` itself, set-based, and says so for its statement
    # (`store.packscript._ORDER_STATES_KEPT`): a statement trigger would copy both versions of
    # every row it moves into transition tables first, as long again as the update itself.
    "CREATE FUNCTION order_states_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "UPDATE order_states SET status = NEW.status "
    "WHERE status = OLD.status AND order_id = OLD.id; RETURN NULL; END $$",
    "CREATE FUNCTION order_states_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "DELETE FROM order_states s USING old_orders o "
    "WHERE s.status = o.status AND s.order_id = o.id; RETURN NULL; END $$",
    "CREATE FUNCTION order_states_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "TRUNCATE order_states; RETURN NULL; END $$",
    "CREATE TRIGGER order_states_insert AFTER INSERT ON orders "
    "REFERENCING NEW TABLE AS new_orders FOR EACH STATEMENT "
    "EXECUTE FUNCTION order_states_insert()",
    "CREATE TRIGGER order_states_update AFTER UPDATE OF status ON orders FOR EACH ROW "
    "WHEN (OLD.status IS DISTINCT FROM NEW.status "
    "AND current_setting('stationd.order_states', true) IS DISTINCT FROM 'kept') "
    "EXECUTE FUNCTION order_states_update()",
    "CREATE TRIGGER order_states_delete AFTER DELETE ON orders "
    "REFERENCING OLD TABLE AS old_orders FOR EACH STATEMENT "
    "EXECUTE FUNCTION order_states_delete()",
    "CREATE TRIGGER order_states_truncate AFTER TRUNCATE ON orders "
    "FOR EACH STATEMENT EXECUTE FUNCTION order_states_truncate()",
    "DROP INDEX ix_orders_queue",
    "DROP INDEX ix_orders_status",
    "ANALYZE order_states",
)
_ORDER_STATES_TRIGGERS = ("insert", "update", "delete", "truncate")

_ORDERS_TEXT = (
    "DROP INDEX orders_text_trgm",
    "CREATE TABLE orders_text ("
    " order_id BIGINT NOT NULL,"
    " customer_key VARCHAR(200) NOT NULL,"
    " customer_email VARCHAR(200) NOT NULL,"
    " CONSTRAINT pk_orders_text PRIMARY KEY (order_id),"
    " CONSTRAINT fk_orders_text_order_id_orders FOREIGN KEY (order_id)"
    " REFERENCES orders (id) ON UPDATE CASCADE ON DELETE CASCADE)",
    "INSERT INTO orders_text (order_id, customer_key, customer_email) "
    "SELECT id, customer_key, lower(customer_email) FROM orders",
    "CREATE INDEX orders_text_trgm ON orders_text USING gin "
    "(customer_key gin_trgm_ops, customer_email gin_trgm_ops)",
    "CREATE FUNCTION orders_text_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO orders_text (order_id, customer_key, customer_email) "
    "SELECT id, customer_key, lower(customer_email) FROM new_orders; RETURN NULL; END $$",
    "CREATE FUNCTION orders_text_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "UPDATE orders_text SET customer_key = NEW.customer_key, "
    "customer_email = lower(NEW.customer_email) WHERE order_id = NEW.id; RETURN NULL; END $$",
    "CREATE TRIGGER orders_text_insert AFTER INSERT ON orders "
    "REFERENCING NEW TABLE AS new_orders FOR EACH STATEMENT "
    "EXECUTE FUNCTION orders_text_insert()",
    # A row trigger: only it can name its columns, so an UPDATE that writes no name or e-mail
    # (the pack script's, a report-in's) never calls it.
    "CREATE TRIGGER orders_text_update AFTER UPDATE OF customer_key, customer_email ON orders "
    "FOR EACH ROW EXECUTE FUNCTION orders_text_update()",
    "ANALYZE orders_text",
)

# Room on every page for a new version of each row: the first run over a large import moves
# most orders at once, and a version that finds no room on its page is not HOT. New pages get
# it; pages already full get it as they are rewritten (VACUUM FULL gives it to all at once).
_ROOMY_ORDERS = "ALTER TABLE orders SET (fillfactor = 50)"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for statement in _ORDER_STATES:
        bind.exec_driver_sql(statement)
    if _has_index(bind, "orders_text_trgm"):  # pg_trgm was there for 0001
        for statement in _ORDERS_TEXT:
            bind.exec_driver_sql(statement)
    bind.exec_driver_sql(_ROOMY_ORDERS)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql("ALTER TABLE orders RESET (fillfactor)")
    if _has_index(bind, "orders_text_trgm"):
        for name in ("orders_text_insert", "orders_text_update"):
            bind.exec_driver_sql(f"DROP TRIGGER {name} ON orders")
            bind.exec_driver_sql(f"DROP FUNCTION {name}()")
        bind.exec_driver_sql("DROP TABLE orders_text")
        bind.exec_driver_sql(
            "CREATE INDEX orders_text_trgm ON orders USING gin "
            "(customer_key gin_trgm_ops, lower(customer_email) gin_trgm_ops)"
        )
    for kind in _ORDER_STATES_TRIGGERS:
        bind.exec_driver_sql(f"DROP TRIGGER order_states_{kind} ON orders")
        bind.exec_driver_sql(f"DROP FUNCTION order_states_{kind}()")
    bind.exec_driver_sql("DROP TABLE order_states")
    bind.exec_driver_sql("CREATE INDEX ix_orders_queue ON orders (status, waiting, placed_at)")
    bind.exec_driver_sql("CREATE INDEX ix_orders_status ON orders (status, id)")


def _has_index(bind, name: str) -> bool:  # type: ignore[no-untyped-def]
    return bind.exec_driver_sql("SELECT to_regclass(%s)", (name,)).scalar() is not None
