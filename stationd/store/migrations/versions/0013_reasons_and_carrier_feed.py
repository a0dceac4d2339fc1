"""outgoing reasons as sentences: `outgoing.last_error_data` and `outgoing_attempts.reason_data`
keep a failed try's reason as its template and facts (core.text.text_data) beside its English,
so the Tools page says it in the admin's language; a carrier's feed of shipments kept in the
database (`carrier_feeds`, `carrier_feed_shipments`), shared by every station on it, so one
bench finds another's nShift booking instead of booking the parcel again

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07 03:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Nullable, no default: a plain ALTER TABLE … ADD COLUMN on both engines, no rewrite. Rows
    # from before keep only their English (shown as it is).
    op.add_column("outgoing", sa.Column("last_error_data", sa.Text(), nullable=True))
    op.add_column("outgoing_attempts", sa.Column("reason_data", sa.Text(), nullable=True))
    op.create_table(
        "carrier_feeds",
        sa.Column("feed", sa.String(length=20), nullable=False),
        sa.Column("position", sa.String(length=64), nullable=True),
        sa.Column("read_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("feed", name=op.f("pk_carrier_feeds")),
    )
    op.create_table(
        "carrier_feed_shipments",
        sa.Column("feed", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("shipment_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("shipment_no", sa.String(length=64), nullable=False),
        sa.Column("parcel_ids", sa.Text(), nullable=False),
        sa.Column("seen_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("feed", "reference", name=op.f("pk_carrier_feed_shipments")),
    )
    op.create_index(
        "ix_carrier_feed_shipments_seen_at", "carrier_feed_shipments", ["seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_carrier_feed_shipments_seen_at", table_name="carrier_feed_shipments")
    op.drop_table("carrier_feed_shipments")
    op.drop_table("carrier_feeds")
    with op.batch_alter_table("outgoing_attempts", schema=None) as batch_op:
        batch_op.drop_column("reason_data")
    with op.batch_alter_table("outgoing", schema=None) as batch_op:
        batch_op.drop_column("last_error_data")
