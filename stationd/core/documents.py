"""The documents the outbound queue prints (SPEC R9, R11): pick list, receipt, both, invoice.

Each document is built from core objects into a frozen dataclass that keeps its facts (lines,
quantities, amounts, dates) and can say how it reads on paper: `sections()` returns sections of
plain text blocks — heading, paragraph, label/value fields, a table, totals, a barcode, a rule.
Dates are written as the document's language writes them; the captions are translatable
sentences (`core.text.Text`) that the paper says in that language (`stationd.services.paper`,
with the kiosk's catalogs). Any renderer (ESC/POS bytes, an SVG preview) lays those blocks out;
none of them needs to know what a pick list is.

Assumptions, stated once:
- Prices include VAT at one rate for the whole order, 25 % by default (the standard rate in
  Sweden and Norway); the VAT shown is the part of the total, rounded half up to the öre/øre.
- Dates are printed in the station's time zone when one is given (`tz`), else as stored.
- An invoice's number is the order id; its date is the day it is issued (printed first), never
  the day the order was placed, and it falls due `due_days` after that (30 by default: the
  Swedish Räntelagen §3 and the Norwegian forsinkelsesrenteloven both count 30 days from the
  day the creditor sent the invoice).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Literal, Protocol

from stationd.core.barcodes import ean_text, order_barcode
from stationd.core.locales import customer_language, date_text
from stationd.core.money import format_amount, format_money
from stationd.core.orders import Document, Order, PaymentMethod
from stationd.core.text import Text, sentence, sentence_in

__all__ = [
    "PAPER_LANGUAGES",
    "PAYMENT_METHODS",
    "Address",
    "Barcode",
    "Block",
    "Column",
    "Fields",
    "Heading",
    "Invoice",
    "InvoiceLine",
    "Paragraph",
    "PickLine",
    "PickList",
    "PickListReceipt",
    "PrintDocument",
    "Receipt",
    "Rule",
    "Section",
    "Shop",
    "Table",
    "Totals",
    "build_document",
    "build_invoice",
    "build_picklist",
    "build_picklist_receipt",
    "build_receipt",
    "location_key",
    "normalize_language",
    "vat_part",
]

NBSP = "\u00a0"

# --- captions --------------------------------------------------------------------------------
# The words a document prints beside its facts, as core's translatable sentences: the paper
# says them in its language with the kiosk's catalogs (`stationd.services.paper`).

PICK_LIST = sentence("Pick list")
RECEIPT = sentence("Receipt")
INVOICE = sentence("Invoice")
ORDER = sentence("Order")
DATE = sentence("Date")
CUSTOMER = sentence("Customer")
COMMENT = sentence("Comment:")
# The kiosk's "Payment" and "Items" (a column) read otherwise than the paper's in sv and nb.
PAYMENT = sentence_in("paper", "Payment")
ITEM_COUNT = sentence_in("paper", "Items")
LOCATION = sentence("Location")
QUANTITY = sentence("Qty")
ITEM = sentence("Item")
PRICE = sentence("Price")
AMOUNT = sentence("Amount")
TOTAL = sentence("Total")
INVOICE_NUMBER = sentence("Invoice number")
INVOICE_DATE = sentence("Invoice date")
DUE_DATE = sentence("Due date")
BILL_TO = sentence("Bill to:")
AMOUNT_DUE = sentence("Amount due")
PAY_TO = sentence("Pay to:")
THANKS = sentence("Thank you for your order!")
#: Where a pick line has no stock location.
NO_LOCATION = "-"

PAYMENT_METHODS: Mapping[PaymentMethod, Text] = MappingProxyType(
    {
        PaymentMethod.CARD: sentence("Card"),
        PaymentMethod.INVOICE: sentence("Invoice"),
        PaymentMethod.OWN_INVOICE: sentence("Invoice (own)"),
        PaymentMethod.SWISH: sentence("Swish"),
        PaymentMethod.VIPPS: sentence("Vipps"),
        PaymentMethod.BANK: sentence("Bank transfer"),
    }
)
"""How a receipt names the way the order was paid."""


def vat_caption(rate_percent: int) -> Text:
    """ "incl. VAT 25 %": the VAT row of the totals."""
    return sentence("incl. VAT {rate}\u00a0%", rate=rate_percent)  # a no-break space


#: The languages paper is printed in; any other falls back to English (SPEC: the packer works
#: in Swedish or Norwegian).
PAPER_LANGUAGES = ("sv", "nb", "en")

_LANGUAGE_ALIASES = {"nn": "nb", "nob": "nb", "swe": "sv", "eng": "en"}


def normalize_language(language: str) -> str:
    """'sv', 'sv-SE', 'nb_NO', 'nn' … → 'sv' / 'nb' / 'en'; anything else → 'en' (SPEC: the
    packer works in Swedish or Norwegian, English as fallback)."""
    base = re.split(r"[-_.]", language.strip().lower(), maxsplit=1)[0]
    base = _LANGUAGE_ALIASES.get(base, base)
    return base if base in PAPER_LANGUAGES else "en"


def _date_text(day: date, language: str) -> str:
    return date_text(day, language)


def _local_date(at: datetime, tz: tzinfo | None) -> date:
    return (at.astimezone(tz) if tz is not None and at.tzinfo is not None else at).date()


def _customer_paper(order: Order, language: str | None, currency: str | None) -> tuple[str, str]:
    """The language and currency of paper that goes to the customer (issue 12): as given,
    else the language of the country the order ships to and the order's own currency."""
    return normalize_language(language or customer_language(order.country)), (
        currency or order.currency
    )


def vat_part(total_minor: int, rate_percent: int) -> int:
    """The VAT contained in a VAT-inclusive total, in minor units, rounded half up."""
    if rate_percent <= 0:
        return 0
    sign = -1 if total_minor < 0 else 1
    num, den = abs(total_minor) * rate_percent, 100 + rate_percent
    return sign * ((2 * num + den) // (2 * den))


# --- text blocks -----------------------------------------------------------------------------

Align = Literal["left", "center", "right"]


@dataclass(frozen=True, slots=True)
class Heading:
    """The document's title: large and centred."""

    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    """Lines of running text; a renderer wraps each line to its width."""

    lines: tuple[str, ...]
    align: Align = "left"
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Fields:
    """Label/value pairs ("Order: 1042"), labels lined up in one column."""

    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Column:
    """A table column. The one `flex` column takes the width the others leave, and wraps."""

    header: str
    align: Align = "left"
    flex: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Totals:
    """Label/amount rows set to the right; `strong` rows stand out (the amount to pay)."""

    rows: tuple[tuple[str, str], ...]
    strong: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Barcode:
    """A barcode carrying `data`; its human-readable text is `data` too."""

    data: str
    symbology: Literal["CODE128"] = "CODE128"


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal line across the paper."""


Block = Heading | Paragraph | Fields | Table | Totals | Barcode | Rule


@dataclass(frozen=True, slots=True)
class Section:
    """One piece of paper: a renderer cuts after each section. `kind` is None on a paper that
    is no order's document (a printer's test page)."""

    kind: Document | None
    blocks: tuple[Block, ...]


class PrintDocument(Protocol):
    """What renderers take: every document below is one."""

    @property
    def kind(self) -> Document: ...

    @property
    def order_id(self) -> int: ...

    @property
    def language(self) -> str: ...

    def sections(self) -> tuple[Section, ...]: ...


# --- the shop and the customer ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shop:
    """Who prints: the shop's name and address as they head receipts and invoices."""

    name: str
    address: tuple[str, ...] = ()
    org_number: str = ""
    vat_number: str = ""
    contact: tuple[str, ...] = ()  # phone, e-mail, web
    payment_details: tuple[str, ...] = ()  # on invoices, e.g. "Bankgiro 5050-1055"

    def header_lines(self) -> tuple[str, ...]:
        lines: list[str] = [*self.address, *self.contact]
        if self.org_number:
            lines.append(sentence("Reg. no. {number}", number=self.org_number))
        if self.vat_number:
            lines.append(sentence("VAT no. {number}", number=self.vat_number))
        return tuple(lines)


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address (the store keeps it on the order row; core's Order does not)."""

    name: str
    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""  # left empty for a domestic address

    def lines(self) -> tuple[str, ...]:
        town = f"{self.postcode} {self.city}".strip()
        return tuple(part for part in (self.name, self.street, town, self.country) if part)


# --- pick list (R11) -------------------------------------------------------------------------

_DIGIT_RUNS = re.compile(r"(\d+)")


def location_key(location: str) -> tuple[tuple[object, ...], str]:
    """Sort key for shelf locations, natural order: "A-02-1" < "A-2-2" < "A-10-1" < "B-1".

    Digit runs compare as numbers, the rest case-insensitively; a line with no location sorts
    after every located one, so the picker finds it at the end of the walk.
    """
    text = location.strip()
    if not text:
        return ((1,), "")
    parts = _DIGIT_RUNS.split(text.casefold())
    # split() alternates text, digits, text, …: same position, same type, so tuples compare.
    key = tuple(int(part) if i % 2 else part for i, part in enumerate(parts))
    return ((0, *key), text)


@dataclass(frozen=True, slots=True)
class PickLine:
    location: str
    sku: str
    name: str
    quantity: int  # still to pick
    ean: str = ""  # the EAN printed on the item (core.barcodes.ean_text), "" if it has none


@dataclass(frozen=True, slots=True)
class PickList:
    """R11: the lines in shelf order with the quantities still to pick, and the order's barcode."""

    order_id: int
    barcode: str
    placed: date
    customer: str
    comment: str
    lines: tuple[PickLine, ...]
    language: str = "sv"
    item_barcodes: bool = False  # each line's EAN also as a barcode (`[shop] picklist_barcodes`)
    kind: Document = field(default=Document.PICKLIST, init=False)

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    def sections(self) -> tuple[Section, ...]:
        fields = [
            (ORDER, str(self.order_id)),
            (DATE, _date_text(self.placed, self.language)),
            (CUSTOMER, self.customer),
        ]
        blocks: list[Block] = [Heading(PICK_LIST), Barcode(self.barcode), Fields(tuple(fields))]
        if self.comment.strip():
            blocks += [Paragraph((COMMENT, *self.comment.strip().splitlines()), bold=True)]
        blocks += [
            Table(
                (
                    Column(LOCATION),
                    Column(QUANTITY, align="right"),
                    Column(ITEM, flex=True),
                ),
                tuple(
                    (
                        line.location or NO_LOCATION,
                        str(line.quantity),
                        " ".join(
                            part
                            for part in (line.sku, line.name, line.ean and f"EAN {line.ean}")
                            if part
                        ),
                    )
                    for line in self.lines
                ),
            ),
            Rule(),
            Totals(((ITEM_COUNT, str(self.item_count)),)),
        ]
        if self.item_barcodes:
            # Issue 12, item 11: where the shop wants it, each item's EAN to scan from paper.
            for line in self.lines:
                if line.ean:
                    blocks += [Paragraph((f"{line.sku} {line.name}".strip(),)), Barcode(line.ean)]
        return (Section(self.kind, tuple(blocks)),)


def build_picklist(
    order: Order,
    locations: Mapping[str, str],
    *,
    language: str = "sv",
    tz: tzinfo | None = None,
    item_barcodes: bool = False,
) -> PickList:
    """R11: a pick list of what is still to pick of `order`, in shelf order.

    `locations` maps SKU → stock location (locations live on products); a SKU missing there
    falls back to the line's own `location`. Lines with nothing left to pick are left out.
    Each line shows its EAN; with `item_barcodes`, each EAN is also printed as a barcode.
    """
    language = normalize_language(language)
    picks = [
        PickLine(
            location=(locations.get(line.sku) or line.location or "").strip(),
            sku=line.sku,
            name=line.name,
            quantity=line.left_to_pack,
            ean=ean_text(line.gtin),
        )
        for line in order.lines
        if line.left_to_pack > 0
    ]
    picks.sort(key=lambda p: (location_key(p.location), p.sku))
    return PickList(
        order_id=order.id,
        barcode=order_barcode(order.id),
        placed=_local_date(order.placed_at, tz),
        customer=order.customer_name,
        comment=order.comment,
        lines=tuple(picks),
        language=language,
        item_barcodes=item_barcodes,
    )


# --- receipt and invoice ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """A priced line of a receipt or an invoice (money in minor units, VAT included)."""

    sku: str
    name: str
    quantity: int
    unit_price_minor: int

    @property
    def total_minor(self) -> int:
        return self.quantity * self.unit_price_minor


def _priced_lines(order: Order) -> tuple[InvoiceLine, ...]:
    return tuple(
        InvoiceLine(line.sku, line.name, line.quantity, line.unit_price_minor)
        for line in order.lines
    )


def _line_table(lines: tuple[InvoiceLine, ...], language: str) -> Table:
    return Table(
        (
            Column(ITEM, flex=True),
            Column(QUANTITY, align="right"),
            Column(PRICE, align="right"),
            Column(AMOUNT, align="right"),
        ),
        tuple(
            (
                line.name,
                str(line.quantity),
                format_amount(line.unit_price_minor, language),
                format_amount(line.total_minor, language),
            )
            for line in lines
        ),
    )


def _totals(
    total_minor: int, vat_percent: int, currency: str, language: str
) -> list[tuple[str, str]]:
    rows = [(TOTAL, format_money(total_minor, currency, language))]
    if vat_percent > 0:
        vat = format_money(vat_part(total_minor, vat_percent), currency, language)
        rows.append((vat_caption(vat_percent), vat))
    return rows


class _Priced:
    """The sums a receipt and an invoice both print: the total and the VAT in it."""

    __slots__ = ()
    lines: tuple[InvoiceLine, ...]
    vat_percent: int

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def vat_minor(self) -> int:
        return vat_part(self.total_minor, self.vat_percent)


@dataclass(frozen=True, slots=True)
class Receipt(_Priced):
    """What the customer paid for: lines, quantities, unit prices, line totals, total, VAT."""

    order_id: int
    placed: date
    customer: str
    payment_method: PaymentMethod
    currency: str
    lines: tuple[InvoiceLine, ...]
    vat_percent: int
    shop: Shop
    language: str = "sv"
    kind: Document = field(default=Document.RECEIPT, init=False)

    def sections(self) -> tuple[Section, ...]:
        totals = _totals(self.total_minor, self.vat_percent, self.currency, self.language)
        blocks: tuple[Block, ...] = (
            Paragraph((self.shop.name,), align="center", bold=True),
            Paragraph(self.shop.header_lines(), align="center"),
            Heading(RECEIPT),
            Fields(
                (
                    (ORDER, str(self.order_id)),
                    (DATE, _date_text(self.placed, self.language)),
                    (CUSTOMER, self.customer),
                    (PAYMENT, PAYMENT_METHODS[self.payment_method]),
                )
            ),
            _line_table(self.lines, self.language),
            Rule(),
            Totals(tuple(totals), strong=frozenset({0})),
            Paragraph((THANKS,), align="center"),
        )
        return (Section(self.kind, blocks),)


def build_receipt(
    order: Order,
    *,
    shop: Shop,
    language: str | None = None,
    currency: str | None = None,
    vat_percent: int = 25,
    tz: tzinfo | None = None,
) -> Receipt:
    """R9: the receipt of `order` (all its lines, prices including VAT at `vat_percent`), in
    the customer's language and the order's currency unless `language`/`currency` say."""
    language, currency = _customer_paper(order, language, currency)
    return Receipt(
        order_id=order.id,
        placed=_local_date(order.placed_at, tz),
        customer=order.customer_name,
        payment_method=order.payment_method,
        currency=currency,
        lines=_priced_lines(order),
        vat_percent=vat_percent,
        shop=shop,
        language=language,
    )


@dataclass(frozen=True, slots=True)
class PickListReceipt:
    """R9: pick list and receipt in one print job, each on its own piece of paper."""

    picklist: PickList
    receipt: Receipt
    kind: Document = field(default=Document.PICKLIST_RECEIPT, init=False)

    @property
    def order_id(self) -> int:
        return self.picklist.order_id

    @property
    def language(self) -> str:
        return self.picklist.language

    def sections(self) -> tuple[Section, ...]:
        return self.picklist.sections() + self.receipt.sections()


def build_picklist_receipt(
    order: Order,
    locations: Mapping[str, str],
    *,
    shop: Shop,
    language: str = "sv",
    currency: str | None = None,
    vat_percent: int = 25,
    tz: tzinfo | None = None,
    receipt_language: str | None = None,
    item_barcodes: bool = False,
) -> PickListReceipt:
    """R9: the combined pick list + receipt of `order`: the pick list in the station's
    `language`, the receipt in the customer's (`receipt_language`, else `build_receipt`'s)."""
    return PickListReceipt(
        build_picklist(order, locations, language=language, tz=tz, item_barcodes=item_barcodes),
        build_receipt(
            order,
            shop=shop,
            language=receipt_language,
            currency=currency,
            vat_percent=vat_percent,
            tz=tz,
        ),
    )


@dataclass(frozen=True, slots=True)
class Invoice(_Priced):
    """R9: the shop's own invoice for an order paid by "own invoice"; number = order id."""

    number: str
    order_id: int
    issued: date
    due: date
    customer: Address
    currency: str
    lines: tuple[InvoiceLine, ...]
    vat_percent: int
    shop: Shop
    language: str = "sv"
    kind: Document = field(default=Document.INVOICE, init=False)

    def sections(self) -> tuple[Section, ...]:
        lang = self.language
        totals = _totals(self.total_minor, self.vat_percent, self.currency, lang)
        totals.append((AMOUNT_DUE, format_money(self.total_minor, self.currency, lang)))
        blocks: list[Block] = [
            Paragraph((self.shop.name,), align="center", bold=True),
            Paragraph(self.shop.header_lines(), align="center"),
            Heading(INVOICE),
            Fields(
                (
                    (INVOICE_NUMBER, self.number),
                    (INVOICE_DATE, _date_text(self.issued, lang)),
                    (DUE_DATE, _date_text(self.due, lang)),
                    (ORDER, str(self.order_id)),
                )
            ),
            Paragraph((BILL_TO,), bold=True),
            Paragraph(self.customer.lines()),
            _line_table(self.lines, self.language),
            Rule(),
            Totals(tuple(totals), strong=frozenset({len(totals) - 1})),
        ]
        if self.shop.payment_details:
            blocks.append(Paragraph((PAY_TO, *self.shop.payment_details)))
        blocks.append(
            Paragraph((sentence("Quote invoice number {number} when paying.", number=self.number),))
        )
        return (Section(self.kind, tuple(blocks)),)


def build_invoice(
    order: Order,
    *,
    shop: Shop,
    customer: Address,
    language: str | None = None,
    currency: str | None = None,
    vat_percent: int = 25,
    due_days: int = 30,
    issued: date,
) -> Invoice:
    """R9: the invoice of `order`, dated `issued` — the day it is issued, in the station's
    time zone — and due `due_days` after that (Räntelagen §3 counts from the invoice, not
    from the order). Whether it may print (own invoice, one order) is
    `orders.check_print_request`'s decision, made before this is called. It speaks the
    customer's language, in the order's currency, unless `language`/`currency` say."""
    language, currency = _customer_paper(order, language, currency)
    if isinstance(due_days, bool) or not isinstance(due_days, int) or due_days < 0:
        raise ValueError(f"due_days is a whole number of days ≥ 0, not {due_days!r}")
    day = issued
    return Invoice(
        number=str(order.id),
        order_id=order.id,
        issued=day,
        due=day + timedelta(days=due_days),
        customer=customer,
        currency=currency,
        lines=_priced_lines(order),
        vat_percent=vat_percent,
        shop=shop,
        language=language,
    )


def build_document(
    kind: Document,
    order: Order,
    *,
    shop: Shop,
    locations: Mapping[str, str] | None = None,
    customer: Address | None = None,
    language: str = "sv",
    currency: str | None = None,
    vat_percent: int = 25,
    due_days: int = 30,
    tz: tzinfo | None = None,
    issued: date | None = None,
    item_barcodes: bool = False,
) -> PickList | Receipt | PickListReceipt | Invoice:
    """Build the document the outbound queue asked for (R9), by its `Document` kind.

    The pick list is the packer's, in the station's `language`; the receipt and the invoice
    are the customer's, in the customer's language and the order's currency (`currency`
    overrides it). `issued` is the day an invoice is issued; an invoice needs it.
    """
    locations = locations or {}
    match Document(kind):
        case Document.PICKLIST:
            return build_picklist(
                order, locations, language=language, tz=tz, item_barcodes=item_barcodes
            )
        case Document.RECEIPT:
            return build_receipt(
                order, shop=shop, currency=currency, vat_percent=vat_percent, tz=tz
            )
        case Document.PICKLIST_RECEIPT:
            return build_picklist_receipt(
                order, locations, shop=shop, language=language, currency=currency,
                vat_percent=vat_percent, tz=tz, item_barcodes=item_barcodes,
            )  # fmt: skip
        case Document.INVOICE:
            if issued is None:
                raise ValueError("an invoice is dated the day it is issued: give `issued`")
            return build_invoice(
                order, shop=shop, customer=customer or Address(order.customer_name),
                currency=currency, vat_percent=vat_percent, due_days=due_days, issued=issued,
            )  # fmt: skip
    raise ValueError(f"unknown document {kind!r}")  # pragma: no cover - Document() raised first
