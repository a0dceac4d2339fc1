"""central's conflict tasks as sentences: `sync_tasks.text_data` keeps the task's template and
facts (core.text.text_data) beside its English, so Tools → Sync says it in the admin's language

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: a plain ALTER TABLE … ADD COLUMN on both engines, no rewrite. Tasks
    # from before keep only their English (shown as it is).
    op.add_column("sync_tasks", sa.Column("text_data", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_tasks", schema=None) as batch_op:
        batch_op.drop_column("text_data")
