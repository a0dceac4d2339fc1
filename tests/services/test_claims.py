"""R17 behind its seam (services.claims.Claims): which bench has an order open. The local
claims on the station rows, with their lease, on SQLite and PostgreSQL; and the bench asking
whatever claims it is given — here claims held in memory, as a central service would hold
them outside the station's database."""

from __future__ import annotations

import pytest

from stationd.clock import utcnow
from stationd.events import Bus, ScanRead
from stationd.services.bench import BenchService
from stationd.services.claims import Claims
from stationd.store.bench import bench_station, touch_station
from stationd.store.claims import LocalClaims


@pytest.fixture
def order_id(shop):
    shop.product("A", on_hand=5, number=1)
    return shop.order([("A", 1)], status="packing", reserve=True)


def benches(store, *names):
    with store.write() as conn:
        for name in names:
            bench_station(conn, name)


def open_at(store, station, order_id):
    """What the bench writes with a scan that opens `order_id`: its row, and its claim."""
    with store.write() as conn:
        touch_station(conn, station, current_order_id=order_id, last_seen_at=utcnow())
        LocalClaims().claim(conn, order_id, station)


def test_r17_a_claim_names_its_bench_to_every_other_bench(store, order_id):
    claims = LocalClaims(lease_s=300)
    benches(store, "bench-1", "bench-2")
    open_at(store, "bench-1", order_id)
    with store.read() as conn:
        assert claims.holder(conn, order_id, besides="bench-2") == "bench-1"
        assert claims.holder(conn, order_id, besides="bench-1") is None


def test_r17_a_released_claim_holds_nothing(store, order_id):
    claims = LocalClaims(lease_s=300)
    benches(store, "bench-1")
    open_at(store, "bench-1", order_id)
    with store.write() as conn:  # what the bench writes with a scan that closes it
        touch_station(conn, "bench-1", current_order_id=None, last_seen_at=utcnow())
        claims.release(conn, "bench-1")
    with store.read() as conn:
        assert claims.holder(conn, order_id, besides="bench-2") is None
        assert bench_station(conn, "bench-1", create=False) == (None, None)


def test_r17_a_claim_past_its_lease_holds_nothing(store, order_id):
    benches(store, "crashed")
    open_at(store, "crashed", order_id)
    with store.read() as conn:
        assert LocalClaims(lease_s=300).holder(conn, order_id, besides="b") == "crashed"
        assert LocalClaims(lease_s=0).holder(conn, order_id, besides="b") is None


class MemoryClaims:
    """Claims kept outside the station's database (as a central service keeps them)."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}

    def holder(self, conn, order_id, *, besides):  # type: ignore[no-untyped-def]
        return next((s for s, o in self.open.items() if o == order_id and s != besides), None)

    def claim(self, conn, order_id, station):  # type: ignore[no-untyped-def]
        self.open[station] = order_id

    def renew(self, conn, station):  # type: ignore[no-untyped-def]
        pass

    def release(self, conn, station):  # type: ignore[no-untyped-def]
        self.open.pop(station, None)


def test_r17_two_benches_sharing_claims_never_open_one_order_at_once(store, order_id):
    shared: Claims = MemoryClaims()
    first = BenchService(store, Bus(), "bench-1", claims=shared)
    second = BenchService(store, Bus(), "bench-2", claims=shared)
    assert first.handle_scan(ScanRead(f"ORD-{order_id}")).opened
    refused = second.handle_scan(ScanRead(f"ORD-{order_id}"))
    assert not refused.ok and "being packed at bench-1" in refused.message
    assert first.handle_scan(ScanRead("CMD-CANCEL")).closed
    assert second.handle_scan(ScanRead(f"ORD-{order_id}")).opened
    assert shared.open == {"bench-2": order_id}
