"""orders from the shop (issue 13 §1): the shop's reference and the hash of what it sent, the
customer's language, and each line's VAT rate

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, never a batch copy of `orders`: on SQLite that would drop the order
    # search's FTS triggers (0001). None of these is a column the pack script writes, so the
    # unique index leaves its update of `orders` HOT on PostgreSQL (migration 0006).
    op.add_column("orders", sa.Column("shop", sa.String(40), nullable=False, server_default=""))
    op.add_column("orders", sa.Column("shop_ref", sa.String(64), nullable=True))
    op.add_column("orders", sa.Column("language", sa.String(2), nullable=False, server_default=""))
    op.add_column("orders", sa.Column("import_hash", sa.String(64), nullable=True))
    op.create_index("ux_orders_shop_ref", "orders", ["shop", "shop_ref"], unique=True)
    op.add_column("order_lines", sa.Column("vat_rate_bp", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_lines") as batch:
        batch.drop_column("vat_rate_bp")
    op.drop_index("ux_orders_shop_ref", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("import_hash")
        batch.drop_column("language")
        batch.drop_column("shop_ref")
        batch.drop_column("shop")
