"""R16 / R14: the invoice record of a reported delivery (core/invoices.py) — what it holds,
the VAT per rate and its rounding, the accounts it is booked on, and its voucher balancing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from stationd.core.deliveries import Delivery
from stationd.core.invoices import (
    Books,
    invoice_of_delivery,
    parse_account_map,
    parse_rate_map,
    postings,
)
from stationd.core.orders import Order, OrderLine, OrderRuleError, OrderStatus, PaymentMethod

DAY = date(2026, 12, 7)


def order(*lines: tuple[str, int, int], method: str = "card", currency: str = "SEK") -> Order:
    return Order(
        id=1042,
        status=OrderStatus.PACKING,
        placed_at=datetime(2026, 12, 1, tzinfo=UTC),
        customer_name="Anna Andersson",
        payment_method=PaymentMethod(method),
        lines=[
            OrderLine(sku, f"Item {sku}", qty, price, id=i + 1)
            for i, (sku, qty, price) in enumerate(lines)
        ],
        currency=currency,
    )


def test_r16_the_record_holds_what_was_delivered_with_totals_and_vat():
    o = order(("A", 2, 12500), ("B", 1, 5000))
    record = invoice_of_delivery(o, Delivery(1042, {1: 2, 2: 1}, id=7), Books(), issued_on=DAY)
    assert [(line.sku, line.quantity, line.gross_minor) for line in record.lines] == [
        ("A", 2, 25000),
        ("B", 1, 5000),
    ]
    assert record.total_minor == 30000
    assert record.vat_minor == 6000  # 25 % inside 300.00 is 60.00
    assert (record.order_id, record.delivery_id, record.currency) == (1042, 7, "SEK")
    assert record.payment_method is PaymentMethod.CARD
    assert record.settlement_account == "1570"


def test_r14_a_partial_delivery_is_invoiced_for_its_own_quantities_only():
    o = order(("A", 3, 10000), ("B", 2, 5000))
    record = invoice_of_delivery(o, Delivery(1042, {1: 1, 2: 0}, id=8), Books(), issued_on=DAY)
    assert [(line.sku, line.quantity) for line in record.lines] == [("A", 1)]
    assert record.total_minor == 10000


def test_r16_vat_is_rounded_once_per_rate_on_its_total_not_per_line():
    # Three lines of 0.03 at 25 %: rounded per line 0.006 → 0.01 each, 0.03 in all; on the
    # rate's total 0.09 the VAT is 0.018 → 0.02.
    o = order(("A", 1, 3), ("B", 1, 3), ("C", 1, 3))
    record = invoice_of_delivery(o, Delivery(1042, {1: 1, 2: 1, 3: 1}), Books(), issued_on=DAY)
    assert [(v.vat_percent, v.gross_minor, v.vat_minor) for v in record.vat] == [(25, 9, 2)]


def test_r16_vat_is_summed_per_rate_highest_first_with_its_accounts():
    o = order(("BOOK", 1, 10600), ("FOOD", 2, 11200), ("SHIRT", 1, 25000))
    rates = {1: 6, 2: 12, 3: 25}
    record = invoice_of_delivery(
        o, Delivery(1042, {1: 1, 2: 2, 3: 1}), Books(), issued_on=DAY, vat_percent_of=rates
    )
    assert [(v.vat_percent, v.gross_minor, v.vat_minor) for v in record.vat] == [
        (25, 25000, 5000),
        (12, 22400, 2400),
        (6, 10600, 600),
    ]
    assert [(v.sales_account, v.vat_account) for v in record.vat] == [
        ("3001", "2611"),
        ("3002", "2621"),
        ("3003", "2631"),
    ]


def test_r16_the_voucher_debits_settlement_credits_sales_and_vat_and_balances():
    o = order(("A", 1, 10600), ("B", 1, 12500))
    record = invoice_of_delivery(
        o, Delivery(1042, {1: 1, 2: 1}), Books(), issued_on=DAY, vat_percent_of={1: 6, 2: 25}
    )
    rows = [(p.account, p.amount_minor) for p in postings(record)]
    assert rows == [
        ("1570", 23100),
        ("3001", -10000),
        ("2611", -2500),
        ("3003", -10000),
        ("2631", -600),
    ]
    assert sum(amount for _, amount in rows) == 0


def test_r16_a_payment_method_may_settle_on_its_own_account():
    books = Books(settlement_by_method={"swish": "1580"})
    swish = invoice_of_delivery(
        order(("A", 1, 100), method="swish"), Delivery(1, {1: 1}), books, issued_on=DAY
    )
    card = invoice_of_delivery(order(("A", 1, 100)), Delivery(1, {1: 1}), books, issued_on=DAY)
    assert (swish.settlement_account, card.settlement_account) == ("1580", "1570")


def test_r16_a_rate_without_a_sales_account_is_refused_with_a_sentence():
    books = Books(vat_percent=15)  # Norwegian food VAT; BAS has no account for it
    with pytest.raises(OrderRuleError, match=r"No sales account is set for VAT 15 %"):
        invoice_of_delivery(order(("A", 1, 100)), Delivery(1, {1: 1}), books, issued_on=DAY)


def test_r16_zero_vat_books_no_vat_row():
    books = Books(vat_percent=0)
    record = invoice_of_delivery(order(("A", 2, 500)), Delivery(1, {1: 2}), books, issued_on=DAY)
    assert [(p.account, p.amount_minor) for p in postings(record)] == [
        ("1570", 1000),
        ("3004", -1000),
    ]


def test_r16_the_record_is_named_by_series_and_number():
    record = invoice_of_delivery(
        order(("A", 1, 100)), Delivery(1, {1: 1}), Books(series="W"), issued_on=DAY
    )
    assert record.reference == "W-0"  # unnumbered until the store numbers it


def test_r16_account_maps_are_read_and_a_bad_pair_is_named():
    assert parse_account_map("swish=1580, vipps=1571", what="x") == {
        "swish": "1580",
        "vipps": "1571",
    }
    assert parse_rate_map("25=3001 0=3004", what="x") == {25: "3001", 0: "3004"}
    with pytest.raises(ValueError, match="'25=30011'"):
        parse_rate_map("25=30011", what="sales_accounts")
    with pytest.raises(ValueError, match="'high'"):
        parse_rate_map("high=3001", what="sales_accounts")
