"""A station with a small shop, and a kiosk test client that carries its CSRF token like the
pages do (the `X-CSRF-Token` header htmx sends)."""

from __future__ import annotations

import pytest

from stationd.kiosk.csrf import COOKIE, HEADER, new_token
from stationd.station import Station


@pytest.fixture
def station(make_station, make_shop):
    return kiosk_station(make_station, make_shop)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def each_engine(request) -> dict:  # type: ignore[no-untyped-def]
    """`make_station` overrides for the station's own SQLite file, then for PostgreSQL: the
    pages that read orders by status or text (indexed differently on each, migration 0006)."""
    if request.param == "sqlite":
        return {}
    store = request.getfixturevalue("pg_store")
    return {"database": {"url": store.engine.url.render_as_string(hide_password=False)}}


@pytest.fixture
def station_on_each_engine(each_engine, make_station, make_shop):
    return kiosk_station(make_station, make_shop, each_engine)


def kiosk_station(make_station, make_shop, engine: dict | None = None):  # type: ignore[no-untyped-def]
    """A station with the kiosk tests' shop: orders 1042 and 1043 packing (1043 waiting) and
    1044 in state order; on its own SQLite file unless `engine` says otherwise."""
    station = make_station(name="kiosk-test", **(engine or {}))
    shop = make_shop(station.store)
    shop.product("A", on_hand=5, name="Termos <b>blå</b>", number=1)
    shop.order(
        [("A", 2)],
        status="packing",
        reserve=True,
        order_id=1042,
        customer="<script>alert('x')</script> Öberg",
        comment="Ring & fråga",
    )
    shop.order([("A", 1)], status="packing", waiting=True, order_id=1043)
    shop.order([("A", 1)], status="order", order_id=1044)
    return station


def kiosk_client(station: Station):  # type: ignore[no-untyped-def]
    """A test client of the station's kiosk that sends its CSRF token like a page does."""
    station.app.testing = True
    client = station.app.test_client()
    token = new_token(station.app.config["CSRF_SECRET"])
    client.set_cookie(COOKIE, token)
    client.environ_base["HTTP_" + HEADER.upper().replace("-", "_")] = token
    return client


@pytest.fixture
def client(station):
    return kiosk_client(station)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright (no browser download: executable_path)."""
    from browser_support import FLAGS, chromium_path
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=FLAGS)
        yield browser
        browser.close()
