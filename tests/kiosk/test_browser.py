"""A new user's path in a real browser: `stationd demo` in its own process, Debian's Chromium
driven by Playwright opens the station's address and lands on the outbound queue; every page
of the kiosk at the touchscreen's 800×480, written to test-artifacts/ (the README's pictures).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from browser_support import open_page, screenshot
from demo_process import DemoProcess


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    demo = DemoProcess(tmp_path_factory.mktemp("demo"))
    demo.wait_listening()
    yield demo
    code, output = demo.stop()
    assert code == 0, output
    assert "Traceback" not in output


def test_demo_leads_to_the_queue_page_in_a_browser(demo, browser):
    with open_page(browser) as page:
        page.goto(demo.url + "/")
        # The demo station speaks Swedish, the default language of a station.
        assert page.title().startswith("Utleverans")
        assert page.locator("tr[id^=order-]").count() >= 50
        assert re.search(r"\d+ order att packa", page.inner_text("main"))


def open_first_order_at_the_bench(state: Path) -> None:
    """A packer scanned the oldest order's pick list and one of its items."""
    db = sqlite3.connect(state / "stationd.sqlite")
    first = db.execute(
        "SELECT id FROM orders WHERE status = 'packing' AND NOT waiting AND id NOT IN "
        "(SELECT order_id FROM deliveries) ORDER BY placed_at LIMIT 1"
    ).fetchone()[0]
    gtin = db.execute(
        "SELECT gtin FROM order_lines WHERE order_id = ? ORDER BY position", (first,)
    ).fetchone()[0]
    db.close()
    with open(state / "scan.fifo", "w") as pipe:
        pipe.write(f"ORD-{first}\n{gtin[1:]}\n")


#: The pages whose picture in the README this test takes; the bench and ship-out ones come from
#: tests/kiosk/test_whole_flow.py, mid-flow.
README_PAGES = {"queue", "orders", "tools", "settings", "devices", "operators"}


def test_screenshot_of_every_page_at_the_touchscreen_size(demo, browser):
    open_first_order_at_the_bench(demo.state_dir)
    with open_page(browser, width=800, height=480, refusals=True) as page:
        page.goto(demo.url + "/queue")
        links = page.eval_on_selector_all("nav.top a", "links => links.map(a => a.pathname)")
        assert "/queue" in links and "/bench" in links
        for path in links:
            name = path.strip("/").replace("/", "-")
            page.goto(demo.url + path)
            page.wait_for_load_state("networkidle")
            if path == "/bench":
                page.wait_for_selector("text=/Packat /")
            if path == "/settings":
                # The new-status form refusing a code in use: the sentence beside the form.
                page.fill("form.create input.code", "backorder")
                page.fill("form.create input.name", "Restorder igen")
                page.click("form.create button.primary")
                said = page.wait_for_selector("form.create [role=alert]")
                assert said.inner_text().strip() == "Statuskoden BACKORDER används redan."
            readme = name if name in README_PAGES else None
            target = screenshot(page, f"{name}-800x480", readme=readme)
            assert target.stat().st_size > 5_000
            assert not re.search(r"\b500\b", page.inner_text("main")[:40])
