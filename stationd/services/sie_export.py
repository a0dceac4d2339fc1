"""`stationd export sie`: the invoice records of a date range as an SIE 4I file (R16).

One file is in one currency (#VALUTA, the shop's books): records in another currency are
left out and named, so the person exporting sees what must be booked by hand — they stay in
the station's records either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import stationd
from stationd.core.sie import SieCompany, sie_file
from stationd.store.database import Store
from stationd.store.invoices import invoice_records_between


@dataclass(frozen=True)
class SieExport:
    """The file's bytes, how many vouchers it holds, and the records left out by currency
    (reference, currency)."""

    data: bytes
    vouchers: int
    left_out: tuple[tuple[str, str], ...]


def export_sie(
    store: Store,
    first: date,
    last: date,
    *,
    company_name: str,
    currency: str,
    org_number: str = "",
    today: date,
) -> SieExport:
    """The SIE 4I file of the records issued from `first` to `last` (both included)."""
    if last < first:
        raise ValueError(f"--to {last.isoformat()} is before --from {first.isoformat()}")
    with store.read() as conn:
        records = invoice_records_between(conn, first, last)
    kept = [r for r in records if r.currency == currency]
    left_out = tuple((r.reference, r.currency) for r in records if r.currency != currency)
    company = SieCompany(
        company_name, currency, org_number, program="stationd", version=stationd.__version__
    )
    return SieExport(sie_file(kept, company, generated_on=today), len(kept), left_out)
