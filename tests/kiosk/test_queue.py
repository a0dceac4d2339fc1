"""The outbound queue page (R9, R10) through Flask's test client: what the admin sees, the
bytes that reach the simulated receipt printer, and a 4xx sentence for every bad input."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from bus_waits import next_event
from kiosk.conftest import kiosk_client
from sqlalchemy import func, select, update
from sse_stream import next_message, open_stream

from stationd.devices.printers.printer import PrinterState
from stationd.events import OrderChanged
from stationd.kiosk import queue as queue_page
from stationd.services.printing import PrintJobChanged
from stationd.station import Station
from stationd.store.print_queue import JobState
from stationd.store.tables import events, orders, print_jobs, printed_documents

HX = {"HX-Request": "true"}


@pytest.fixture
def station(make_station, make_shop, each_engine) -> Iterator[Station]:
    station = make_station(
        **each_engine,
        name="queue-test",
        # A live stream says something every second: a test waiting on it never hangs.
        kiosk={"sse_heartbeat_s": 1},
        printers=[{"name": "receipts", "kind": "simulated"}],
        print={
            "picklist": "receipts",
            "receipt": "receipts",
            "picklist_receipt": "receipts",
            "invoice": "receipts",
        },
    )
    shop = make_shop(station.store)
    shop.product("A", on_hand=20, name="Termos <b>blå</b>", location="B-10-1", number=1)
    shop.product("B", on_hand=20, name="Vantar röd", location="A-02-3", number=2)
    shop.order(
        [("A", 2), ("B", 1)],
        status="packing",
        reserve=True,
        order_id=1042,
        customer="<script>alert('x')</script> Öberg",
        comment="Ring & fråga",
    )
    shop.order([("A", 1)], status="packing", waiting=True, order_id=1043)
    shop.order([("A", 1)], status="order", order_id=1044)
    shop.order(
        [("B", 1)], status="packing", reserve=True, order_id=1050, payment_method="own_invoice"
    )
    shop.order([("A", 1)], status="packing", reserve=True, order_id=1051, customer="Kåre Ødegård")
    station.printing.start()
    yield station
    station.printing.stop()
    station.store.dispose()


@pytest.fixture
def client(station):
    return kiosk_client(station)


def printed(station: Station, count: int) -> list[bytes]:
    """The bytes the receipt printer took, once it took `count` jobs."""
    printer = station.printers["receipts"]
    assert printer.wait_for(count, timeout=5), f"{len(printer.printed)} of {count} printed"
    return printer.printed


@contextmanager
def recorded(station: Station, count: int) -> Iterator[None]:
    """Wait, after the block, until `count` jobs are recorded as printed (R10's markers are
    written after the printer took the bytes)."""
    with station.bus.queue(PrintJobChanged) as heard:
        yield
        for _ in range(count):
            next_event(heard, PrintJobChanged, lambda e: e.state is JobState.PRINTED)


def jobs_in_queue(station: Station) -> int:
    with station.store.read() as conn:
        return conn.execute(select(func.count()).select_from(print_jobs)).scalar_one()


def markers(station: Station, order_id: int) -> set[str]:
    with station.store.read() as conn:
        query = select(printed_documents.c.document).where(printed_documents.c.order_id == order_id)
        return set(conn.execute(query).scalars())


def print_now(client, document: str, *orders: int, confirm: bool = False):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {"document": document, "order": [str(o) for o in orders]}
    if confirm:
        data["confirm"] = "1"
    return client.post("/queue/print", data=data, headers=HX)


def button(html: str, document: str) -> str:
    start = html.index(f'value="{document}"')
    return html[start : html.index(">", start)]


# --- what the queue shows ----------------------------------------------------------------------


def test_r9_queue_lists_packing_orders_not_waiting_each_with_a_checkbox(client):
    page = client.get("/queue").get_data(as_text=True)
    for order_id in (1042, 1050, 1051):
        assert f'id="order-{order_id}"' in page
        assert f'name="order" value="{order_id}"' in page
    assert 'id="order-1043"' not in page  # waiting (R3)
    assert 'id="order-1044"' not in page  # not packing yet
    assert "3 orders to pack" in page
    assert 'id="select-page"' in page and "Select all on this page" in page
    assert "Own invoice" in page  # which order can have an invoice


def test_r9_the_four_functions_wait_for_a_selection_and_say_so(client):
    page = client.get("/queue").get_data(as_text=True)
    for document in ("picklist", "receipt", "picklist_receipt", "invoice"):
        assert "disabled" in button(page, document)
    assert "Select orders in the list to print for them" in page


def test_r9_invoice_is_disabled_with_its_reason_for_two_orders(client):
    html = client.get("/queue/actions?order=1050&order=1051", headers=HX).get_data(as_text=True)
    assert "2 orders selected" in html
    assert "disabled" in button(html, "invoice")
    assert "Invoices print one order at a time." in html  # visible text, not a tooltip
    for document in ("picklist", "receipt", "picklist_receipt"):
        assert "disabled" not in button(html, document)


def test_r9_invoice_is_disabled_with_its_reason_for_a_card_order(client):
    html = client.get("/queue/actions?order=1051", headers=HX).get_data(as_text=True)
    assert "disabled" in button(html, "invoice")
    assert "Order 1051 is not paid by own invoice" in html


def test_r9_invoice_is_enabled_for_exactly_one_own_invoice_order(client):
    html = client.get("/queue/actions?order=1050", headers=HX).get_data(as_text=True)
    assert "disabled" not in button(html, "invoice")
    assert "1 order selected" in html


def test_r9_a_selected_order_that_left_the_queue_is_unselected(client, station):
    with station.store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == 1051).values(status="shipped"))
    html = client.get("/queue/actions?order=1051&order=1042", headers=HX).get_data(as_text=True)
    assert 'data-gone="1051"' in html
    assert "Order 1051 is no longer in the queue and was unselected." in html
    assert "1 order selected" in html


# --- printing ----------------------------------------------------------------------------------


def test_r9_r11_pick_lists_reach_the_printer_and_the_outcome_names_printer_and_jobs(
    client, station
):
    response = print_now(client, "picklist", 1042, 1051)
    assert response.status_code == 200
    assert "Pick list: 2 print jobs sent to printer “receipts”." in response.get_data(as_text=True)
    first, second = printed(station, 2)
    assert b"ORD-1042" in first and b"ORD-1051" in second
    assert first.index(b"A-02-3") < first.index(b"B-10-1")  # R11: shelf order
    assert "Kåre Ødegård".encode("cp865") in second
    with station.store.read() as conn:
        kinds = conn.execute(select(events.c.kind).where(events.c.kind == "print.queued"))
        assert len(kinds.all()) == 2  # the audit event beside each job


def test_r10_printed_markers_are_struck_through_once_printed(client, station):
    with recorded(station, 1):
        print_now(client, "picklist_receipt", 1042)
    assert markers(station, 1042) == {"picklist", "receipt"}
    page = client.get("/queue").get_data(as_text=True)
    row = page[page.index('id="order-1042"') : page.index('id="order-1050"')]
    assert '<s class="printed" data-doc="picklist">Pick list</s>' in row
    assert '<s class="printed" data-doc="receipt">Receipt</s>' in row
    assert 'data-doc="invoice"' not in row


def test_r10_a_second_pick_list_asks_for_a_second_touch_before_it_prints(client, station):
    print_now(client, "picklist", 1042)
    printed(station, 1)
    asked = print_now(client, "picklist", 1042, 1051)
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert "Already printed (or waiting at the printer):" in html
    assert "Order 1042" in html and "Order 1051" not in html.split("<ul>")[1].split("</ul>")[0]
    assert "Yes, print again" in html
    assert 'name="confirm" value="1"' in html
    assert jobs_in_queue(station) == 1  # nothing queued by the first touch
    confirmed = print_now(client, "picklist", 1042, 1051, confirm=True)
    assert "2 print jobs sent" in confirmed.get_data(as_text=True)
    again = printed(station, 3)
    assert b"ORD-1042" in again[1] and b"ORD-1051" in again[2]


def test_r10_a_pick_list_still_waiting_at_the_printer_also_asks_before_a_second(client, station):
    station.printers["receipts"].set_state(PrinterState.PAPER_OUT)
    print_now(client, "picklist", 1042)
    page = client.get("/queue").get_data(as_text=True)
    row = page[page.index('id="order-1042"') : page.index('id="order-1050"')]
    assert 'class="waiting" data-doc="picklist"' in row  # asked for, not out yet
    assert "<s " not in row  # and not struck through: nothing came out
    asked = print_now(client, "picklist", 1042).get_data(as_text=True)
    assert "Already printed (or waiting at the printer):" in asked
    assert jobs_in_queue(station) == 1


def test_r10_a_receipt_after_a_pick_list_is_no_repeat(client, station):
    print_now(client, "picklist", 1042)
    printed(station, 1)
    html = print_now(client, "receipt", 1042).get_data(as_text=True)
    assert "Receipt: 1 print job sent" in html


def test_r9_invoice_prints_for_one_own_invoice_order(client, station):
    html = print_now(client, "invoice", 1050).get_data(as_text=True)
    assert "Invoice: 1 print job sent to printer “receipts”." in html
    assert b"1050" in printed(station, 1)[0]


@pytest.mark.parametrize(
    ("orders_", "says"),
    [
        ((1051,), "Order 1051 is not paid by own invoice"),
        ((1050, 1051), "Invoices print one order at a time."),
    ],
)
def test_r9_invoice_the_rules_refuse_is_a_409_with_the_rule_and_prints_nothing(
    client, station, orders_, says
):
    response = print_now(client, "invoice", *orders_)
    assert response.status_code == 409
    assert says in response.get_data(as_text=True)
    assert jobs_in_queue(station) == 0


@pytest.mark.parametrize(
    ("data", "status", "says"),
    [
        ({"document": "picklist", "order": ["1043"]}, 409, "Order 1043 is not in the outbound"),
        ({"document": "picklist", "order": ["1044"]}, 409, "Order 1044 is not in the outbound"),
        ({"document": "picklist", "order": ["99999"]}, 409, "There is no order 99999."),
        ({"document": "picklist", "order": ["abc"]}, 400, "“abc” is not an order number."),
        ({"document": "picklist", "order": ["-5"]}, 400, "“-5” is not an order number."),
        ({"document": "picklist", "order": ["1" * 40]}, 400, "is not an order number."),
        ({"document": "picklist"}, 400, "Select at least one order."),
        ({"document": "label", "order": ["1042"]}, 400, "“label” is not a document the queue"),
        ({"order": ["1042"]}, 400, "“” is not a document the queue prints."),
        (
            {"document": "picklist", "order": [str(i) for i in range(1001)]},
            400,
            "Select at most 1000 orders at a time.",
        ),
    ],
)
def test_bad_print_requests_are_4xx_sentences_and_print_nothing(
    client, station, data, status, says
):
    response = client.post("/queue/print", data=data, headers=HX)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert says in html and "Traceback" not in html
    assert jobs_in_queue(station) == 0


def test_bad_selection_for_the_buttons_is_a_400_with_a_sentence(client):
    response = client.get("/queue/actions?order=12x", headers=HX)
    assert response.status_code == 400
    assert "“12x” is not an order number." in response.get_data(as_text=True)


def test_a_print_without_the_security_token_is_refused(station):
    client = station.app.test_client()
    response = client.post("/queue/print", data={"document": "picklist", "order": ["1042"]})
    assert response.status_code == 403
    assert jobs_in_queue(station) == 0


def test_a_plain_form_post_prints_and_shows_the_whole_page(client, station):
    response = client.post("/queue/print", data={"document": "receipt", "order": ["1051"]})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html
    assert "Receipt: 1 print job sent" in html and 'id="order-1051"' in html
    # The page is the station's (English here); the receipt the customer's: a Swedish one.
    assert b"Kvitto" in printed(station, 1)[0]


def test_customer_text_is_escaped_in_the_rows_and_the_buttons_answer(client):
    page = client.get("/queue").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Öberg" in page
    assert "Ring &amp; fråga" in page


def test_the_queue_is_paginated_and_page_two_holds_the_rest(client, station, make_shop):
    shop = make_shop(station.store)
    for order_id in range(2000, 2100):
        shop.order([("A", 1)], status="packing", order_id=order_id)
    first = client.get("/queue").get_data(as_text=True)
    assert "103 orders to pack" in first and "Page 1 of 2" in first
    second = client.get("/queue?page=2", headers=HX).get_data(as_text=True)
    assert "Page 2 of 2" in second and 'id="order-2099"' in second
    assert 'id="order-1042"' not in second
    assert 'sse-connect="/queue/events?page=2"' in second  # live updates of that page


# --- live ----------------------------------------------------------------------------------------


def test_r9_the_queue_redraws_live_when_the_pack_script_of_another_process_moves_an_order(
    client, station, monkeypatch
):
    monkeypatch.setattr(queue_page, "RECHECK_S", 0.5)
    response, stream = open_stream(client, "/queue/events")
    with station.store.write() as conn:  # no event on this bus: another process did it
        conn.execute(update(orders).where(orders.c.id == 1044).values(status="packing"))
    rows = next_message(stream, "rows")
    assert 'id="order-1044"' in rows and "4 orders to pack" in rows
    response.close()


def test_r9_a_shipped_order_leaves_the_live_queue_at_once(client, station):
    response, stream = open_stream(client, "/queue/events")
    with station.store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == 1051).values(status="shipped"))
    station.bus.publish(OrderChanged(1051, "shipped"))
    rows = next_message(stream, "rows")
    assert 'id="order-1051"' not in rows and "2 orders to pack" in rows
    response.close()


def test_r10_the_struck_through_marker_arrives_live_after_printing(client, station):
    response, stream = open_stream(client, "/queue/events")
    print_now(client, "receipt", 1051)
    rows = next_message(stream, "rows")
    while 'data-doc="receipt">Receipt</s>' not in rows:  # "waiting" first, then struck through
        rows = next_message(stream, "rows")
    assert '<s class="printed" data-doc="receipt">' in rows
    response.close()
