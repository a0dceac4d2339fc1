"""sync (docs/sync.md): claims with epochs, central's op inbox and tasks, a station's sync state;
each audit event keeps its claim's epoch and central's outcome

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 23:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("epoch", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("outcome_reason", sa.Text(), nullable=True))
    op.create_table(
        "order_claims",
        sa.Column("order_id", _id, nullable=False),
        sa.Column("station", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("lease_until", _ts, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_claims_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_claims")),
    )
    op.create_index("ix_order_claims_station", "order_claims", ["station"], unique=False)
    op.create_table(
        "sync_ops",
        sa.Column("key", sa.String(length=36), nullable=False),
        sa.Column("station", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("order_id", _id, nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=True),
        sa.Column("at", _ts, nullable=False),
        sa.Column("received_at", _ts, nullable=False),
        sa.Column("payload", sa.Text(), server_default="{}", nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sync_ops")),
    )
    op.create_index("ix_sync_ops_order", "sync_ops", ["order_id"], unique=False)
    op.create_table(
        "sync_tasks",
        sa.Column("id", _id, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("order_id", _id, nullable=True),
        sa.Column("op_key", sa.String(length=36), nullable=True),
        sa.Column("station", sa.String(length=64), server_default="", nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("resolved_at", _ts, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_tasks")),
    )
    op.create_index("ix_sync_tasks_open", "sync_tasks", ["resolved_at"], unique=False)
    op.create_table(
        "sync_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
    op.drop_index("ix_sync_tasks_open", table_name="sync_tasks")
    op.drop_table("sync_tasks")
    op.drop_index("ix_sync_ops_order", table_name="sync_ops")
    op.drop_table("sync_ops")
    op.drop_index("ix_order_claims_station", table_name="order_claims")
    op.drop_table("order_claims")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("outcome_reason")
        batch_op.drop_column("outcome")
        batch_op.drop_column("epoch")
