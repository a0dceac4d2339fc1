"""The ship-out page in a real browser (Debian's Chromium through Playwright) against a running
station: parcel ids kept as their fields are left and back after a reload, the × that takes one
off, and the list that redraws live — an order packed at the bench appears, one shipped at
another screen goes, a parcel id scanned at the bench shows on its card — without wiping what
the packer is typing in another card."""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS, open_page
from sqlalchemy import select, update

from stationd.events import ScanRead
from stationd.station import Station
from stationd.store.deliveries import pending_parcel_ids
from stationd.store.tables import order_lines

GOOD_S10 = "RR473124829SE"


@pytest.fixture
def running(make_station, make_shop):
    station = make_station(name="shipout-1", served=True, shipping={"carrier": "simulated"})
    shop = make_shop(station.store)
    shop.product("A", on_hand=20, name="Termos blå 0,5 l", number=1)
    shop.product("B", on_hand=20, name="Ullvantar röda", number=2)
    shop.order([("A", 2), ("B", 1)], status="packing", reserve=True, order_id=1042)
    shop.order([("A", 1)], status="packing", reserve=True, order_id=1043, customer="Åsa Öberg")
    shop.order([("B", 1)], status="packing", reserve=True, order_id=1045)
    with station.store.write() as conn:
        conn.execute(
            update(order_lines)
            .where(order_lines.c.order_id.in_([1042, 1043]))
            .values(packed=order_lines.c.quantity)
        )
    station.start()
    try:
        yield station
    finally:
        station.stop()


def kept(station: Station, order_id: int) -> list[str]:
    with station.store.read() as conn:
        return pending_parcel_ids(conn, [order_id])[order_id]


def gtin_of(station: Station, sku: str) -> str:
    with station.store.read() as conn:
        gtin = conn.execute(select(order_lines.c.gtin).where(order_lines.c.sku == sku)).scalar()
    return gtin[1:]  # the EAN-13 the scanner reads


def test_r13_ids_kept_as_fields_are_left_and_the_list_redraws_without_wiping_typing(
    running, browser
):
    ARTIFACTS.mkdir(exist_ok=True)
    with open_page(browser, 1280, 800) as page:
        page.goto(running.url + "/shipout")
        page.wait_for_selector("#order-1042")
        assert page.locator("#order-1045").count() == 0  # nothing of it packed yet
        # A parcel id typed (or wedge-scanned) into order 1042's field: Enter moves on and
        # leaving the field keeps it.
        page.fill("#parcel-1042-1", GOOD_S10.lower())
        page.press("#parcel-1042-1", "Enter")
        page.wait_for_selector("#check-1042-1 >> text=/kept/")
        assert kept(running, 1042) == [GOOD_S10]
        # The packer starts typing in order 1043's field and has not left it yet.
        page.click("#parcel-1043-1")
        page.keyboard.type("PKG-00")
        # Meanwhile the bench packs order 1045 and scans its parcel id.
        for code in ("ORD-1045", gtin_of(running, "B"), "CC000045007SE"):
            running.bench.handle_scan(ScanRead(code, None, "serial:gun"))
        page.wait_for_selector("#order-1045 #parcel-1045-1[value='CC000045007SE']")
        assert "Parcel id CC000045007SE added to order 1045 (1 of 4)." in page.inner_text(
            "#live-said"
        )
        # What the packer was typing is still there, and still has the focus.
        assert page.input_value("#parcel-1043-1") == "PKG-00"
        assert page.evaluate("document.activeElement.id") == "parcel-1043-1"
        page.keyboard.type("01")
        assert page.input_value("#parcel-1043-1") == "PKG-0001"
        page.screenshot(path=str(ARTIFACTS / "shipout-live-1280x800.png"), full_page=True)
        # Order 1042 ships at another screen: its card goes, 1043 keeps its typing.
        running.report_in.ship(1042, [GOOD_S10], use_scale=False)
        page.wait_for_selector("#order-1042", state="detached")
        assert page.input_value("#parcel-1043-1") == "PKG-0001"
        page.press("#parcel-1043-1", "Tab")
        page.wait_for_selector("#check-1043-1 >> text=/kept/")
        assert kept(running, 1043) == ["PKG-0001"]
        # A reload draws the page from the database: the kept ids are back in their fields.
        page.reload()
        page.wait_for_selector("#order-1043")
        assert page.input_value("#parcel-1043-1") == "PKG-0001"
        assert page.input_value("#parcel-1045-1") == "CC000045007SE"
        # × takes it off the delivery again.
        page.click("#order-1043 .parcel-slot:first-child .clear")
        page.wait_for_function("document.getElementById('saved-1043-1').value === ''")
        assert kept(running, 1043) == []
        assert page.input_value("#parcel-1043-1") == ""


def test_the_page_fits_the_800x480_touchscreen_with_48px_targets(running, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    with open_page(browser, 800, 480) as page:
        page.goto(running.url + "/shipout")
        page.wait_for_selector("#order-1042")
        page.fill("#parcel-1042-1", GOOD_S10)
        page.press("#parcel-1042-1", "Enter")
        page.wait_for_selector("#check-1042-1 >> text=/kept/")
        right = page.eval_on_selector_all(
            "main *", "els => Math.max(...els.map(e => e.getBoundingClientRect().right))"
        )
        assert right <= 800
        # The kept id redraws the list (its stream): measured once the card shows again
        # (read in the middle of that, the card had no target shown; failed 1 run in 5).
        sizes: list = []
        for _ in range(50):
            sizes = page.eval_on_selector_all(
                "#order-1042 button, #order-1042 input.parcel",
                """els => els
                    .filter(e => e.getClientRects().length)
                    .filter(e => getComputedStyle(e).visibility !== 'hidden')
                    .map(e => [e.getBoundingClientRect().width, e.offsetHeight])""",
            )
            if sizes:
                break
            page.wait_for_timeout(100)
        assert sizes and all(w >= 48 and h >= 48 for w, h in sizes)
        page.screenshot(path=str(ARTIFACTS / "shipout-800x480.png"))
