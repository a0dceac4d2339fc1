"""Tools → Outgoing (issue 13 section 4): what waits, what failed with its reason, what was
sent, and "Send again" (a POST with the kiosk's CSRF token) — the page in the packer's language."""

from __future__ import annotations

from kiosk.conftest import kiosk_client
from outgoing_servers import WEBHOOK_SECRET

from stationd.clock import utcnow
from stationd.core.outgoing import INVOICE_KIND, WEBHOOK_KIND
from stationd.kiosk.csrf import COOKIE, new_token
from stationd.kiosk.i18n import COOKIE as LANGUAGE_COOKIE
from stationd.store import outgoing as rows


def test_the_outgoing_page_shows_failed_ones_with_their_reason_and_sends_one_again(
    make_station,
):
    station = make_station(
        name="kiosk-test",
        webhooks={"url": "http://127.0.0.1:9/hooks", "secret": WEBHOOK_SECRET},
    )
    now = utcnow()
    with station.store.write() as conn:
        failed = rows.add(conn, WEBHOOK_KIND, {"type": "order.shipped"}, at=now, order_id=1042)
        waiting = rows.add(conn, WEBHOOK_KIND, {"type": "order.packed"}, at=now, order_id=1043)
        [row] = rows.claim_due(conn, "kiosk-test", now, kinds=[WEBHOOK_KIND], limit=1)
        rows.mark_failed(
            conn, row.id, "kiosk-test", now, "the shop answered 500", next_attempt_at=None
        )
    client = kiosk_client(station)

    page = client.get("/tools/outgoing").get_data(as_text=True)
    assert "1 waiting, 1 failed, 0 sent" in page
    assert "the shop answered 500" in page and failed in page and waiting in page
    assert page.count("Send again") == 1  # only the failed one: the waiting one goes by itself

    answer = client.post(f"/tools/outgoing/{failed}/resend")
    assert answer.status_code == 303
    with station.store.read() as conn:
        assert rows.get(conn, failed).state.value == "pending"
    assert "2 waiting, 0 failed, 0 sent" in client.get("/tools/outgoing").get_data(as_text=True)
    # Again while it waits: refused with a sentence, nothing changed.
    again = client.post(f"/tools/outgoing/{failed}/resend")
    assert again.status_code == 409 and "waiting to be sent already" in again.get_data(as_text=True)

    client.set_cookie(LANGUAGE_COOKIE, "sv")
    assert "Skicka igen" not in client.get("/tools/outgoing").get_data(as_text=True)  # none failed
    assert "2 väntar, 0 misslyckade, 0 skickade" in client.get("/tools/outgoing").get_data(
        as_text=True
    )


def test_a_resend_without_the_csrf_token_is_refused(make_station):
    station = make_station(name="kiosk-test")
    with station.store.write() as conn:
        event_id = rows.add(conn, WEBHOOK_KIND, {}, at=utcnow())
    station.app.testing = True
    client = station.app.test_client()
    client.set_cookie(COOKIE, new_token(station.app.config["CSRF_SECRET"]))
    assert client.post(f"/tools/outgoing/{event_id}/resend").status_code == 403


def test_a_failed_ones_reason_is_shown_in_the_admins_language(make_station):
    station = make_station(
        name="kiosk-test",
        webhooks={"url": "http://127.0.0.1:9/hooks", "secret": WEBHOOK_SECRET},
        outgoing={"max_attempts": 1},  # the first failed try is failed for good
    )
    with station.store.write() as conn:
        event_id = rows.add(conn, WEBHOOK_KIND, {"type": "order.shipped"}, at=utcnow())
        # An invoice send no sender here takes: it waits, named in the page's language.
        rows.add(conn, INVOICE_KIND, {"reference": "A-17"}, at=utcnow())
    station.outgoing_worker.step()  # nothing listens on port 9: the shop can't be reached
    with station.store.read() as conn:
        row = rows.get(conn, event_id)
        [tried] = rows.attempts_of(conn, row.id)
    assert row.state.value == "failed" and tried.reason == row.last_error
    client = kiosk_client(station)

    client.set_cookie(LANGUAGE_COOKIE, "sv")
    page = client.get("/tools/outgoing").get_data(as_text=True)
    assert "Stationen når inte butikens webhook; kontrollera nätverket och försök igen." in page
    assert "reach" not in page and "webhook;" in page
    assert "Faktura <small>A-17</small>" in page

    client.set_cookie(LANGUAGE_COOKIE, "en")
    page = client.get("/tools/outgoing").get_data(as_text=True)
    assert "The station can&#39;t reach the shop&#39;s webhook; check the network" in page
