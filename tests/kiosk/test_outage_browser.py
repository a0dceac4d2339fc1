"""The bench page in a real browser (Debian's Chromium) while its PostgreSQL goes away and comes
back (issue 10, item 3): within a second it says that scans are kept and wait for the
database, it counts a scan read meanwhile on the serial port and a code typed at the bench, and
it shows the catch-up — both counted on the order — when the server returns. The cluster is
the test's own (`own_postgres`), never the shared one."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest
from browser_support import ARTIFACTS, open_page
from bus_waits import next_event, next_state
from pty_device import PtyDevice

from stationd.config import settings_from_dict
from stationd.events import DeviceStateChanged, ScanOutcome
from stationd.station import Station
from stationd.store.database import Store

pytestmark = pytest.mark.postgres

EAN_A = b"7300000000011"


@pytest.fixture
def station_on_own_postgres(tmp_path, own_pg_url, make_shop) -> Iterator[tuple[Station, PtyDevice]]:
    scanner = PtyDevice()
    settings = settings_from_dict(
        {
            "station": {"name": "bench-1", "state_dir": str(tmp_path), "language": "sv"},
            "database": {"url": own_pg_url, "busy_timeout_s": 1},
            "packscript": {"interval_min": 0},
            "scanners": [{"name": "gun", "kind": "serial", "port": scanner.path}],
        }
    )
    settings = dataclasses.replace(settings, kiosk=dataclasses.replace(settings.kiosk, port=0))
    seed = Store(own_pg_url)
    seed.upgrade()
    shop = make_shop(seed)
    shop.product("A", on_hand=5, name="Termos blå", number=1)
    shop.order([("A", 2)], status="packing", reserve=True, order_id=1042, customer="Åsa Öberg")
    seed.dispose()
    station = Station(settings)
    states = station.bus.queue(DeviceStateChanged)
    outcomes = station.bus.queue(ScanOutcome)
    station.start()
    try:
        next_state(states, "connected")
        scanner.send(b"ORD-1042\r")
        next_event(outcomes, ScanOutcome, within_s=10)
        yield station, scanner
    finally:
        station.stop()
        scanner.unplug()


def test_the_bench_says_scans_wait_counts_them_and_catches_up_when_the_database_returns(
    station_on_own_postgres, own_postgres, browser
):
    station, scanner = station_on_own_postgres
    ARTIFACTS.mkdir(exist_ok=True)
    with open_page(browser, 800, 480) as page:
        page.goto(station.url + "/bench")
        page.wait_for_selector("#bench tr[id^=line-]")
        assert "0 / 2" in page.inner_text("#bench table.lines")

        own_postgres.stop()
        stopped = time.monotonic()
        banner = page.wait_for_selector("#bench .outage", timeout=5000)
        shown_s = time.monotonic() - stopped
        assert "Databasen svarar inte: skanningarna sparas" in banner.inner_text()
        assert shown_s <= 1.0, f"the outage showed {shown_s:.2f} s after the server stopped"
        # The order stays on the screen while the database is away.
        assert "Order 1042" in page.inner_text("#bench") or "1042" in page.inner_text("#bench")

        scanner_read = time.monotonic()
        scanner.send(EAN_A + b"\r")
        page.wait_for_selector("#bench .outage >> text=1 skanning väntar på databasen.")
        assert time.monotonic() - scanner_read <= 2.0
        # A code typed at the bench is the same scan (R19): kept and counted too, not a 503.
        page.fill("#code", EAN_A.decode())
        page.press("#code", "Enter")
        page.wait_for_selector("#bench .outage >> text=2 skanningar väntar på databasen.")
        page.screenshot(path=str(ARTIFACTS / "bench-database-away-800x480.png"))

        own_postgres.start()
        # The catch-up: the kept scan counts on the order, and the bench says so.
        page.wait_for_selector("#bench .outage >> text=/Databasen är tillbaka/", timeout=20_000)
        page.wait_for_function(
            "document.querySelector('#bench table.lines').innerText.includes('2 / 2')",
            timeout=20_000,
        )
        assert "väntar på databasen" not in page.inner_text("#bench")
        page.screenshot(path=str(ARTIFACTS / "bench-database-back-800x480.png"))
        # A reload is the bench again, not a 500.
        response = page.reload()
        assert response is not None and response.status == 200
