"""R16 through the one outbox (issue 13 §3 and §4): the send of a delivery's invoice record is
an outgoing row of its own kind, written in the transaction that reports the delivery, sent by
the outbox's worker to Fiken (a local server that answers as Fiken's documentation says) — on
SQLite and PostgreSQL. The worker's `step()` is called by the test."""

from __future__ import annotations

from fiken_server import SLUG, TOKEN, FikenServer
from sqlalchemy import update

from stationd.accounting.fiken import FikenSender
from stationd.config.accounting import AccountingSettings
from stationd.core.invoices import Books
from stationd.core.outgoing import INVOICE_KIND, OutgoingState
from stationd.services.invoice_send import InvoiceSender
from stationd.services.outgoing import Backoff, OutgoingQueue, OutgoingWorker, Senders
from stationd.services.report_in import DeliveryRequest, Outcome, ReportIn, Weighing
from stationd.store import outgoing as rows
from stationd.store.orders import load_order
from stationd.store.tables import orders

NORWAY = Books(sales_accounts={25: "3000"}, vat_accounts={25: "2700"})
NOW_AGAIN = Backoff(first_s=0.0, max_s=0.0, max_attempts=3)


def outbox(store, server, waits):
    settings = AccountingSettings(
        send_to="fiken", api_url=server.url, api_token=TOKEN, company_slug=SLUG, timeout_s=0.5
    )
    senders = Senders()
    fiken = FikenSender.from_settings(settings, sleep=waits.append)
    senders.register(INVOICE_KIND, InvoiceSender(store, fiken))
    queue = OutgoingQueue(store, senders)
    report_in = ReportIn(
        store, None, "bench-1", weighing=Weighing(50, 5.0, 150), outgoing=queue, books=NORWAY
    )
    return report_in, OutgoingWorker(store, senders, "bench-1", backoff=NOW_AGAIN), senders


def norwegian_order(store, shop):
    shop.product("A", on_hand=5, number=1)
    order_id = shop.order([("A", 2)], status="packing", reserve=True)
    with store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == order_id).values(currency="NOK"))
    with store.read() as conn:
        return order_id, load_order(conn, order_id).lines[0].id


def test_r16_the_invoice_send_is_written_with_the_delivery_and_reaches_fiken_once(store, shop):
    server, waits = FikenServer(), []
    report_in, worker, senders = outbox(store, server, waits)
    try:
        order_id, line_id = norwegian_order(store, shop)
        # Weighing 2 kg against 350 g asks first: nothing is written, no row either.
        [asked] = report_in.report(
            [DeliveryRequest(order_id, ["PKG-1"], {line_id: 1}, weight_g=2000)]
        )
        assert asked.outcome is Outcome.CONFIRM
        with store.read() as conn:
            assert rows.listed(conn) == []
        [done] = report_in.report([DeliveryRequest(order_id, ["PKG-1"], {line_id: 1})])
        assert done.ok
        with store.read() as conn:
            [row] = rows.listed(conn)
        assert (row.kind, row.payload, row.order_id) == (
            INVOICE_KIND,
            {"reference": "A-1"},
            order_id,
        )
        server.faults.append("timeout")  # Fiken makes the sale, the answer is lost
        worker.step()
        with store.read() as conn:
            sent = rows.get(conn, row.event_id)
        assert sent.state is OutgoingState.SENT
        assert [s["saleNumber"] for s in server.sales] == ["A-1"] and server.posts() == 1
    finally:
        senders.close()
        server.close()


def test_r16_a_send_fiken_refuses_stays_failed_with_its_sentence(store, shop):
    server, waits = FikenServer(), []
    report_in, worker, senders = outbox(store, server, waits)
    try:
        order_id, line_id = norwegian_order(store, shop)
        report_in.report([DeliveryRequest(order_id, ["PKG-1"], {line_id: 2})])
        for _ in range(3):
            server.faults.append("400")
            worker.step()
        with store.read() as conn:
            [row] = rows.listed(conn)
        assert row.state is OutgoingState.FAILED
        assert "Fiken refused the request (HTTP 400)" in (row.last_error or "")
        assert server.sales == []
    finally:
        senders.close()
        server.close()
