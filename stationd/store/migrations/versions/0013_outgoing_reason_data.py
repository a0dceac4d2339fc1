"""outgoing reasons as sentences: `outgoing.last_error_data` and `outgoing_attempts.reason_data`
keep a failed try's reason as its template and facts (core.text.text_data) beside its English,
so the Tools page says it in the admin's language

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


def upgrade() -> None:
    # Nullable, no default: a plain ALTER TABLE … ADD COLUMN on both engines, no rewrite. Rows
    # from before keep only their English (shown as it is).
    op.add_column("outgoing", sa.Column("last_error_data", sa.Text(), nullable=True))
    op.add_column("outgoing_attempts", sa.Column("reason_data", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outgoing_attempts", schema=None) as batch_op:
        batch_op.drop_column("reason_data")
    with op.batch_alter_table("outgoing", schema=None) as batch_op:
        batch_op.drop_column("last_error_data")
