"""the lines with items packed and not yet delivered, by order (the ship-out list, R13)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The ship-out list starts from these few lines instead of every packing order's lines.
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_order_lines_packed",
            ["order_id"],
            unique=False,
            sqlite_where=sa.text("packed > 0"),
            postgresql_where=sa.text("packed > 0"),
        )


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_packed")
