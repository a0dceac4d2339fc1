"""The invoice record of a reported delivery (R16, the Norwegian guide's "fullfør
transaksjonen"): what the shop's bookkeeping gets for each delivery that leaves.

One record per reported delivery, of what *that delivery* carried (R14: a partial delivery is
invoiced for its own quantities; the rest is invoiced by the delivery that takes it). The
shop's prices include VAT, so each line is its gross amount; the VAT is worked out per rate on
the sum of that rate's lines, rounded half up to the øre/öre (`core.documents.vat_part`) — the
way the Swedish and Norwegian rules state VAT on an invoice: per rate, on its total, not as a
sum of rounded line amounts. The record keeps what a credit note needs later: the order and
delivery, each line's order line, SKU, quantity, unit price and rate, the currency, the payment
method and the settlement account the sale was booked against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from stationd.core.deliveries import Delivery
from stationd.core.documents import vat_part
from stationd.core.orders import Order, OrderRuleError, PaymentMethod
from stationd.core.text import sentence

#: The longest invoice series name (the store's column).
SERIES_MAX_LENGTH = 8


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line of an invoice record: `quantity` items of an order line at its unit price
    (VAT included, minor units) and VAT rate."""

    order_line_id: int | None
    sku: str
    name: str
    quantity: int
    unit_price_minor: int
    vat_percent: int

    @property
    def gross_minor(self) -> int:
        """What the customer pays for this line, VAT included."""
        return self.quantity * self.unit_price_minor


@dataclass(frozen=True, slots=True)
class VatSum:
    """The lines of one VAT rate: their gross sum, the VAT it holds, and the two accounts it
    is booked on (sales, output VAT)."""

    vat_percent: int
    gross_minor: int
    vat_minor: int
    sales_account: str
    vat_account: str

    @property
    def net_minor(self) -> int:
        """The sum without VAT."""
        return self.gross_minor - self.vat_minor


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    """The invoice record of one reported delivery; `number` is 0 until the store numbers it
    (gapless within its `series`)."""

    order_id: int
    delivery_id: int | None
    series: str
    number: int
    issued_on: date
    currency: str
    payment_method: PaymentMethod
    settlement_account: str
    customer_name: str
    country: str
    lines: tuple[InvoiceLine, ...]
    vat: tuple[VatSum, ...]

    @property
    def total_minor(self) -> int:
        """The invoice's total, VAT included."""
        return sum(v.gross_minor for v in self.vat)

    @property
    def vat_minor(self) -> int:
        """The VAT of all rates."""
        return sum(v.vat_minor for v in self.vat)

    @property
    def reference(self) -> str:
        """The record's own name outside the station ("A-17"): the SIE voucher and the
        accounting system's sale number, by which a sale already sent is found again."""
        return f"{self.series}-{self.number}"


@dataclass(frozen=True, slots=True)
class Books:
    """How invoice records are booked (`[accounting]`): the series, the shop's VAT rate for
    lines that name none, and the accounts — settlement (1570 unless the payment method has
    its own), sales and output VAT per rate."""

    series: str = "A"
    vat_percent: int = 25
    settlement_account: str = "1570"
    settlement_by_method: Mapping[str, str] | None = None
    sales_accounts: Mapping[int, str] | None = None
    vat_accounts: Mapping[int, str] | None = None

    def settlement_for(self, method: PaymentMethod | str) -> str:
        """The account the payment method's money is settled on."""
        own = (self.settlement_by_method or {}).get(str(method))
        return own or self.settlement_account

    def sales_account(self, rate: int) -> str:
        """The sales account of VAT rate `rate`; `OrderRuleError` when none is set."""
        account = (self.sales_accounts if self.sales_accounts is not None else BAS_SALES).get(rate)
        if account is None:
            raise OrderRuleError(
                sentence(
                    "No sales account is set for VAT {rate} %: add it to [accounting] "
                    "sales_accounts.",
                    rate=rate,
                )
            )
        return account

    def vat_account(self, rate: int) -> str:
        """The output-VAT account of rate `rate` (empty for 0 %); `OrderRuleError` when a
        rate above 0 has none."""
        if rate == 0:
            return ""
        account = (self.vat_accounts if self.vat_accounts is not None else BAS_VAT).get(rate)
        if account is None:
            raise OrderRuleError(
                sentence(
                    "No VAT account is set for VAT {rate} %: add it to [accounting] vat_accounts.",
                    rate=rate,
                )
            )
        return account


#: The Swedish BAS chart's sales accounts per VAT rate (what an SIE file is read against).
BAS_SALES: Mapping[int, str] = {25: "3001", 12: "3002", 6: "3003", 0: "3004"}
#: BAS's output-VAT accounts per rate.
BAS_VAT: Mapping[int, str] = {25: "2611", 12: "2621", 6: "2631"}


def line_vat_percents(rates_bp: Mapping[int, int | None]) -> dict[int, int]:
    """The order lines' own VAT rates in whole percent, by line id, from the hundredths of a
    percent the shop sent (2500 → 25), for `invoice_of_delivery(vat_percent_of=…)`.

    A line sent without a rate is left out, so it takes the shop's standard rate. Raises
    `OrderRuleError` for a rate that is not a whole percent: the records, the SIE accounts
    and the accounting API book VAT per whole rate, and rounding it would misstate the VAT.
    """
    rates = {}
    for line_id, bp in rates_bp.items():
        if bp is None:
            continue
        whole, rest = divmod(bp, 100)
        if rest:
            raise OrderRuleError(
                sentence(
                    "VAT {rate} % on an order line is not a whole percent: the invoice "
                    "record books whole rates only.",
                    rate=f"{whole}.{rest:02d}".rstrip("0"),
                )
            )
        rates[line_id] = whole
    return rates


def invoice_of_delivery(
    order: Order,
    delivery: Delivery,
    books: Books,
    *,
    issued_on: date,
    vat_percent_of: Mapping[int, int] | None = None,
) -> InvoiceRecord:
    """R16/R14: the invoice record of `delivery` — the items it carried, at their order lines'
    prices — booked by `books`.

    `vat_percent_of` gives an order line's VAT rate by its id (lines it doesn't name, and all
    lines without it, take `books.vat_percent`). Raises `OrderRuleError` when a rate has no
    account to be booked on.
    """
    rates = vat_percent_of or {}
    lines = []
    for line in order.lines:
        quantity = delivery.quantities.get(line.id, 0) if line.id is not None else 0
        if quantity <= 0:
            continue
        rate = rates.get(line.id, books.vat_percent) if line.id is not None else books.vat_percent
        lines.append(
            InvoiceLine(line.id, line.sku, line.name, quantity, line.unit_price_minor, rate)
        )
    return InvoiceRecord(
        order_id=order.id,
        delivery_id=delivery.id,
        series=books.series,
        number=0,
        issued_on=issued_on,
        currency=order.currency,
        payment_method=order.payment_method,
        settlement_account=books.settlement_for(order.payment_method),
        customer_name=order.customer_name,
        country=order.country,
        lines=tuple(lines),
        vat=vat_sums(lines, books),
    )


def vat_sums(
    lines: list[InvoiceLine] | tuple[InvoiceLine, ...], books: Books
) -> tuple[VatSum, ...]:
    """The VAT per rate of `lines`, highest rate first: each rate's VAT is taken from the sum
    of its lines' gross amounts, rounded once (half up)."""
    gross: dict[int, int] = {}
    for line in lines:
        gross[line.vat_percent] = gross.get(line.vat_percent, 0) + line.gross_minor
    return tuple(
        VatSum(
            rate,
            total,
            vat_part(total, rate),
            books.sales_account(rate),
            books.vat_account(rate),
        )
        for rate, total in sorted(gross.items(), reverse=True)
    )


@dataclass(frozen=True, slots=True)
class Posting:
    """One row of a voucher: `amount_minor` on `account`, debit positive, credit negative."""

    account: str
    amount_minor: int


def postings(record: InvoiceRecord) -> tuple[Posting, ...]:
    """The voucher of an invoice record: the total on its settlement account (debit), each
    rate's net on its sales account and its VAT on its VAT account (credit). The amounts sum
    to zero by construction (net + VAT = gross per rate)."""
    rows = [Posting(record.settlement_account, record.total_minor)]
    for vat in record.vat:
        rows.append(Posting(vat.sales_account, -vat.net_minor))
        if vat.vat_minor:
            rows.append(Posting(vat.vat_account, -vat.vat_minor))
    return tuple(row for row in rows if row.amount_minor)


def parse_account_map(text: str, *, what: str) -> dict[str, str]:
    """`"card=1570 swish=1580"` (spaces or commas between pairs) as a dict; a `ValueError`
    naming the bad pair otherwise. Accounts are 4 digits (BAS and NS 4102 alike)."""
    found: dict[str, str] = {}
    for pair in text.replace(",", " ").split():
        key, sep, account = pair.partition("=")
        if not sep or not key or not (account.isdigit() and len(account) == 4):
            raise ValueError(f"{what}: {pair!r} is not KEY=ACCOUNT with a 4-digit account")
        found[key] = account
    return found


def parse_rate_map(text: str, *, what: str) -> dict[int, str]:
    """`"25=3001 12=3002"`: accounts by VAT rate (whole percent, 0–50)."""
    found = {}
    for key, account in parse_account_map(text, what=what).items():
        if not key.isdigit() or int(key) > 50:
            raise ValueError(f"{what}: {key!r} is not a VAT rate in whole percent (0-50)")
        found[int(key)] = account
    return found
