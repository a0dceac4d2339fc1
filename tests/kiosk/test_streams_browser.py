"""One live stream per page, in a real browser (Debian's Chromium through Playwright) against a
running station (issue 10 item 4): every page opens a single EventSource, which carries the
operator chip as well as the page's own events; a page refused a stream (every slot taken) tries
again and goes live once a slot is free."""

from __future__ import annotations

import dataclasses

import pytest
from browser_support import open_page

from stationd.config import settings_from_dict
from stationd.events import ScanRead
from stationd.station import Station

#: Counts the EventSources the page makes (htmx's SSE extension and any script of ours).
COUNT_STREAMS = """
(() => {
  const Real = window.EventSource;
  window.__streams = [];
  function Counted(url, options) {
    window.__streams.push(String(url));
    return new Real(url, options);
  }
  Counted.prototype = Real.prototype;
  Counted.CONNECTING = Real.CONNECTING; Counted.OPEN = Real.OPEN; Counted.CLOSED = Real.CLOSED;
  window.EventSource = Counted;
})();
"""

PAGES = (
    "/queue",
    "/bench",
    "/shipout",
    "/orders",
    "/orders/1042",
    "/tools",
    "/settings",
    "/devices",
    "/operators",
    "/operators/signin",
)


@pytest.fixture
def running(tmp_path, make_shop):
    settings = settings_from_dict(
        {
            "station": {"name": "streams-1", "state_dir": str(tmp_path), "language": "en"},
            "packscript": {"interval_min": 0},
            "shipping": {"carrier": "simulated"},
        }
    )
    settings = dataclasses.replace(settings, kiosk=dataclasses.replace(settings.kiosk, port=0))
    station = Station(settings)
    station.store.upgrade()
    shop = make_shop(station.store)
    shop.product("A", on_hand=20, name="Termos blå 0,5 l", number=1)
    shop.order([("A", 2)], status="packing", reserve=True, order_id=1042)
    station.start()
    station.operators.create("Anna", badge_code="ANNA7", pin="4711")
    try:
        yield station
    finally:
        station.stop()


def streams_opened(page) -> list[str]:  # type: ignore[no-untyped-def]
    page.wait_for_function("window.__streams && window.__streams.length > 0")
    page.wait_for_timeout(700)  # a second one, were there one, would be open by now
    return page.evaluate("window.__streams")


def test_every_page_opens_one_stream(running, browser):
    with open_page(browser, 1280, 800) as page:
        page.add_init_script(COUNT_STREAMS)
        for path in PAGES:
            page.goto(running.url + path)
            opened = streams_opened(page)
            assert len(opened) == 1, (path, opened)
            assert "op=0" in opened[0], (path, opened)  # the chip rides on it


def test_the_operator_chip_goes_live_over_the_pages_own_stream(running, browser):
    with open_page(browser, 1280, 800) as page:
        page.add_init_script(COUNT_STREAMS)
        for path in ("/bench", "/shipout", "/orders"):
            running.operators.sign_out()
            page.goto(running.url + path)
            streams_opened(page)
            running.bench.handle_scan(ScanRead("OP-ANNA7", None, "serial:/dev/ttyACM0"))
            page.wait_for_selector("#operator-box >> text=Anna", timeout=5000)
            assert len(page.evaluate("window.__streams")) == 1


def test_a_page_refused_a_stream_tries_again_and_goes_live(running: Station, browser):
    slots = running.app.config["STREAM_SLOTS"]
    taken = []
    while (release := slots.take("127.0.0.1")) is not None:
        taken.append(release)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.add_init_script(COUNT_STREAMS)
        page.goto(running.url + "/bench")
        page.wait_for_function("window.__streams && window.__streams.length > 0")
        for release in taken:
            release()
        # htmx's SSE extension opens it again after 0.5, 1, 2 … s.
        page.wait_for_function("window.__streams.length > 1", timeout=10_000)
        page.wait_for_timeout(500)
        running.bench.handle_scan(ScanRead("ORD-1042", None, "serial:/dev/ttyACM0"))
        page.wait_for_selector("#bench >> text=Order 1042 open", timeout=5000)
    finally:
        context.close()
