"""The bench in a real browser (Debian's Chromium through Playwright) against a running
station: a 5-line order with a comment fits the 800×480 touchscreen without scrolling, a touch
on + counts and is redrawn, and the command sheet's barcodes on the screen read back with
zxing-cpp from a screenshot."""

from __future__ import annotations

import dataclasses
import io

import pytest
import zxingcpp
from browser_support import ARTIFACTS, open_page
from PIL import Image
from sqlalchemy import select

from stationd.config import settings_from_dict
from stationd.events import ScanRead
from stationd.station import Station
from stationd.store.tables import order_lines, parcel_ids


@pytest.fixture
def running(tmp_path, make_shop):
    settings = settings_from_dict(
        {
            "station": {"name": "bench-1", "state_dir": str(tmp_path), "language": "en"},
            "packscript": {"interval_min": 0},
        }
    )
    settings = dataclasses.replace(settings, kiosk=dataclasses.replace(settings.kiosk, port=0))
    station = Station(settings)
    station.store.upgrade()
    shop = make_shop(station.store)
    names = ["Termos blå 0,5 l", "Ullvantar röda", "Mössa grå", "Halsduk lång", "Sockor 3-pack"]
    for number, name in enumerate(names, start=1):
        shop.product(f"SKU-{number}", name=name, number=number)
    shop.order(
        [(f"SKU-{n}", 2) for n in range(1, 6)],
        status="packing",
        reserve=True,
        order_id=1042,
        customer="Åsa Öberg",
        comment="Lägg i en extra påse, tack.",
    )
    station.start()
    station.bench.handle_scan(ScanRead("ORD-1042", None, "serial:gun"))
    try:
        yield station
    finally:
        station.stop()


def test_r12_a_five_line_order_fits_800x480_and_a_touch_counts(running, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    with open_page(browser, 800, 480) as page:
        page.goto(running.url + "/bench")
        page.wait_for_selector("#bench table.lines")
        assert page.locator("#bench tr[id^=line-]").count() == 5
        assert "Lägg i en extra påse" in page.inner_text("#bench")
        # Nothing to scroll: the page is no taller than the screen, and nothing of the bench
        # (main) reaches past its right edge. (The navigation bar is the frame's.)
        assert page.evaluate("document.documentElement.scrollHeight") <= 480
        right = page.eval_on_selector_all(
            "main *", "els => Math.max(...els.map(e => e.getBoundingClientRect().right))"
        )
        assert right <= 800
        sizes = page.eval_on_selector_all(
            "#bench form.adjust button, .bench-side button",
            "els => els.map(e => [e.getBoundingClientRect().width, e.offsetHeight])",
        )
        assert len(sizes) == 16 and all(w >= 48 and h >= 48 for w, h in sizes)
        first = page.locator("#bench tr[id^=line-]").first
        first.locator("button.plus").click()
        page.wait_for_selector("#bench .outcome.ok >> text=/Packed Termos/")
        assert "1 / 2" in first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "bench-touch-800x480.png"))
    with running.store.read() as conn:
        packed = conn.execute(select(order_lines.c.packed).order_by(order_lines.c.id)).scalars()
        assert list(packed) == [1, 0, 0, 0, 0]


def test_command_sheet_barcodes_on_the_screen_read_back(running, browser):
    with open_page(browser, 1280, 800) as page:
        page.goto(running.url + "/bench/commands")
        page.wait_for_selector("svg.code128")
        shot = page.screenshot(path=str(ARTIFACTS / "bench-commands-1280x800.png"), full_page=True)
    found = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(shot)), formats=zxingcpp.BarcodeFormat.Code128
    )
    assert sorted(r.text for r in found) == sorted(
        ["CMD-DONE", "CMD-NEXT-PARCEL", "CMD-PARTIAL", "CMD-UNDO", "CMD-CANCEL"]
    )


def _gtins(station: Station) -> list[str]:
    with station.store.read() as conn:
        return list(conn.execute(select(order_lines.c.gtin).order_by(order_lines.c.id)).scalars())


def test_r14_cancel_at_the_bench_takes_back_what_was_packed_and_ship_out_proposes_nothing(
    running, browser
):
    """Issue 12, item 1, as the packer sees it: an item scanned, then Cancel — the sheet and
    the message say it is taken back, and ship-out has nothing of the order to propose."""
    first = _gtins(running)[0]
    with open_page(browser, 800, 480) as page:
        page.goto(running.url + "/bench")
        page.wait_for_selector("#bench table.lines")
        page.fill("#code", first)
        page.press("#code", "Enter")
        page.wait_for_selector("#bench .outcome.ok >> text=/Packed Termos/")
        page.click("button.command.cancel")
        outcome = page.wait_for_selector("#bench .outcome.ok >> text=/taken back out/")
        assert outcome.inner_text() == (
            "Order 1042 closed at the bench; the 1 item(s) packed since it was opened are "
            "taken back out."
        )
        page.screenshot(path=str(ARTIFACTS / "bench-cancel-800x480.png"))
        page.goto(running.url + "/shipout")
        page.wait_for_selector("main")
        assert page.locator("#order-1042").count() == 0
    with running.store.read() as conn:
        packed = conn.execute(select(order_lines.c.packed).order_by(order_lines.c.id)).scalars()
        assert list(packed) == [0, 0, 0, 0, 0]


def test_r13_an_unknown_code_at_a_packed_order_is_red_and_no_parcel_id(running, browser):
    """Issue 12, item 2, as the packer sees it: with the order fully packed, typing "hello"
    made it parcel id HELLO. It is an unknown code now, in red with the error sound; an S10
    id is still taken."""
    for gtin in _gtins(running):
        for _ in range(2):
            assert running.bench.handle_scan(ScanRead(gtin, None, "serial:gun")).ok
    with open_page(browser, 800, 480) as page:
        page.goto(running.url + "/bench")
        page.wait_for_selector("#bench table.lines")
        page.fill("#code", "hello")
        page.press("#code", "Enter")
        page.wait_for_selector("#bench .outcome.error >> text=/Unknown code/")
        outcome = page.locator("#bench .outcome.error")
        assert outcome.inner_text().startswith("Unknown code hello: it is no order, product")
        assert outcome.get_attribute("data-sound") == "error"
        assert page.evaluate(
            "getComputedStyle(document.querySelector('#bench .outcome.error')).color"
        ) != page.evaluate("getComputedStyle(document.body).color")
        page.screenshot(path=str(ARTIFACTS / "bench-unknown-code-800x480.png"))
        assert "HELLO" not in page.inner_text("#bench")
        page.fill("#code", "RR473124829SE")
        page.press("#code", "Enter")
        page.wait_for_selector("#bench .outcome.ok >> text=/RR473124829SE added to order 1042/")
    with running.store.read() as conn:
        kept = conn.execute(select(parcel_ids.c.parcel_id)).scalars().all()
    assert kept == ["RR473124829SE"]
