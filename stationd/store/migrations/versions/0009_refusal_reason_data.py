"""refusal reasons as sentences: central's `sync_ops.reason_data` and a station's
`events.outcome_reason_data` keep the reason's template and facts (core.text.text_data) beside
its English, so the bench says it in the packer's language

Revision ID: 0009
Revises: 0012 (relinked at the merge of integ; written after 0008)
Create Date: 2026-12-07 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: a plain ALTER TABLE … ADD COLUMN on both engines, no rewrite. Rows
    # from before keep only their English (shown as it is).
    op.add_column("sync_ops", sa.Column("reason_data", sa.Text(), nullable=True))
    op.add_column("events", sa.Column("outcome_reason_data", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("outcome_reason_data")
    with op.batch_alter_table("sync_ops", schema=None) as batch_op:
        batch_op.drop_column("reason_data")
