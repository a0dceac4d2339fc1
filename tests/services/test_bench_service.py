"""R12 / R19 through the bench use case, on SQLite and PostgreSQL: what a scan writes and what
it announces — and that bad input writes nothing but its line in the scan journal."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stationd.events import Bus, OrderChanged, ScanOutcome, ScanRead, ScanRejected
from stationd.services.bench import BenchService
from stationd.store.tables import events, order_lines, orders, scan_journal, stations, stock


@pytest.fixture
def bench(store):
    return BenchService(store, Bus(), "bench-1")


@pytest.fixture
def packing_order(shop):
    ean_a = shop.product("A", on_hand=5, name="Termos", number=1)
    ean_b = shop.product("B", on_hand=5, name="Vantar", number=2)
    order_id = shop.order([("A", 2), ("B", 1)], status="packing", reserve=True)
    return order_id, ean_a, ean_b


def snapshot(store):
    """Everything a scan may change, except the journal that records it."""
    with store.read() as conn:
        return {
            t.name: sorted(tuple(r) for r in conn.execute(select(t)).all())
            for t in (orders, order_lines, stock, events)
        }


def packed(store):
    with store.read() as conn:
        return dict(conn.execute(select(order_lines.c.sku, order_lines.c.packed)).all())


def scan(bench, code, source="serial:test"):
    return bench.handle_scan(ScanRead(code, None, source))


def test_r12_scanning_the_pick_list_opens_the_order_at_this_bench(store, bench, packing_order):
    order_id, *_ = packing_order
    outcome = scan(bench, f"ORD-{order_id}")
    assert outcome.ok and outcome.opened
    assert bench.current_order().id == order_id
    with store.read() as conn:
        assert conn.execute(select(stations.c.current_order_id)).scalar_one() == order_id


def test_r12_item_scan_ticks_its_line_and_is_announced_after_commit(store, bench, packing_order):
    order_id, ean_a, _ = packing_order
    scan(bench, f"ORD-{order_id}")
    heard = bench.bus.queue(ScanOutcome, OrderChanged)
    outcome = scan(bench, ean_a)
    assert outcome.ok and outcome.message == "Packed Termos: 1 of 2."
    assert packed(store) == {"A": 1, "B": 0}
    first, second = heard.get(timeout=1), heard.get(timeout=1)
    assert isinstance(first, ScanOutcome) and first.ok and first.order_id == order_id
    assert isinstance(second, OrderChanged) and second.order_id == order_id
    with store.read() as conn:
        assert conn.execute(select(events.c.kind)).scalars().all() == ["order.item_packed"]


def test_r12_wrong_item_and_one_too_many_change_nothing(store, bench, shop, packing_order):
    order_id, _, ean_b = packing_order
    other = shop.product("C", number=3)
    scan(bench, f"ORD-{order_id}")
    assert scan(bench, ean_b).ok
    before = snapshot(store)
    wrong = scan(bench, other)
    too_many = scan(bench, ean_b)
    assert not wrong.ok and "Wrong item" in wrong.message
    assert not too_many.ok and "One too many" in too_many.message
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("7310865004704", "check digit"),  # an EAN-13 with a wrong check digit
        ("\x00\x01garbage\x7f", "control"),
        ("ORD-", "order barcode"),
        ("CMD-FLY", "unknown command"),
        ("x" * 500, "long"),
    ],
)
def test_bad_scans_get_a_clear_message_and_change_nothing(store, bench, packing_order, code, says):
    order_id, *_ = packing_order
    scan(bench, f"ORD-{order_id}")
    before = snapshot(store)
    outcome = scan(bench, code)
    assert not outcome.ok and outcome.sound == "error"
    assert says in outcome.message.lower()
    assert snapshot(store) == before


def test_unknown_barcode_is_journaled_for_the_admin(store, bench, packing_order):
    order_id, *_ = packing_order
    scan(bench, f"ORD-{order_id}")
    scan(bench, "4006381333931")
    with store.read() as conn:
        journal = conn.execute(
            select(scan_journal.c.code, scan_journal.c.kind, scan_journal.c.ok)
        ).all()
    assert journal == [(f"ORD-{order_id}", "order", True), ("4006381333931", "item", False)]


def test_rejected_serial_bytes_show_as_an_error_and_change_nothing(store, bench, packing_order):
    before = snapshot(store)
    heard = bench.bus.queue(ScanOutcome)
    bench.handle_rejected(ScanRejected("serial:test", "frame longer than 256 bytes", b"x" * 300))
    outcome = heard.get(timeout=1)
    assert not outcome.ok and "frame longer than 256 bytes" in outcome.message
    assert snapshot(store) == before


def test_r19_a_typed_code_and_a_scanned_code_do_the_same(store, bench, packing_order):
    order_id, ean_a, _ = packing_order
    scan(bench, f"ORD-{order_id}", source="kiosk")
    scan(bench, ean_a, source="kiosk")
    scan(bench, ean_a, source="serial:gun")
    assert packed(store) == {"A": 2, "B": 0}


def test_r12_undo_takes_back_the_last_item_in_the_database(store, bench, packing_order):
    order_id, ean_a, _ = packing_order
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_a)
    outcome = scan(bench, "CMD-UNDO")
    assert outcome.ok and outcome.delta == -1
    assert packed(store) == {"A": 0, "B": 0}
    assert not scan(bench, "CMD-UNDO").ok


def test_bench_worker_takes_scans_off_the_bus(store, bench, packing_order):
    order_id, ean_a, _ = packing_order
    heard = bench.bus.queue(ScanOutcome)
    bench.start()
    try:
        bench.bus.publish(ScanRead(f"ORD-{order_id}", None, "serial:gun"))
        bench.bus.publish(ScanRead(ean_a, "]E0", "serial:gun"))
        assert heard.get(timeout=2).ok
        assert heard.get(timeout=2).ok
    finally:
        bench.stop()
    assert packed(store) == {"A": 1, "B": 0}


def test_r17_two_benches_never_pack_the_same_order(store, packing_order):
    order_id, ean_a, _ = packing_order
    first = BenchService(store, Bus(), "bench-1")
    second = BenchService(store, Bus(), "bench-2")
    assert first.handle_scan(ScanRead(f"ORD-{order_id}")).ok
    refused = second.handle_scan(ScanRead(f"ORD-{order_id}"))
    assert not refused.ok and "being packed at bench-1" in refused.message
    assert not second.handle_scan(ScanRead(ean_a)).ok  # nothing open at bench-2
    assert packed(store) == {"A": 0, "B": 0}
    assert first.handle_scan(ScanRead("CMD-DONE")).ok  # closed at bench-1: free for bench-2
    assert second.handle_scan(ScanRead(f"ORD-{order_id}")).ok


def test_r17_a_bench_gone_quiet_past_its_lease_does_not_hold_the_order(store, packing_order):
    order_id, *_ = packing_order
    BenchService(store, Bus(), "crashed").handle_scan(ScanRead(f"ORD-{order_id}"))
    impatient = BenchService(store, Bus(), "bench-2", claim_lease_s=0)
    assert impatient.handle_scan(ScanRead(f"ORD-{order_id}")).ok
