"""The invoice records (R16): written in the transaction that reports the delivery, numbered
without a gap per series, read back for the SIE export and the accounting adapter."""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Insert, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stationd.core.invoices import InvoiceLine, InvoiceRecord, VatSum
from stationd.core.orders import PaymentMethod
from stationd.store.invoice_tables import (
    invoice_lines,
    invoice_records,
    invoice_series,
    invoice_vat,
)


def next_invoice_number(conn: Connection, series: str) -> int:
    """Take the next number of `series` (1 for a new one), in the caller's transaction.

    The series' row stays locked until that transaction ends (PostgreSQL: the upsert's row
    lock; SQLite: the write lock), so two report-ins never take the same number, and a
    transaction that rolls back gives its number back: no gap.
    """
    taken = conn.execute(_statements(conn.dialect.name).take, {"series_": series}).scalar_one()
    return int(taken) - 1


@dataclass(frozen=True)
class _Statements:
    take: Insert
    record: Insert
    lines: Insert
    vat: Insert


@functools.cache
def _statements(dialect: str) -> _Statements:
    # Built once with bound parameters: every report-in writes a record, and building the
    # statements cost SQLAlchemy more CPU than running them (see print_queue._statements).
    upsert = sqlite_insert if dialect == "sqlite" else pg_insert
    # One statement takes the number: a new series starts at 1 (its row then says 2 is next).
    new = upsert(invoice_series).values(series=bindparam("series_"), next_number=2)
    take = new.on_conflict_do_update(
        index_elements=[invoice_series.c.series],
        set_={"next_number": invoice_series.c.next_number + 1},
    ).returning(invoice_series.c.next_number)
    return _Statements(
        take=take,
        record=insert(invoice_records).returning(invoice_records.c.id),
        lines=insert(invoice_lines),
        vat=insert(invoice_vat),
    )


def write_invoice_record(
    conn: Connection, record: InvoiceRecord, *, station: str, at: datetime
) -> InvoiceRecord:
    """Number `record` in its series and write it with its lines and VAT; the numbered one."""
    numbered = dataclasses.replace(record, number=next_invoice_number(conn, record.series))
    statements = _statements(conn.dialect.name)
    record_id = conn.execute(
        statements.record,
        {
            "series": numbered.series,
            "number": numbered.number,
            "order_id": numbered.order_id,
            "delivery_id": numbered.delivery_id,
            "issued_on": numbered.issued_on,
            "created_at": at,
            "station": station,
            "currency": numbered.currency,
            "payment_method": str(numbered.payment_method),
            "settlement_account": numbered.settlement_account,
            "customer_name": numbered.customer_name,
            "country": numbered.country,
            "total_minor": numbered.total_minor,
            "vat_minor": numbered.vat_minor,
        },
    ).scalar_one()
    if numbered.lines:
        conn.execute(
            statements.lines,
            [
                {
                    "record_id": record_id,
                    "position": i,
                    "order_line_id": line.order_line_id,
                    "sku": line.sku,
                    "name": line.name,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price_minor,
                    "vat_percent": line.vat_percent,
                }
                for i, line in enumerate(numbered.lines)
            ],
        )
    if numbered.vat:
        conn.execute(
            statements.vat,
            [
                {
                    "record_id": record_id,
                    "vat_percent": vat.vat_percent,
                    "gross_minor": vat.gross_minor,
                    "vat_minor": vat.vat_minor,
                    "sales_account": vat.sales_account,
                    "vat_account": vat.vat_account,
                }
                for vat in numbered.vat
            ],
        )
    return numbered


def invoice_records_between(conn: Connection, first: date, last: date) -> list[InvoiceRecord]:
    """The records issued from `first` to `last` (both included), by series and number."""
    query = (
        select(invoice_records)
        .where(invoice_records.c.issued_on >= first, invoice_records.c.issued_on <= last)
        .order_by(invoice_records.c.series, invoice_records.c.number)
    )
    return _records(conn, list(conn.execute(query).mappings()))


def invoice_record_of_delivery(conn: Connection, delivery_id: int) -> InvoiceRecord | None:
    """The record of a reported delivery, if it has one."""
    query = select(invoice_records).where(invoice_records.c.delivery_id == delivery_id)
    found = _records(conn, list(conn.execute(query).mappings()))
    return found[0] if found else None


def invoice_reference(conn: Connection, delivery_id: int) -> str | None:
    """The name ("A-17") of a reported delivery's record, if it has one."""
    row = conn.execute(
        select(invoice_records.c.series, invoice_records.c.number).where(
            invoice_records.c.delivery_id == delivery_id
        )
    ).first()
    return None if row is None else f"{row.series}-{row.number}"


def _records(conn: Connection, rows: list) -> list[InvoiceRecord]:  # type: ignore[type-arg]
    ids = [row["id"] for row in rows]
    lines: dict[int, list[InvoiceLine]] = defaultdict(list)
    vats: dict[int, list[VatSum]] = defaultdict(list)
    # Read per chunk: a year's export may hold more ids than one IN list takes.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in conn.execute(
            select(invoice_lines)
            .where(invoice_lines.c.record_id.in_(chunk))
            .order_by(invoice_lines.c.record_id, invoice_lines.c.position)
        ).mappings():
            lines[row["record_id"]].append(
                InvoiceLine(
                    row["order_line_id"],
                    row["sku"],
                    row["name"],
                    row["quantity"],
                    row["unit_price_minor"],
                    row["vat_percent"],
                )
            )
        for row in conn.execute(
            select(invoice_vat)
            .where(invoice_vat.c.record_id.in_(chunk))
            .order_by(invoice_vat.c.record_id, invoice_vat.c.vat_percent.desc())
        ).mappings():
            vats[row["record_id"]].append(
                VatSum(
                    row["vat_percent"],
                    row["gross_minor"],
                    row["vat_minor"],
                    row["sales_account"],
                    row["vat_account"],
                )
            )
    return [
        InvoiceRecord(
            order_id=row["order_id"],
            delivery_id=row["delivery_id"],
            series=row["series"],
            number=row["number"],
            issued_on=row["issued_on"],
            currency=row["currency"],
            payment_method=PaymentMethod(row["payment_method"]),
            settlement_account=row["settlement_account"],
            customer_name=row["customer_name"],
            country=row["country"],
            lines=tuple(lines[row["id"]]),
            vat=tuple(vats[row["id"]]),
        )
        for row in rows
    ]
