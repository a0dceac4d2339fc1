"""SIE 4 (type 4I) files of invoice records: the Swedish standard an accounting program reads
vouchers from (SIE-gruppen, "SIE filformat utgåva 4B", 2008-09-30).

Type 4I holds vouchers only — what a pre-system such as an invoicing program hands to the
bookkeeping — so the file is: the flag record (#FLAGGA), the identification records (#PROGRAM,
#FORMAT PC8, #GEN, #SIETYP 4, #FNAMN, #ORGNR when known, #VALUTA), the chart records (#KONTO
for every account a voucher uses) and the vouchers (#VER, then its #TRANS rows between "{" and
"}", balanced to zero). PC8 is IBM code page 437. Amounts have a decimal point and two
decimals, dates are YYYYMMDD. A text field is always quoted; a quote inside is written \\" as
the specification says. Pure: records in, bytes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from stationd.core.invoices import InvoiceRecord, postings

#: The file's encoding: #FORMAT PC8 is IBM PC 8-bit extended ASCII, code page 437.
ENCODING = "cp437"

#: Names of the accounts the built-in books use (BAS); any other is named by its number.
ACCOUNT_NAMES: Mapping[str, str] = {
    "1570": "Avräkning betalningsförmedlare",
    "1580": "Fordringar för kontokort och kuponger",
    "2611": "Utgående moms på försäljning inom Sverige, 25 %",
    "2621": "Utgående moms på försäljning inom Sverige, 12 %",
    "2631": "Utgående moms på försäljning inom Sverige, 6 %",
    "3001": "Försäljning inom Sverige, 25 % moms",
    "3002": "Försäljning inom Sverige, 12 % moms",
    "3003": "Försäljning inom Sverige, 6 % moms",
    "3004": "Försäljning inom Sverige, momsfri",
}


@dataclass(frozen=True, slots=True)
class SieCompany:
    """Who the file is for (#FNAMN, #ORGNR), in which currency (#VALUTA), and who wrote it."""

    name: str
    currency: str
    org_number: str = ""
    program: str = "stationd"
    version: str = "0"


def quoted(text: str) -> str:
    """A text field: quoted, a quote inside escaped as \\", control characters (not allowed
    in a SIE file) as spaces. A backslash becomes "/": left as it is, one before the closing
    quote would escape it."""
    clean = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)
    return '"' + clean.replace("\\", "/").replace('"', '\\"') + '"'


def amount(minor: int) -> str:
    """Öre as SIE writes an amount: 12345 → "123.45", -5 → "-0.05"."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def sie_date(day: date) -> str:
    """YYYYMMDD."""
    return day.strftime("%Y%m%d")


def voucher_text(record: InvoiceRecord) -> str:
    """What a voucher says of its record: the invoice, the order and the delivery."""
    return f"Faktura {record.reference} order {record.order_id} leverans {record.delivery_id}"


def sie_lines(
    records: Sequence[InvoiceRecord],
    company: SieCompany,
    *,
    generated_on: date,
    names: Mapping[str, str] = ACCOUNT_NAMES,
) -> list[str]:
    """The file's records, one a line, for `records` (all in `company.currency`)."""
    strays = sorted({r.currency for r in records if r.currency != company.currency})
    if strays:
        raise ValueError(f"records in {', '.join(strays)} in a file in {company.currency}")
    out = [
        "#FLAGGA 0",
        f"#PROGRAM {quoted(company.program)} {quoted(company.version)}",
        "#FORMAT PC8",
        f"#GEN {sie_date(generated_on)}",
        "#SIETYP 4",
        f"#FNAMN {quoted(company.name)}",
    ]
    if company.org_number:
        out.append(f"#ORGNR {quoted(company.org_number)}")
    out.append(f"#VALUTA {company.currency}")
    vouchers = [(record, postings(record)) for record in records]
    for account in sorted({p.account for _, rows in vouchers for p in rows}):
        out.append(f"#KONTO {account} {quoted(names.get(account, f'Konto {account}'))}")
    for record, rows in vouchers:
        day = sie_date(record.issued_on)
        out.append(
            f"#VER {quoted(record.series)} {record.number} {day} {quoted(voucher_text(record))}"
        )
        out.append("{")
        out.extend(f"   #TRANS {p.account} {{}} {amount(p.amount_minor)}" for p in rows)
        out.append("}")
    return out


def sie_file(
    records: Iterable[InvoiceRecord],
    company: SieCompany,
    *,
    generated_on: date,
    names: Mapping[str, str] = ACCOUNT_NAMES,
) -> bytes:
    """The SIE 4I file of `records`, encoded PC8 (CP437), lines ending CR LF. A character
    CP437 lacks is written "?" (the name it was in stays in the station's own record)."""
    lines = sie_lines(list(records), company, generated_on=generated_on, names=names)
    return ("\r\n".join(lines) + "\r\n").encode(ENCODING, errors="replace")
