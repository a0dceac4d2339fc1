"""invoice records (R16, issue 13 section 3): one per reported delivery, its lines, its VAT
per rate, and the gapless number series

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-07 02:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"  # relinked: 0008 → 0012 → 0009 → 0010 → 0011
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "invoice_series",
        sa.Column("series", sa.String(length=8), nullable=False),
        sa.Column("next_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("series", name=op.f("pk_invoice_series")),
    )
    op.create_table(
        "invoice_records",
        sa.Column("id", _id, nullable=False),
        sa.Column("series", sa.String(length=8), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("station", sa.String(length=64), server_default="", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_method", sa.String(length=20), nullable=False),
        sa.Column("settlement_account", sa.String(length=4), nullable=False),
        sa.Column("customer_name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("country", sa.String(length=2), server_default="", nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("vat_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_records")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_invoice_records_delivery_id")),
        sa.UniqueConstraint("series", "number", name="uq_invoice_records_number"),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("record_id", _id, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.BigInteger(), nullable=True),
        sa.Column("sku", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("vat_percent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["invoice_records.id"],
            name=op.f("fk_invoice_lines_record_id_invoice_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "position", name=op.f("pk_invoice_lines")),
    )
    op.create_table(
        "invoice_vat",
        sa.Column("record_id", _id, nullable=False),
        sa.Column("vat_percent", sa.Integer(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("vat_minor", sa.BigInteger(), nullable=False),
        sa.Column("sales_account", sa.String(length=4), nullable=False),
        sa.Column("vat_account", sa.String(length=4), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["invoice_records.id"],
            name=op.f("fk_invoice_vat_record_id_invoice_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "vat_percent", name=op.f("pk_invoice_vat")),
    )
    # The SIE export reads a date range.
    op.create_index("ix_invoice_records_issued_on", "invoice_records", ["issued_on"])


def downgrade() -> None:
    op.drop_index("ix_invoice_records_issued_on", table_name="invoice_records")
    op.drop_table("invoice_vat")
    op.drop_table("invoice_lines")
    op.drop_table("invoice_records")
    op.drop_table("invoice_series")
