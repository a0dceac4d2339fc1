"""claims' epochs (docs/sync.md, R17): a sequence on central that only grows, so no two claims
ever share an epoch — not even a claim made after its order's claim row was released

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 00:00:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Claims are made on central only (PostgreSQL); a station's SQLite copy just keeps the epochs
# central gave it, so there it creates nothing.


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE IF NOT EXISTS order_claim_epochs AS bigint NO CYCLE")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS order_claim_epochs")
