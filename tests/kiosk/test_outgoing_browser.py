"""Tools → Outgoing in a real browser (Debian's Chromium through Playwright) against a running
station at the touchscreen's 800×480: a webhook the shop failed is shown with its reason, and
"Send again" (htmx, with the page's CSRF token) sends it again — the shop gets the same id."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from browser_support import ARTIFACTS, open_page
from outgoing_servers import WEBHOOK_SECRET, WebhookServer

from stationd.clock import utcnow
from stationd.core.outgoing import WEBHOOK_KIND, OutgoingState, WebhookEvent, webhook_body
from stationd.store import outgoing as rows


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    yield server
    server.stop()


@pytest.fixture
def running(make_station, hooks):  # type: ignore[no-untyped-def]
    station = make_station(
        name="bench-3",
        served=True,
        webhooks={"url": hooks.url, "secret": WEBHOOK_SECRET},
        outgoing={"max_attempts": 1},  # one failed try and it waits for a person
    )
    station.start()
    try:
        yield station
    finally:
        station.stop()


def wait_for_state(station, event_id: str, state: OutgoingState, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with station.store.read() as conn:
            if rows.get(conn, event_id).state is state:
                return
        time.sleep(0.05)
    raise AssertionError(f"{event_id} never became {state}")


def test_a_failed_webhook_shows_its_reason_and_send_again_sends_the_same_id(
    running, hooks, browser
):
    hooks.faults.append("500")
    event_id, now = rows.new_event_id(), utcnow()
    body = webhook_body(WebhookEvent.ORDER_PACKED, event_id, now, order_id=1042)
    with running.store.write() as conn:
        running.outgoing.add(conn, WEBHOOK_KIND, body, at=now, event_id=event_id)
    wait_for_state(running, event_id, OutgoingState.FAILED)

    ARTIFACTS.mkdir(exist_ok=True)
    with open_page(browser, 800, 480) as page:
        page.goto(running.url + "/tools")
        page.locator("a.button", has_text="Outgoing").click()
        page.wait_for_selector("text=0 waiting, 1 failed, 0 sent")
        row = page.locator(f'table.failed tr[data-event="{event_id}"]')
        assert "The shop's webhook was sent but its answer was lost or a failure: HTTP 500." in (
            row.inner_text()
        )
        page.screenshot(path=str(ARTIFACTS / "outgoing-failed-800x480.png"))

        row.locator("button", has_text="Send again").click()
        wait_for_state(running, event_id, OutgoingState.SENT)
        page.reload()
        page.wait_for_selector(f'table.sent tr[data-event="{event_id}"]')
        page.wait_for_selector("text=0 waiting, 0 failed, 1 sent")

    assert list(hooks.events) == [event_id] and len(hooks.events[event_id]) == 2
