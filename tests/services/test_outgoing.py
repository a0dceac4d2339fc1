"""The outbox for outgoing things (issue 13 section 4, R14, R16): the shipping notice mailed
through a real SMTP server with STARTTLS (aiosmtpd) and read back with `email`, the shop's
webhooks posted to a local HTTP server that checks their signatures and fails now and then,
every try recorded — on SQLite and PostgreSQL. The worker's `step()` is called by the test, so
what went out is known when it returns."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from fiken_server import SLUG, TOKEN, FikenServer
from outgoing_servers import SMTP_PASSWORD, WEBHOOK_SECRET, SmtpServer, WebhookServer
from sqlalchemy import update

from stationd.accounting.fiken import FikenSender
from stationd.clock import utcnow
from stationd.config import settings_from_dict
from stationd.config.accounting import AccountingSettings
from stationd.core.invoices import Books
from stationd.core.outgoing import INVOICE_KIND, NOTICE_KIND, WEBHOOK_KIND, OutgoingState
from stationd.events import ScanRead
from stationd.services.invoice_send import InvoiceSender
from stationd.services.notice_mail import SmtpSender
from stationd.services.outgoing import Backoff, OutgoingQueue, OutgoingWorker, Senders, resend
from stationd.services.report_in import DeliveryRequest, ReportIn, Weighing
from stationd.services.webhooks import WebhookSender
from stationd.store import outgoing as rows
from stationd.store.orders import load_order
from stationd.store.tables import orders

WEIGHING = Weighing(tolerance_g=50, tolerance_pct=5.0, box_tare_g=150)
NOW_AGAIN = Backoff(first_s=0.0, max_s=0.0, max_attempts=3)  # a failed try is due at once


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def hooks():
    server = WebhookServer(hang_s=1.5).start()
    yield server
    server.stop()


def settings(smtp=None, hooks=None, **webhooks):
    config = {"shop": {"name": "Fjällbutiken AB"}}
    if smtp is not None:
        config["mail"] = smtp.mail_settings()
    if hooks is not None:
        config["webhooks"] = {"url": hooks.url, "secret": WEBHOOK_SECRET, "timeout_s": 0.5}
        config["webhooks"].update(webhooks)
    return settings_from_dict(config)


def outbox(store, config, backoff=NOW_AGAIN):
    senders = Senders()
    if config.mail.host:
        senders.register(NOTICE_KIND, SmtpSender(config.mail, config.shop.name))
    if config.webhooks.url:
        senders.register(WEBHOOK_KIND, WebhookSender(config.webhooks))
    queue = OutgoingQueue(store, senders, tracking_url=config.mail.tracking_url)
    report_in = ReportIn(store, None, "bench-1", weighing=WEIGHING, outgoing=queue)
    return report_in, OutgoingWorker(store, senders, "bench-1", backoff=backoff)


@pytest.fixture
def order_id(store, shop):
    shop.product("A", on_hand=5, number=1, name="Termos blå")
    shop.product("B", on_hand=5, number=2, name="Vantar")
    order_id = shop.order([("A", 2), ("B", 1)], status="packing", reserve=True, customer="Kari")
    with store.write() as conn:
        conn.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(customer_email="kari@example.no", country="NO")
        )
    return order_id


def lines(store, order_id):
    with store.read() as conn:
        return {line.sku: line.id for line in load_order(conn, order_id).lines}


def everything(store, order_id):
    with store.read() as conn:
        return {line.id: line.undelivered for line in load_order(conn, order_id).lines}


def state_of(store, event_id):
    with store.read() as conn:
        row = rows.get(conn, event_id)
        return row, rows.attempts_of(conn, row.id)


def test_r14_the_shipping_notice_speaks_the_customers_language_with_tracking_and_what_follows(
    store, order_id, smtp, caplog
):
    caplog.set_level(logging.DEBUG)
    report_in, worker = outbox(store, settings(smtp))
    ids = lines(store, order_id)
    [done] = report_in.report(
        [DeliveryRequest(order_id, ["CS000000014SE", "CS000000028SE"], {ids["A"]: 1})]
    )
    assert done.ok
    assert not smtp.messages, "nothing goes out inside the report-in"

    worker.step()

    [message] = smtp.parsed()
    assert smtp.logins == ["notices@shop.example"]  # logged in, after STARTTLS (required)
    assert message["To"] == "kari@example.no"
    assert message["Content-Language"] == "nb"
    assert message["Subject"] == f"En del av bestillingen din {order_id} er sendt"
    body = message.get_content()
    assert "Hei Kari," in body
    assert f"En del av bestillingen din {order_id} har forlatt Fjällbutiken AB." in body
    assert "CS000000014SE  https://track.example/t?id=CS000000014SE" in body
    assert "CS000000028SE  https://track.example/t?id=CS000000028SE" in body
    delivered, later = body.split("I denne leveransen:")[1].split("Kommer senere:")
    assert delivered.split() == ["1", "×", "Termos", "blå"]
    assert "1 × Termos blå" in later and "1 × Vantar" in later
    [notice] = [r for r in rows_of(store) if r.kind == NOTICE_KIND]
    assert message["Message-ID"] == f"<{notice.event_id}@shop.example>"
    # The station's log (not the test server's own, which logs what it hears).
    station_log = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.")]
    assert station_log and not any(SMTP_PASSWORD in line for line in station_log)

    # Sent again by a person: the same message to the customer's mail server, same id.
    assert resend(store, notice.event_id, "bench-1", None)
    worker.step()
    first, again = smtp.parsed()
    assert again["Message-ID"] == first["Message-ID"] and again["Date"] == first["Date"]
    assert again.get_content() == first.get_content()
    row, tries = state_of(store, notice.event_id)
    assert row.state is OutgoingState.SENT
    assert [t.result for t in tries] == ["sent", "resend", "sent"]


def test_r14_a_whole_delivery_in_swedish_says_nothing_follows(store, shop, smtp):
    shop.product("C", on_hand=5, number=3, name="Mössa")
    order_id = shop.order([("C", 1)], status="packing", reserve=True, customer="Sven")
    with store.write() as conn:
        conn.execute(
            update(orders).where(orders.c.id == order_id).values(customer_email="sven@example.se")
        )
    report_in, worker = outbox(store, settings(smtp))
    [done] = report_in.report(
        [DeliveryRequest(order_id, ["CS000000031SE"], everything(store, order_id))]
    )
    assert done.ok
    worker.step()
    [message] = smtp.parsed()
    assert message["Subject"] == f"Din order {order_id} har skickats"
    assert "Kommer senare" not in message.get_content()
    assert "1 × Mössa" in message.get_content()


def test_r16_webhooks_are_signed_and_retried_with_the_same_event_id(store, order_id, hooks):
    report_in, worker = outbox(store, settings(hooks=hooks))
    [done] = report_in.report(
        [DeliveryRequest(order_id, ["CS000000014SE"], everything(store, order_id))]
    )
    assert done.ok  # every line: the order is shipped
    hooks.faults.extend(["500", "timeout"])

    worker.step()  # the shop took both, then failed: 500, and no answer in time
    assert len(hooks.ids()) == 2
    worker.step()  # due again at once (NOW_AGAIN): both go again

    assert hooks.bad_signatures == 0
    by_type = {got[0]["type"]: (event_id, got) for event_id, got in hooks.events.items()}
    assert set(by_type) == {"delivery.reported", "order.shipped"}
    for event_id, got in by_type.values():
        assert len(got) == 2, "a repeat, with the same id"
        assert got[0] == got[1]
        assert got[0]["order_id"] == order_id and got[0]["parcel_ids"] == ["CS000000014SE"]
        row, tries = state_of(store, event_id)
        assert row.state is OutgoingState.SENT
        assert [t.result for t in tries] == ["failed", "sent"]
    _, tries = state_of(store, by_type["delivery.reported"][0])
    assert "500" in tries[0].reason


def test_r16_a_webhook_the_shop_answers_429_waits_its_retry_after(store, order_id, hooks):
    report_in, worker = outbox(store, settings(hooks=hooks))
    ids = lines(store, order_id)
    report_in.report([DeliveryRequest(order_id, ["CS000000014SE"], {ids["B"]: 1})])
    hooks.faults.append("429")  # with Retry-After: 1
    worker.step()
    assert worker.step() > 0, "not due again before the shop's Retry-After"
    [(event_id, got)] = hooks.events.items()
    assert len(got) == 1
    row, [tried] = state_of(store, event_id)
    assert row.state is OutgoingState.PENDING and "429" in tried.reason
    assert row.next_attempt_at - tried.at >= timedelta(seconds=1)


def test_r16_a_partial_delivery_fires_delivery_reported_only(store, order_id, hooks):
    report_in, worker = outbox(store, settings(hooks=hooks))
    ids = lines(store, order_id)
    report_in.report([DeliveryRequest(order_id, ["CS000000014SE"], {ids["B"]: 1})])
    worker.step()
    assert [got[0]["type"] for got in hooks.events.values()] == ["delivery.reported"]


def test_a_send_a_crash_cut_off_goes_again_after_the_restart_with_the_same_id(
    store, order_id, hooks
):
    report_in, _ = outbox(store, settings(hooks=hooks))
    report_in.report([DeliveryRequest(order_id, ["CS000000014SE"], everything(store, order_id))])
    with store.write() as conn:  # the worker that was killed had taken them
        taken = rows.claim_due(conn, "bench-1", utcnow(), kinds=[WEBHOOK_KIND])
    assert len(taken) == 2

    _, restarted = outbox(store, settings(hooks=hooks))
    restarted.step()

    assert hooks.ids() == {row.event_id for row in taken}
    for row in taken:
        again, tries = state_of(store, row.event_id)
        assert again.state is OutgoingState.SENT
        assert [t.result for t in tries] == ["interrupted", "sent"]


def test_a_send_that_keeps_failing_is_failed_with_its_reason_until_a_person_resends_it(
    store, order_id
):
    config = settings_from_dict(
        {"webhooks": {"url": "http://127.0.0.1:9/hooks", "secret": WEBHOOK_SECRET}}
    )
    report_in, worker = outbox(store, config, Backoff(first_s=0.0, max_s=0.0, max_attempts=2))
    report_in.report([DeliveryRequest(order_id, ["CS000000014SE"], everything(store, order_id))])
    worker.step()
    worker.step()
    assert worker.step() > 0  # nothing due: both failed for good

    failed = [r for r in rows_of(store) if r.state is OutgoingState.FAILED]
    assert len(failed) == 2
    assert all("can't reach" in (r.last_error or "") for r in failed)
    assert resend(store, failed[0].event_id, "bench-1", None)
    assert not resend(store, failed[0].event_id, "bench-1", None)  # pending already
    row, tries = state_of(store, failed[0].event_id)
    assert row.state is OutgoingState.PENDING and row.attempts == 0
    assert [t.result for t in tries] == ["failed", "failed", "resend"]


def test_a_failed_try_waits_a_jittered_back_off(store, order_id):
    config = settings_from_dict(
        {"webhooks": {"url": "http://127.0.0.1:9/hooks", "secret": WEBHOOK_SECRET}}
    )
    report_in, worker = outbox(store, config, Backoff(first_s=60.0, max_s=600.0))
    worker.spread = lambda: 1.0  # the most jitter there is: +25 %
    report_in.report([DeliveryRequest(order_id, ["CS000000014SE"], everything(store, order_id))])
    before = utcnow()
    worker.step()
    for row in rows_of(store):
        assert row.state is OutgoingState.PENDING and row.attempts == 1
        wait = row.next_attempt_at - before
        assert timedelta(seconds=74) < wait < timedelta(seconds=76)


def test_nothing_is_written_for_a_kind_without_a_sender_nor_a_notice_without_an_address(
    store, shop, hooks
):
    shop.product("C", on_hand=5, number=3)
    order_id = shop.order([("C", 1)], status="packing", reserve=True)  # no e-mail address
    report_in, _ = outbox(store, settings(hooks=hooks))
    report_in.report([DeliveryRequest(order_id, ["CS000000014SE"], everything(store, order_id))])
    assert {r.kind for r in rows_of(store)} == {WEBHOOK_KIND}
    report_in, _ = outbox(store, settings())
    assert report_in.outgoing is not None and not report_in.outgoing.senders.kinds


def rows_of(store):
    with store.read() as conn:
        return rows.listed(conn)


def test_r12_an_order_closed_packed_at_the_bench_fires_order_packed(store, bus, shop, hooks):
    from stationd.services.bench import BenchService

    ean = shop.product("D", on_hand=5, number=4)
    order_id = shop.order([("D", 2)], status="packing", reserve=True)
    report_in, worker = outbox(store, settings(hooks=hooks))
    bench = BenchService(store, bus, "bench-1")
    bench.outgoing = report_in.outgoing
    for code in (f"ORD-{order_id}", ean, "CS000000014SE", ean):
        assert bench.handle_scan(ScanRead(code, None, "serial:test")).ok
    assert not rows_of(store), "nothing until the order is packed"
    assert bench.handle_scan(ScanRead("CMD-DONE", None, "serial:test")).ready

    worker.step()

    [got] = hooks.events.values()
    assert got[0]["type"] == "order.packed" and got[0]["order_id"] == order_id
    assert got[0]["parcel_ids"] == ["CS000000014SE"]


def wait_until(what, *, why: str, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not what():
        assert time.monotonic() < deadline, f"never happened: {why}"
        time.sleep(0.02)


def test_r14_a_stalled_fiken_never_holds_up_the_customers_notice_nor_the_shops_webhooks(
    store, order_id, smtp, hooks
):
    fiken = FikenServer()
    config = settings(smtp, hooks)
    senders = Senders()
    senders.register(NOTICE_KIND, SmtpSender(config.mail, config.shop.name))
    senders.register(WEBHOOK_KIND, WebhookSender(config.webhooks))
    # The client's timeout is past anything the test waits: only the test ends the stall.
    accounting = AccountingSettings(
        send_to="fiken", api_url=fiken.url, api_token=TOKEN, company_slug=SLUG, timeout_s=120
    )
    senders.register(INVOICE_KIND, InvoiceSender(store, FikenSender.from_settings(accounting)))
    report_in = ReportIn(
        store,
        None,
        "bench-1",
        weighing=WEIGHING,
        outgoing=OutgoingQueue(store, senders, tracking_url=config.mail.tracking_url),
        books=Books(sales_accounts={25: "3000"}, vat_accounts={25: "2700"}),
    )
    worker = OutgoingWorker(store, senders, "bench-1", backoff=NOW_AGAIN)
    report_in.outgoing.wake = worker.notify
    with store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == order_id).values(currency="NOK"))
    fiken.faults.append("stall")  # Fiken makes the sale and does not answer
    worker.start()
    try:
        ids = lines(store, order_id)
        [done] = report_in.report([DeliveryRequest(order_id, ["CS000000014SE"], {ids["A"]: 1})])
        assert done.ok
        with store.read() as conn:
            written = {row.kind: row for row in rows.listed(conn)}
        # Written before the notice and the webhook: a worker that sends in order would
        # have them wait for Fiken.
        assert written[INVOICE_KIND].id < written[NOTICE_KIND].id < written[WEBHOOK_KIND].id

        wait_until(lambda: len(smtp.messages) == 1, why="the notice reaches the mail server")
        wait_until(lambda: len(hooks.ids()) == 1, why="the webhook reaches the shop")

        assert fiken.stalled.is_set() and not fiken.release.is_set()
        [message] = smtp.parsed()
        assert message["Message-ID"] == f"<{written[NOTICE_KIND].event_id}@shop.example>"
        assert hooks.ids() == {written[WEBHOOK_KIND].event_id}
        invoice, tries = state_of(store, written[INVOICE_KIND].event_id)
        assert invoice.state is OutgoingState.SENDING and tries == [], "Fiken still holds it"

        fiken.release.set()  # Fiken answers at last: the invoice row is sent, one sale
        wait_until(
            lambda: state_of(store, invoice.event_id)[0].state is OutgoingState.SENT,
            why="the invoice row is recorded sent",
        )
        assert [s["saleNumber"] for s in fiken.sales] == ["A-1"] and fiken.posts() == 1
        assert len(smtp.messages) == 1 and all(len(got) == 1 for got in hooks.events.values())
    finally:
        worker.stop()
        fiken.close()


def test_a_lane_puts_back_only_its_own_kinds_cut_off_sends(store, order_id, smtp, hooks):
    report_in, _ = outbox(store, settings(smtp, hooks))
    report_in.report([DeliveryRequest(order_id, ["CS000000014SE"], everything(store, order_id))])
    with store.write() as conn:  # the webhook lane is sending these right now
        taken = rows.claim_due(conn, "bench-1", utcnow(), kinds=[WEBHOOK_KIND])
    assert len(taken) == 2
    notices_only = Senders()
    notices_only.register(NOTICE_KIND, SmtpSender(settings(smtp).mail, "Fjällbutiken AB"))
    # The notice lane (re)starting: it puts back and sends its own kind, never the webhooks.
    OutgoingWorker(store, notices_only, "bench-1", backoff=NOW_AGAIN).step()

    assert len(smtp.messages) == 1 and not hooks.events
    for row in taken:
        still, tries = state_of(store, row.event_id)
        assert still.state is OutgoingState.SENDING and tries == []
