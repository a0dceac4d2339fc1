"""PostgreSQL's side tables of `orders` (migration 0006), and the conditions that read them.

On PostgreSQL no index of `orders` names a column the pack script writes, so its update of
85,000 orders is HOT (each row rewritten in place, no index touched). What must find orders by
status fast reads `order_states`, a narrow copy of each order's status kept by triggers (and by
the pack script's own move); the order search's text index is the `orders_text` table (name
and lower-cased e-mail) with a pg_trgm GIN index. `orders` stays the one truth. On SQLite the
status indexes are on `orders` itself and the text index is an FTS5 table: the conditions here
are plain columns of `orders` there.

Neither table is in `tables.metadata` (they exist on one engine only; `tables.in_metadata`).
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, String, Table, or_, select
from sqlalchemy.sql.elements import ColumnElement

from stationd.store.tables import ORDER_TEXT_INDEX, BigId, orders

_postgresql_only = MetaData()

#: A copy of each order's status (0006's triggers; the pack script's move writes it itself).
#: Its one index is its key: a status's orders in id order.
order_states = Table(
    "order_states",
    _postgresql_only,
    Column("status", String(10), primary_key=True),
    Column("order_id", BigId, primary_key=True),
)

#: The order search's text per order: customer_key and the e-mail lower-cased.
orders_text = Table(
    ORDER_TEXT_INDEX,
    _postgresql_only,
    Column("order_id", BigId, primary_key=True),
    Column("customer_key", String(200), nullable=False),
    Column("customer_email", String(200), nullable=False),
)


def in_status(conn: Connection, status: str, *, waiting: bool | None = None) -> ColumnElement:
    """The orders in `status` (and waiting or not, if given), found through their index."""
    found = orders.c.status == status
    if conn.dialect.name == "postgresql":
        states = select(order_states.c.order_id).where(order_states.c.status == status)
        found = orders.c.id.in_(states)
    return found if waiting is None else found & orders.c.waiting.is_(waiting)


def has_orders_text(conn: Connection) -> bool:
    """PostgreSQL: whether the text index is there (0006 makes it only where pg_trgm was)."""
    found = conn.exec_driver_sql("SELECT to_regclass(%s)", (ORDER_TEXT_INDEX,)).scalar()
    return found is not None


def text_holders(pattern: str) -> ColumnElement:
    """PostgreSQL: the orders whose name or e-mail may hold the LIKE `pattern` (lower-case),
    through the trigram index. The LIKE on `orders` itself decides; this only narrows."""
    holding = select(orders_text.c.order_id).where(
        or_(
            orders_text.c.customer_key.like(pattern, escape="\\"),
            orders_text.c.customer_email.like(pattern, escape="\\"),
        )
    )
    return orders.c.id.in_(holding)


__all__ = ["has_orders_text", "in_status", "order_states", "orders_text", "text_holders"]
