"""R16 with Fiken (the Norwegian guide's "fullfør transaksjonen"): each invoice record sent as
one cash sale, against a local server that answers as Fiken's API v2 documentation says — the
sale's fields, the look-up by sale number, and the faults a network has.

The waits the adapter takes (Retry-After, back-off) go through an injected `sleep` that notes
them, so the tests see what was honoured without taking the time."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime

import pytest
from fiken_server import SLUG, TOKEN, FikenServer

from stationd.accounting import make_sender
from stationd.accounting.fiken import FikenSender
from stationd.catalogs import say
from stationd.config.accounting import AccountingSettings
from stationd.core.deliveries import Delivery
from stationd.core.invoices import Books, InvoiceRecord, invoice_of_delivery
from stationd.core.orders import Order, OrderLine, OrderStatus, PaymentMethod

NORWAY = Books(
    vat_percent=25,
    sales_accounts={25: "3000", 15: "3000", 0: "3100"},
    vat_accounts={25: "2700", 15: "2700"},
)


class Waits(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def record(
    number: int = 1, *, currency: str = "NOK", rates: dict[int, int] | None = None
) -> InvoiceRecord:
    order = Order(
        id=2040 + number,
        status=OrderStatus.PACKING,
        placed_at=datetime(2026, 12, 1, tzinfo=UTC),
        customer_name="Kari Nordmann",
        payment_method=PaymentMethod.VIPPS,
        lines=[
            OrderLine("KAFFE", "Kaffe", 2, 11500, id=1),
            OrderLine("KOPP", "Kopp", 1, 25000, id=2),
        ],
        currency=currency,
    )
    made = invoice_of_delivery(
        order,
        Delivery(order.id, {1: 2, 2: 1}, id=30 + number),
        NORWAY,
        issued_on=date(2026, 12, 7),
        vat_percent_of=rates if rates is not None else {1: 15, 2: 25},
    )
    return dataclasses.replace(made, number=number)


@pytest.fixture
def server():
    server = FikenServer()
    yield server
    server.close()


@pytest.fixture
def waits() -> Waits:
    return Waits()


def settings(server: FikenServer, token: str = TOKEN) -> AccountingSettings:
    return AccountingSettings(
        send_to="fiken",
        api_url=server.url,
        api_token=token,
        company_slug=SLUG,
        timeout_s=0.5,
        tries=3,
    )


@pytest.fixture
def fiken(server, waits):
    sender = FikenSender.from_settings(settings(server), sleep=waits)
    yield sender
    sender.http.close()


def test_r16_a_record_becomes_one_cash_sale_with_the_documented_fields(fiken, server):
    result = fiken.send(record())
    assert result.ok and result.remote_id == "7001"
    [sale] = server.sales
    assert sale["saleNumber"] == "A-1" and sale["kind"] == "cash_sale"
    assert (sale["date"], sale["currency"], sale["settled"]) == ("2026-12-07", "NOK", True)
    # The Norwegian guide: booked against 1570; 2 × 115.00 food (15 %) + 250.00 (25 %).
    assert sale["paymentAccount"] == "1570" and sale["totalPaid"] == 48000
    lines = [(x["vatType"], x["netPrice"], x["vat"], x["account"]) for x in sale["lines"]]
    assert lines == [
        ("high", 20000, 5000, "3000"),
        ("medium", 20000, 3000, "3000"),
    ]
    assert sum(line["netPrice"] + line["vat"] for line in sale["lines"]) == sale["totalPaid"]


def test_r16_a_record_sent_again_is_found_not_made_twice(fiken, server):
    first, again = fiken.send(record()), fiken.send(record())
    assert first.ok and again.ok and again.remote_id == first.remote_id
    assert len(server.sales) == 1 and server.posts() == 1


def test_r16_a_timeout_after_fiken_accepted_is_resolved_by_look_up_with_one_sale(fiken, server):
    server.faults.append("timeout")  # made, then no answer past the client's 0.5 s
    result = fiken.send(record())
    assert result.ok and result.remote_id == "7001"
    assert len(server.sales) == 1 and server.posts() == 1  # the server's log: one sale


def test_r16_429_is_honoured_the_station_waits_its_retry_after_then_sends_once(
    fiken, server, waits
):
    server.retry_after = "7"
    server.faults.append("429")
    assert fiken.send(record()).ok
    assert 7.0 in waits
    assert len(server.sales) == 1 and server.posts() == 2


def test_r16_a_500_before_anything_was_made_is_not_sent_again_in_the_same_call(fiken, server):
    server.faults.append("500")
    result = fiken.send(record())
    assert not result.ok and result.retry
    assert "Fiken did not confirm sale A-1" in result.message
    assert server.sales == [] and server.posts() == 1
    later = fiken.send(record())  # the outbox's next try: looked up, then made
    assert later.ok and len(server.sales) == 1 and server.posts() == 2


def test_r16_a_500_after_fiken_made_the_sale_is_found_by_the_look_up(fiken, server):
    server.faults.append("500-made")
    assert fiken.send(record()).ok
    assert len(server.sales) == 1 and server.posts() == 1


def test_r16_malformed_json_after_the_sale_was_made_is_resolved_by_look_up(fiken, server):
    server.faults.append("malformed")
    assert fiken.send(record()).ok
    assert len(server.sales) == 1 and server.posts() == 1


def test_r16_a_refusal_is_fikens_own_words_in_a_sentence(fiken, server):
    server.faults.append("400")
    result = fiken.send(record())
    assert not result.ok and "lines[0].vatType: unknown value" in result.message
    assert server.sales == []


def test_r16_a_look_up_that_ignores_the_filter_passes_off_no_other_sale(fiken, server):
    assert fiken.send(record(1)).ok
    server.ignore_filter = True
    result = fiken.send(record(2))
    assert result.ok and [s["saleNumber"] for s in server.sales] == ["A-1", "A-2"]


def test_r16_a_record_in_another_currency_is_not_sent_and_says_so(fiken, server):
    result = fiken.send(record(currency="SEK"))
    assert not result.ok and not result.retry
    assert (
        result.message == "Fiken keeps the books in NOK and invoice A-1 is in SEK: book it by hand."
    )
    assert server.requests == []


def test_r16_a_rate_fiken_has_no_type_for_is_not_sent(fiken, server):
    result = fiken.send(record(rates={1: 25, 2: 0}))
    assert result.ok  # 25 % and 0 % ("exempt") are Fiken's
    odd = dataclasses.replace(
        record(2), vat=(dataclasses.replace(record(2).vat[0], vat_percent=6),)
    )
    refused = fiken.send(odd)
    assert not refused.ok and "no VAT type for 6 %" in refused.message


def test_r16_a_bad_token_is_a_sentence_about_it_and_the_token_is_never_logged(
    server, waits, caplog
):
    caplog.set_level(logging.DEBUG)
    sender = FikenSender.from_settings(
        settings(server, token="wrong-token-do-not-log"), sleep=waits
    )
    result = sender.send(record())
    sender.http.close()
    assert not result.ok
    assert result.message == (
        "Fiken refused the station's API token: check [accounting] api_token and company_slug."
    )
    assert "wrong-token-do-not-log" not in caplog.text and server.sales == []


def test_r16_the_token_never_reaches_the_log_of_a_good_send(fiken, caplog):
    caplog.set_level(logging.DEBUG)
    assert fiken.send(record()).ok
    assert TOKEN not in caplog.text and TOKEN not in repr(fiken.http.client.auth)


def test_r16_fikens_sentences_are_said_in_norwegian_and_swedish(fiken, server):
    server.faults.append("500")
    result = fiken.send(record())
    assert say(result.message, "nb") != str(result.message)
    assert say(result.message, "sv") != str(result.message)
    assert "A-1" in say(result.message, "nb")


def test_r16_send_to_fiken_needs_its_token_and_slug_and_builds_the_adapter(server):
    assert make_sender(AccountingSettings()) is None
    sender = make_sender(settings(server))
    assert isinstance(sender, FikenSender)
    sender.http.close()


def test_r16_a_reported_deliverys_record_reaches_fiken_once_even_sent_twice(
    sqlite_store, make_shop, bus, server, waits
):
    from sqlalchemy import select

    from stationd.services.invoice_send import send_invoice
    from stationd.services.report_in import DeliveryRequest, ReportIn, Weighing
    from stationd.store.orders import load_order
    from stationd.store.tables import deliveries, orders

    shop = make_shop(sqlite_store)
    shop.product("A", on_hand=5, number=1)
    order_id = shop.order([("A", 2)], status="packing", reserve=True)
    with sqlite_store.write() as conn:  # a Norwegian order
        conn.execute(orders.update().where(orders.c.id == order_id).values(currency="NOK"))
    with sqlite_store.read() as conn:
        line_id = load_order(conn, order_id).lines[0].id
    report_in = ReportIn(
        sqlite_store, bus, "bench-1", weighing=Weighing(50, 5.0, 150), books=NORWAY
    )
    [done] = report_in.report([DeliveryRequest(order_id, ["PKG-1"], {line_id: 2})])
    assert done.ok
    with sqlite_store.read() as conn:
        delivery_id = conn.execute(select(deliveries.c.id)).scalar_one()
    sender = FikenSender.from_settings(settings(server), sleep=waits)
    server.faults.append("timeout")  # the first send's answer is lost after Fiken made it
    first, again = (
        send_invoice(sqlite_store, sender, delivery_id),
        send_invoice(sqlite_store, sender, delivery_id),
    )
    sender.http.close()
    assert first.ok and again.ok and first.remote_id == again.remote_id == "7001"
    [sale] = server.sales
    assert sale["saleNumber"] == "A-1" and sale["totalPaid"] == 2 * 9900
    assert server.posts() == 1
    missing = send_invoice(sqlite_store, sender, delivery_id + 99)
    assert not missing.ok and "has no invoice record" in missing.message
