"""A synced bench in a real browser (Debian's Chromium) while its central PostgreSQL goes away
and comes back (issue 11): the bench packs an order it holds, central stops, the banner says
since when the bench is offline and how many changes wait, an item is packed and the order
reported in offline, central starts again, the page shows the catch-up down to nothing, and
central has every op. Central is a cluster of the test's own (`own_postgres`), never the shared
server; the bench's own database is its SQLite copy."""

from __future__ import annotations

import re
import time

import pytest
from browser_support import ARTIFACTS, open_page
from sqlalchemy import func, select

from stationd.core.audit import TestPageQueued
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.tables import events, order_lines, orders, sync_ops

pytestmark = pytest.mark.postgres

EAN_A = "7300000000011"
#: Ops written offline besides the packing: several push rounds (200 ops each), enough that
#: the catch-up lasts several of the watch's looks (0.5 s). Was 1,000: since central applies a
#: group's plain ops set-based (store/central_op_groups._Group) those went in about one look, and
#: the catch-up was sometimes never on screen.
BACKLOG = 5000
ORDER = 1042
#: Keeps the text of each banner the bench shows (the stream swaps the fragment).
RECORD_BANNERS = """
window.banners = [];
new MutationObserver(() => {
  const banner = document.querySelector('#bench .outage');
  const text = banner ? banner.innerText : '';
  if (text && window.banners[window.banners.length - 1] !== text) window.banners.push(text);
}).observe(document.body, {childList: true, subtree: true, characterData: true});
"""


def _shop(make_shop, store: Store) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop(store)
    shop.product("A", on_hand=5, name="Termos blå", number=1)
    shop.order([("A", 2)], status="packing", reserve=True, order_id=ORDER, customer="Åsa Öberg")


def _unsent(store: Store) -> int:
    with store.read() as conn:
        return conn.execute(
            select(func.count()).select_from(events).where(events.c.sent_at.is_(None))
        ).scalar_one()


def _banner_counts_what_waits(page, store: Store, within_s: float = 10.0) -> int:
    """The bench's offline banner says as many changes waiting as the outbox holds, read
    together (a push answer central gave just before it went may still be written meanwhile,
    so a count read once could be gone before the banner shows it); that count."""
    deadline = time.monotonic() + within_s
    while True:
        said = page.locator("#bench .outage").inner_text()
        waiting = _unsent(store)
        if f"— {waiting} ändring" in said:
            return waiting
        if time.monotonic() > deadline:
            raise AssertionError(f"the banner says {said!r}; {waiting} changes wait")
        time.sleep(0.1)


def _test_pages_printed(store: Store, count: int) -> None:
    """`count` test pages printed at the bench (its audit events: ops for central)."""
    with store.write() as conn:
        for job in range(count):
            record_event(conn, TestPageQueued("Etiketter", job), station="bench-1")


def _central_ops(central: Store) -> list[tuple[str, str]]:
    with central.read() as conn:
        return [
            (kind, outcome)
            for kind, outcome in conn.execute(
                select(sync_ops.c.kind, sync_ops.c.outcome).order_by(sync_ops.c.kind)
            ).all()
        ]


def test_issue_11_the_bench_packs_offline_shows_it_and_the_catch_up_and_central_gets_every_op(
    own_postgres, make_station, make_shop, browser
):
    if not own_postgres.running():
        own_postgres.start()
    central = Store(own_postgres.fresh_database())
    central.upgrade()
    _shop(make_shop, central)
    station = make_station(
        name="bench-1",
        language="sv",
        served=True,
        # Quick tries so the test is short; the banner's timing is the watch's, not these.
        sync={
            "central_url": central.url,
            "push_interval_s": 0.2,
            "poll_interval_s": 0.5,
            "timeout_s": 1.0,
            "claim_ahead": 0,
        },
    )
    _shop(make_shop, station.store)
    station.start()
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with open_page(browser, 800, 480) as page:
            page.goto(station.url + "/bench")
            page.fill("#code", f"ORD-{ORDER}")
            page.press("#code", "Enter")
            page.wait_for_selector("#bench tr[id^=line-]")
            page.fill("#code", EAN_A)
            page.press("#code", "Enter")
            page.wait_for_function(
                "document.querySelector('#bench table.lines').innerText.includes('1 / 2')"
            )
            assert page.locator("#bench .outage").count() == 0  # central answers

            own_postgres.stop()
            banner = page.wait_for_selector(
                "#bench .outage >> text=/Offline sedan/", timeout=30_000
            )
            assert "ändring" in banner.inner_text()
            # Packing goes on against the bench's copy; the banner counts what waits.
            page.fill("#code", EAN_A)
            page.press("#code", "Enter")
            page.wait_for_function(
                "document.querySelector('#bench table.lines').innerText.includes('2 / 2')"
            )
            unsent = _banner_counts_what_waits(page, station.store)
            assert unsent >= 1
            page.screenshot(path=str(ARTIFACTS / "bench-central-away-800x480.png"))

            # Report-in offline (R13): a parcel id typed at ship-out, then "report in".
            page.goto(f"{station.url}/shipout?order={ORDER}")
            row = f"#order-{ORDER}"
            page.wait_for_selector(f"{row}.selected")
            page.keyboard.type("00370000000000000011")
            page.keyboard.press("Enter")
            page.wait_for_function(
                f"document.getElementById('saved-{ORDER}-1').value !== ''", timeout=10_000
            )
            page.locator("button.report").click()
            outcome = page.locator(f"#outcome-{ORDER}")
            outcome.wait_for(timeout=10_000)
            assert "ok" in (outcome.get_attribute("class") or "").split()

            page.goto(station.url + "/bench")
            page.wait_for_selector("#bench .outage >> text=/Offline sedan/", timeout=10_000)
            # Every banner the page shows from now on, in order (a catch-up of a few ops may
            # be over between two of the watch's looks: what is seen must only count down).
            # The bench's other offline work (test pages from the Devices page): more than a
            # few push rounds, so that the catch-up is on screen while the backlog goes.
            _test_pages_printed(station.store, BACKLOG)
            waiting = _banner_counts_what_waits(page, station.store)
            assert waiting >= BACKLOG + unsent
            page.evaluate(RECORD_BANNERS)
            own_postgres.start()
            page.wait_for_selector("#bench .outage >> text=/Centralen är tillbaka/", timeout=60_000)
            page.wait_for_selector("#bench .outage", state="detached", timeout=60_000)
            seen = page.evaluate("window.banners")
            left = [int(m) for text in seen for m in re.findall(r"(\d+) kvar", text)]
            assert left == sorted(left, reverse=True), seen
            assert all("Offline sedan" in t or "Centralen är tillbaka" in t for t in seen), seen
            assert left and left[0] > 0, seen  # the catch-up was shown, counting down
            page.screenshot(path=str(ARTIFACTS / "bench-central-back-800x480.png"))
        with station.store.read() as conn:
            local = conn.execute(select(events.c.kind, events.c.outcome)).all()
        ops = _central_ops(central)
        # Every op the bench wrote under sync reached central once, and each was accepted.
        assert len(ops) == len([e for e in local if e.outcome is not None])
        assert all(outcome == "accepted" for _, outcome in ops), ops
        kinds = [kind for kind, _ in ops]
        # Rows counted: both items (one packed online, one offline), the parcel id, the report.
        assert kinds.count("order.item_packed") == 2
        assert kinds.count("order.parcel_id_added") == 1
        assert kinds.count("order.shipped") == 1
        with central.read() as conn:
            status = conn.execute(select(orders.c.status).where(orders.c.id == ORDER)).scalar_one()
            delivered = conn.execute(
                select(func.sum(order_lines.c.delivered)).where(order_lines.c.order_id == ORDER)
            ).scalar_one()
        assert (status, delivered) == ("shipped", 2)
    finally:
        station.stop()
        central.dispose()
