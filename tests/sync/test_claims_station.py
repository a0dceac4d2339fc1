"""A station with `[sync] central_url` packs under claims at central (R17): the bench claims
there, and a claim taken over is told on the bench's screen."""

from __future__ import annotations

import pytest
from sync.claims_support import Warehouse

from stationd.events import ScanOutcome, ScanRead
from stationd.services.central_claims import CentralClaims
from stationd.store import central_claims

pytestmark = pytest.mark.postgres


def test_r17_a_synced_station_claims_at_central_and_shows_a_take_over(
    claims_central, make_shop, make_station, tmp_path
):
    house = Warehouse(claims_central, tmp_path, make_shop)
    station = make_station(name="bench-a", sync={"central_url": claims_central.url})
    try:
        assert isinstance(station.bench.claims, CentralClaims)
        house.fill(station.store)  # the copy pull would have made
        assert station.bench.handle_scan(ScanRead("ORD-1000", None, "kiosk")).opened
        with claims_central.write() as conn:
            assert central_claims.holders(conn, [1000])[1000].station == "bench-a"
            central_claims.take_over(conn, 1000, to_station="bench-b", lease_s=300)
        with station.bus.queue(ScanOutcome) as shown:
            assert station.central_claims.keep_alive().lost == {1000: "bench-b"}
            told = shown.get(timeout=5)
        assert not told.ok
        assert told.message == (
            "Order 1000 was taken over by bench-b: stop packing it here and set its goods aside."
        )
        assert station.bench.current_order() is None
    finally:
        station.central_claims.link.dispose()


def test_a_station_without_sync_keeps_its_local_claims(make_station):
    from stationd.store.claims import LocalClaims

    station = make_station()
    assert station.central_claims is None
    assert isinstance(station.bench.claims, LocalClaims)
