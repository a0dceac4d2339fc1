"""The tables of the invoice records (R16, migration 0011): one record per reported delivery,
its lines, its VAT per rate, and the gapless number series.

No foreign key to `orders` or `deliveries`: a record is a bookkeeping document and outlives
the order it came from (an order deleted later must not take its invoice along).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from stationd.core.invoices import SERIES_MAX_LENGTH
from stationd.store.tables import TS, BigId, metadata

#: The next number of each series: taken and raised in the transaction that writes the
#: record, so a number is used exactly when its record exists (no gap, none twice).
invoice_series = Table(
    "invoice_series",
    metadata,
    Column("series", String(SERIES_MAX_LENGTH), primary_key=True),
    Column("next_number", BigInteger, nullable=False),
)

invoice_records = Table(
    "invoice_records",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("series", String(SERIES_MAX_LENGTH), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("delivery_id", BigInteger, nullable=False, unique=True),
    Column("issued_on", Date, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("station", String(64), nullable=False, server_default=""),
    Column("currency", String(3), nullable=False),
    Column("payment_method", String(20), nullable=False),
    Column("settlement_account", String(4), nullable=False),
    Column("customer_name", String(200), nullable=False, server_default=""),
    Column("country", String(2), nullable=False, server_default=""),
    Column("total_minor", BigInteger, nullable=False),
    Column("vat_minor", BigInteger, nullable=False),
    UniqueConstraint("series", "number", name="uq_invoice_records_number"),
)
# The SIE export reads a date range.
Index("ix_invoice_records_issued_on", invoice_records.c.issued_on)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column(
        "record_id",
        BigId,
        ForeignKey("invoice_records.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("order_line_id", BigInteger),
    Column("sku", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("vat_percent", Integer, nullable=False),
)

invoice_vat = Table(
    "invoice_vat",
    metadata,
    Column(
        "record_id",
        BigId,
        ForeignKey("invoice_records.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("vat_percent", Integer, primary_key=True),
    Column("gross_minor", BigInteger, nullable=False),
    Column("vat_minor", BigInteger, nullable=False),
    Column("sales_account", String(4), nullable=False),
    Column("vat_account", String(4), nullable=False, server_default=""),
)
