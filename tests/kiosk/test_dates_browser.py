"""Issue 12, item 12: the kiosk's date fields follow the station's language, not the browser's.

A Norwegian station on a Chromium whose own locale is English: the browser's date picker asked
for mm/dd/yyyy there. The extended search's dates are written as the station's people write
them (nb: 01.11.2026), in a field that says so."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from browser_support import open_page


@pytest.fixture
def running(make_station, make_shop):
    station = make_station(name="bench-1", language="nb", served=True)
    shop = make_shop(station.store)
    shop.product("A", on_hand=50, number=1)
    shop.order(
        [("A", 1)], status="order", order_id=1042, placed_at=datetime(2026, 10, 2, tzinfo=UTC)
    )
    shop.order(
        [("A", 1)], status="order", order_id=1043, placed_at=datetime(2026, 11, 2, tzinfo=UTC)
    )
    station.start()
    try:
        yield station
    finally:
        station.stop()


def test_r4_date_fields_are_written_the_stations_way_not_the_browsers(running, browser):
    with open_page(browser, 800, 480) as page:
        assert page.evaluate("navigator.language").startswith("en")  # the browser's own locale
        page.goto(running.url + "/orders?extended=1")
        field = page.locator("input[name=from]")
        assert field.get_attribute("type") == "text"
        assert field.get_attribute("placeholder") == "DD.MM.ÅÅÅÅ"
        field.fill("01.11.2026")
        page.click(".extended-buttons button.primary")
        # The list before the search has a head too: wait for the search's answer itself (on a
        # loaded machine the rows were counted before htmx swapped them in).
        page.wait_for_function(
            "document.querySelectorAll('#orders-results tr[id^=order-]').length === 1"
        )
        rows = page.locator("#orders-results tr[id^=order-]")
        assert rows.count() == 1 and "1043" in rows.first.inner_text()
