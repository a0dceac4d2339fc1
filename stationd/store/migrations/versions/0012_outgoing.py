"""the outbox for outgoing things (issue 13 section 4): `outgoing` rows (shipping notice mail,
the shop's webhooks, …) with a stable event id, and each attempt to send one

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-07 02:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outgoing",
        sa.Column("id", _id, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("order_id", _id, nullable=True),
        sa.Column("delivery_id", _id, nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("next_attempt_at", _ts, nullable=False),
        sa.Column("sending_by", sa.String(length=64), nullable=True),
        sa.Column("sent_at", _ts, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed')",
            name=op.f("ck_outgoing_outgoing_state_is_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outgoing_event_id")),
    )
    op.create_index("ix_outgoing_due", "outgoing", ["state", "next_attempt_at"], unique=False)
    op.create_table(
        "outgoing_attempts",
        sa.Column("id", _id, nullable=False),
        sa.Column("outgoing_id", _id, nullable=False),
        sa.Column("at", _ts, nullable=False),
        sa.Column("station", sa.String(length=64), server_default="", nullable=False),
        sa.Column("result", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["outgoing_id"],
            ["outgoing.id"],
            name=op.f("fk_outgoing_attempts_outgoing_id_outgoing"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_attempts")),
    )
    op.create_index("ix_outgoing_attempts_row", "outgoing_attempts", ["outgoing_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outgoing_attempts_row", table_name="outgoing_attempts")
    op.drop_table("outgoing_attempts")
    op.drop_index("ix_outgoing_due", table_name="outgoing")
    op.drop_table("outgoing")
