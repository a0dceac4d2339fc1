"""PostgreSQL: room on every page of `stock` and `order_states` (fillfactor 50), so that the pack
script's updates of them stay on their pages. SQLite is left as it is.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 06:00:00

Why (issue 11): a run reserves the stock of every SKU its moves take (20,000 rows at 100,000
orders) and moves ~85,000 rows of `order_states` with one UPDATE each. Both tables were
packed full, so no new row version found room on its page: each was written to another page,
its old version locked first (a WAL record of its own), and `stock`'s updates, which write no
indexed column, were not HOT either — a new entry in `pk_stock` each. Measured on a run's
statements at 100,000 orders (server processor time, 3 runs each): stock 0.10-0.11 s → 0.05-0.06
s (HOT, 60,533 → 20,000 WAL records), order_states 0.24-0.25 → 0.22 s (255,453 → 170,411 WAL
records; its key is the status, so a move still adds an index entry). Both tables are narrow:
the room costs 2 MB and 8 MB at 100,000 orders.

The tables are rewritten here (CLUSTER on their keys), so rows from before get the room too;
both are small, and nothing else runs during a migration.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ROOMY = ("stock", "order_states")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in _ROOMY:
        bind.exec_driver_sql(f"ALTER TABLE {table} SET (fillfactor = 50)")
        # CLUSTER writes the rows anew, at the table's fillfactor (ALTER TABLE alone only
        # applies to pages written from now on).
        bind.exec_driver_sql(f"CLUSTER {table} USING pk_{table}")
        bind.exec_driver_sql(f"ALTER TABLE {table} SET WITHOUT CLUSTER")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in _ROOMY:
        bind.exec_driver_sql(f"ALTER TABLE {table} RESET (fillfactor)")
