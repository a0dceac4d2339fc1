"""parcel labels noted per id, print errors kept as sentences, order lines' covering index,
the scan journal by station and time

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # R16: which parcel ids have their label queued, so report-in prints the ones missing.
    with op.batch_alter_table("parcel_ids", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labelled", sa.Boolean(), server_default="0", nullable=False))
    # Why a print job waits, as a sentence the kiosk can say in the packer's language.
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_error_data", sa.Text(), nullable=True))
    # The pack script reads an order's lines from the index alone.
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_order")
        batch_op.create_index(
            "ix_order_lines_order", ["order_id", "id", "sku", "quantity"], unique=False
        )
    # The scan inbox asks which of its scans the journal has.
    with op.batch_alter_table("scan_journal", schema=None) as batch_op:
        batch_op.create_index("ix_scan_journal_read", ["station", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scan_journal", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_journal_read")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_order")
        batch_op.create_index("ix_order_lines_order", ["order_id"], unique=False)
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.drop_column("last_error_data")
    with op.batch_alter_table("parcel_ids", schema=None) as batch_op:
        batch_op.drop_column("labelled")
