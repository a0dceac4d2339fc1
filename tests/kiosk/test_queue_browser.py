"""The outbound queue and the devices page in a real browser (Debian's Chromium through
Playwright) against a running station at the touchscreen's 800×480: rows selected by touch,
the invoice button's reason on screen, a print whose marker is struck through live without
losing the selection, a test print, a job's preview and a scan arriving live."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from browser_support import ARTIFACTS, open_page

from stationd.config import settings_from_dict
from stationd.station import Station


@pytest.fixture
def running(tmp_path, make_shop) -> Iterator[Station]:
    settings = settings_from_dict(
        {
            "station": {"name": "bench-2", "state_dir": str(tmp_path), "language": "en"},
            "packscript": {"interval_min": 0},
            "scanners": [{"name": "gun", "kind": "simulated"}],
            "printers": [
                {"name": "receipts", "kind": "simulated"},
                {"name": "labels", "kind": "simulated"},
            ],
            "print": {
                "picklist": "receipts",
                "receipt": "receipts",
                "picklist_receipt": "receipts",
                "invoice": "receipts",
                "label": "labels",
            },
        }
    )
    settings = dataclasses.replace(settings, kiosk=dataclasses.replace(settings.kiosk, port=0))
    station = Station(settings)
    station.store.upgrade()
    shop = make_shop(station.store)
    shop.product("A", name="Termos blå", number=1)
    shop.order([("A", 1)], status="packing", reserve=True, order_id=1042, customer="Åsa Öberg")
    shop.order(
        [("A", 1)],
        status="packing",
        reserve=True,
        order_id=1050,
        customer="Kåre Ødegård",
        payment_method="own_invoice",
    )
    shop.order([("A", 2)], status="packing", reserve=True, order_id=1051)
    station.start()
    try:
        yield station
    finally:
        station.stop()


def assert_touch_sized(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    for box in page.locator(selector).all():
        size = box.bounding_box()
        assert size is not None and size["height"] >= 48 and size["width"] >= 48, (selector, size)


def test_r9_r10_select_by_touch_print_and_see_the_marker_struck_through_live(running, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    with open_page(browser, 800, 480) as page:
        page.goto(running.url + "/queue")
        invoice = page.locator("button.print.invoice")
        assert invoice.is_disabled()
        assert_touch_sized(page, "#rows td.pick label.check")
        assert_touch_sized(page, "button.print")

        page.locator("#order-1042 td.customer").click()  # a touch on the row selects it
        page.wait_for_selector("text=1 order selected")
        page.wait_for_selector("#why-invoice >> text=Order 1042 is not paid by own invoice")
        assert invoice.is_disabled()

        page.locator("#order-1042 td.customer").click()
        page.locator("#order-1050 td.customer").click()
        page.wait_for_selector("text=1 order selected")
        page.wait_for_function("!document.querySelector('button.print.invoice').disabled")

        page.locator("#select-page").check()  # select all on this page
        page.wait_for_selector("text=3 orders selected")
        page.wait_for_selector("#why-invoice >> text=Invoices print one order at a time.")
        page.screenshot(path=str(ARTIFACTS / "queue-selected-800x480.png"))

        page.locator("button.print.picklist").click()
        page.wait_for_selector("#outcome >> text=Pick list: 3 print jobs sent to printer")
        assert running.printers["receipts"].wait_for(3, timeout=5)
        page.wait_for_selector('#order-1051 s.printed[data-doc="picklist"]')  # live, by SSE
        # Issue 12, item 12: the ticks end with the print they were made for.
        page.wait_for_function(
            "document.querySelectorAll('#rows tbody input[name=order]:checked').length === 0"
        )
        page.locator("#order-1042 td.customer").click()
        page.wait_for_selector("text=1 order selected")
        page.reload()  # nor do they survive a reload
        page.wait_for_selector("#rows tbody input[name=order]")
        assert page.locator("#rows tbody input[name=order]:checked").count() == 0

        page.locator("#select-page").check()
        page.wait_for_selector("text=3 orders selected")
        page.locator("button.print.picklist").click()  # again: R10 asks first
        page.wait_for_selector("#outcome >> text=Yes, print again")
        page.screenshot(path=str(ARTIFACTS / "queue-reprint-800x480.png"))
        assert len(running.printers["receipts"].printed) == 3
        page.locator("#outcome button.again").click()
        page.wait_for_selector("#outcome >> text=3 print jobs sent")
        assert running.printers["receipts"].wait_for(6, timeout=5)


def test_devices_test_print_preview_and_a_live_scan(running, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    with open_page(browser, 800, 480) as page:
        page.goto(running.url + "/devices")
        assert_touch_sized(page, "button.test-print")
        page.locator("#printer-labels button.test-print").click()
        page.wait_for_selector("#devices-outcome >> text=Test page sent to printer “labels”")
        assert running.printers["labels"].wait_for(1, timeout=5)
        assert running.printers["labels"].printed[0].startswith(b"^XA")

        page.locator("#printer-labels button", has_text="Preview").first.click()
        picture = page.locator("#preview img")
        picture.wait_for()
        page.wait_for_function(
            "document.querySelector('#preview img').complete"
            " && document.querySelector('#preview img').naturalWidth > 0"
        )
        page.screenshot(path=str(ARTIFACTS / "devices-preview-800x480.png"))
        page.keyboard.press("Escape")
        page.wait_for_function("document.getElementById('preview').innerHTML === ''")

        running.scanners[0].scan("ORD-1042")
        page.wait_for_selector("table.scans >> text=Order 1042")
        page.screenshot(path=str(ARTIFACTS / "devices-800x480.png"))
