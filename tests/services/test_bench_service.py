"""R12 / R19 through the bench use case, on SQLite and PostgreSQL: what a scan writes and what
it announces — and that bad input writes nothing but its line in the scan journal."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stationd.events import Bus, OrderChanged, ScanOutcome, ScanRead, ScanRejected
from stationd.services.bench import BenchService
from stationd.services.bench_worker import BenchWorker
from stationd.store.deliveries import pending_parcel_ids
from stationd.store.tables import (
    bench_packing,
    events,
    order_lines,
    orders,
    scan_journal,
    stations,
    stock,
)


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
    worker = BenchWorker(bench, bench.bus)
    worker.start()
    try:
        bench.bus.publish(ScanRead(f"ORD-{order_id}", None, "serial:gun"))
        bench.bus.publish(ScanRead(ean_a, "]E0", "serial:gun"))
        assert heard.get(timeout=2).ok
        assert heard.get(timeout=2).ok
    finally:
        worker.stop()
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


# --- undo stack, touch, another order, parcels, partial --------------------------------------


def journal(store):
    with store.read() as conn:
        return conn.execute(
            select(
                scan_journal.c.id,
                scan_journal.c.kind,
                scan_journal.c.line_id,
                scan_journal.c.delta,
                scan_journal.c.undoes_id,
            ).order_by(scan_journal.c.id)
        ).all()


def line_ids(store, order_id):
    with store.read() as conn:
        return dict(
            conn.execute(
                select(order_lines.c.sku, order_lines.c.id).where(
                    order_lines.c.order_id == order_id
                )
            ).all()
        )


def test_r14_cancel_puts_the_order_back_as_it_was_when_this_bench_opened_it(
    store, bench, packing_order
):
    """Issue 12, item 1: after CMD-CANCEL the scanned item stayed packed, and ship-out
    proposed a partial delivery nobody chose."""
    order_id, ean_a, ean_b = packing_order
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_a)
    scan(bench, "CMD-DONE")  # an earlier session: its item stays packed
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_a)
    scan(bench, ean_b)
    heard = bench.bus.queue(OrderChanged)
    outcome = scan(bench, "CMD-CANCEL")
    assert outcome.ok and outcome.message == (
        f"Order {order_id} closed at the bench; the 2 item(s) packed since it was opened are "
        "taken back out. 1 item(s) packed before it was opened stay packed."
    )
    assert packed(store) == {"A": 1, "B": 0}
    assert bench.current_order() is None
    assert heard.get(timeout=1).order_id == order_id  # ship-out hears of it
    # The counts taken back are off the undo stack: UNDO takes back the earlier one, once.
    scan(bench, f"ORD-{order_id}")
    assert scan(bench, "CMD-UNDO").ok
    assert packed(store) == {"A": 0, "B": 0}
    assert not scan(bench, "CMD-UNDO").ok
    with store.read() as conn:
        kinds = conn.execute(select(events.c.kind).order_by(events.c.id)).scalars().all()
    assert kinds.count("order.item_unpacked") == 3


def test_r13_r14_cancel_takes_the_parcel_ids_of_its_session_off_the_delivery(
    store, bench, packing_order
):
    order_id, ean_a, _ = packing_order
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_a)
    assert scan(bench, "rr473124829se").ok
    outcome = scan(bench, "CMD-CANCEL")
    assert outcome.ok and outcome.message.endswith(
        "Parcel ids taken off the delivery: RR473124829SE."
    )
    assert packed(store) == {"A": 0, "B": 0}
    with store.read() as conn:
        assert pending_parcel_ids(conn, [order_id])[order_id] == []


def test_r12_undo_walks_back_through_every_scan_of_the_order(store, bench, packing_order):
    order_id, ean_a, ean_b = packing_order
    scan(bench, f"ORD-{order_id}")
    for code in (ean_a, ean_b, ean_a):
        assert scan(bench, code).ok
    assert packed(store) == {"A": 2, "B": 1}
    undone = [scan(bench, "CMD-UNDO") for _ in range(3)]
    assert [o.message for o in undone] == [
        "Undone: Termos: 1 of 2.",
        "Undone: Vantar: 0 of 1.",
        "Undone: Termos: 0 of 2.",
    ]
    assert packed(store) == {"A": 0, "B": 0}
    assert not scan(bench, "CMD-UNDO").ok  # the stack is empty
    rows = journal(store)
    counts = [r.id for r in rows if r.delta == 1]
    undos = [r.undoes_id for r in rows if r.delta == -1]
    assert undos == counts[::-1]  # each undo names the count it took back, newest first
    with store.read() as conn:
        kinds = conn.execute(select(events.c.kind).order_by(events.c.id)).scalars().all()
    assert kinds == ["order.item_packed"] * 3 + ["order.item_unpacked"] * 3


def test_r12_a_touch_counts_through_the_same_path_as_a_scan(store, bench, packing_order):
    order_id, *_ = packing_order
    ids = line_ids(store, order_id)
    scan(bench, f"ORD-{order_id}")
    heard = bench.bus.queue(ScanOutcome, OrderChanged)
    outcome = bench.count(ids["B"], +1)
    assert outcome.ok and outcome.message == "Packed Vantar: 1 of 1."
    assert packed(store) == {"A": 0, "B": 1}
    assert isinstance(heard.get(timeout=1), ScanOutcome)
    assert isinstance(heard.get(timeout=1), OrderChanged)
    (touch,) = [r for r in journal(store) if r.kind == "touch"]
    assert (touch.line_id, touch.delta) == (ids["B"], 1)
    with store.read() as conn:
        payload = conn.execute(select(events.c.payload)).scalar_one()
    assert '"how": "touch"' in payload
    assert scan(bench, "CMD-UNDO").ok  # a touch is on the undo stack like a scan
    assert packed(store) == {"A": 0, "B": 0}


def test_r12_touch_minus_takes_back_its_line_so_undo_skips_it(store, bench, packing_order):
    order_id, ean_a, ean_b = packing_order
    ids = line_ids(store, order_id)
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_a)
    scan(bench, ean_b)
    assert bench.count(ids["B"], -1).ok
    assert scan(bench, "CMD-UNDO").ok  # takes back the Termos: the Vantar is off the stack
    assert packed(store) == {"A": 0, "B": 0}
    assert not scan(bench, "CMD-UNDO").ok


@pytest.mark.parametrize(
    ("sku", "delta", "says"),
    [("B", +1, "One too many"), ("A", -1, "nothing to take back"), (None, +1, "has no line")],
)
def test_r12_touch_out_of_bounds_changes_nothing(store, bench, packing_order, sku, delta, says):
    order_id, _, ean_b = packing_order
    ids = line_ids(store, order_id)
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_b)  # Vantar: 1 of 1 packed
    before = snapshot(store)
    outcome = bench.count(ids[sku] if sku else 999_999, delta)
    assert not outcome.ok and outcome.sound == "error" and says in outcome.message
    assert snapshot(store) == before


def test_touch_without_an_open_order_is_refused(store, bench, packing_order):
    order_id, *_ = packing_order
    before = snapshot(store)
    outcome = bench.count(line_ids(store, order_id)["A"], +1)
    assert not outcome.ok and "No order is open" in outcome.message
    assert snapshot(store) == before


def test_r12_an_item_of_another_order_names_that_order(store, bench, shop, packing_order):
    order_id, *_ = packing_order
    ean_c = shop.product("C", name="Mössa", number=3)
    other = shop.order([("C", 1)], status="packing", reserve=True)
    scan(bench, f"ORD-{order_id}")
    before = snapshot(store)
    outcome = scan(bench, ean_c)
    assert not outcome.ok and outcome.sound == "error"
    assert outcome.message == f"Wrong order: Mössa belongs to order {other}, not {order_id}."
    assert snapshot(store) == before


def test_r12_an_item_in_no_packing_order_is_just_a_wrong_item(store, bench, shop, packing_order):
    order_id, *_ = packing_order
    ean_c = shop.product("C", name="Mössa", number=3)
    shop.order([("C", 1)], status="order")  # not packing yet: not "another order" at the bench
    scan(bench, f"ORD-{order_id}")
    assert scan(bench, ean_c).message.startswith("Wrong item")


def test_r13_next_parcel_is_counted_for_the_order(store, bench, packing_order):
    order_id, ean_a, _ = packing_order
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_a)
    assert scan(bench, "CMD-NEXT-PARCEL").ok
    assert not scan(bench, "CMD-NEXT-PARCEL").ok  # parcel 2 is still empty
    scan(bench, ean_a)
    with store.read() as conn:
        row = conn.execute(select(bench_packing)).one()
        kinds = conn.execute(select(events.c.kind)).scalars().all()
    assert (row.order_id, row.parcels, row.partial, row.labels) == (order_id, 2, False, 0)
    assert kinds.count("order.parcel_started") == 1
    assert bench.at_bench().packing.parcels == 2


def test_r14_partial_closes_the_order_and_marks_what_is_packed_for_ship_out(
    store, bench, packing_order
):
    order_id, ean_a, _ = packing_order
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_a)
    outcome = scan(bench, "CMD-PARTIAL")
    assert outcome.ok and outcome.partial
    assert bench.current_order() is None
    assert packed(store) == {"A": 1, "B": 0}  # ship-out's partial form reads these
    with store.read() as conn:
        row = conn.execute(select(bench_packing)).one()
        status = conn.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar()
        partial = conn.execute(
            select(events.c.payload).where(events.c.kind == "order.packed_partial")
        ).scalar_one()
    assert row.partial and status == "packing"
    ids = line_ids(store, order_id)
    assert f'"{ids["A"]}": 1' in partial


def test_r12_done_when_all_is_packed_is_announced_for_ship_out(store, bench, packing_order):
    order_id, ean_a, ean_b = packing_order
    scan(bench, f"ORD-{order_id}")
    for code in (ean_a, ean_a, ean_b):
        scan(bench, code)
    heard = bench.bus.queue(OrderChanged)
    outcome = scan(bench, "CMD-DONE")
    assert outcome.ok and outcome.ready and bench.current_order() is None
    assert heard.get(timeout=1) == OrderChanged(order_id, "packed")


def test_r12_undo_stops_at_the_last_reported_delivery(store, bench, packing_order):
    from stationd.services.report_in import ship

    order_id, ean_a, _ = packing_order
    ids = line_ids(store, order_id)
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_a)
    scan(bench, "CMD-PARTIAL")
    ship(store, order_id, ["PARCEL-0001"], station="bench-1", quantities={ids["A"]: 1})
    scan(bench, f"ORD-{order_id}")
    outcome = scan(bench, "CMD-UNDO")
    assert not outcome.ok and "Nothing to undo" in outcome.message  # that Termos has shipped


def test_r3_an_order_set_waiting_while_open_is_closed_at_the_bench(store, bench, packing_order):
    from sqlalchemy import update

    order_id, ean_a, _ = packing_order
    scan(bench, f"ORD-{order_id}")
    with store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == order_id).values(waiting=True))
    outcome = scan(bench, ean_a)
    assert not outcome.ok and outcome.closed and "waiting" in outcome.message
    assert bench.current_order() is None and packed(store) == {"A": 0, "B": 0}


def test_r19_a_scan_while_the_database_is_locked_waits_and_counts_in_order(tmp_path, make_shop):
    # A long pack-script run (or anything else) holds SQLite's write lock past the busy
    # timeout: the scans wait for it — none is dropped, none handled out of its turn.
    import sqlite3
    import time

    from stationd.store.database import Store

    path = tmp_path / "locked.sqlite"
    store = Store(f"sqlite:///{path}", busy_timeout_s=0.2)
    store.upgrade()
    shop = make_shop(store)
    ean_a = shop.product("A", on_hand=5, number=1)
    ean_b = shop.product("B", on_hand=5, number=2)
    order_id = shop.order([("A", 1), ("B", 1)], status="packing", reserve=True)
    bench = BenchService(store, Bus(), "bench-1")
    heard = bench.bus.queue(ScanOutcome)
    worker = BenchWorker(bench, bench.bus)
    worker.start()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        for code in (f"ORD-{order_id}", ean_a, ean_b):
            bench.bus.publish(ScanRead(code, None, "serial:gun"))
        waiting = heard.get(timeout=3)
        assert not waiting.ok and "The database is busy" in waiting.message
        time.sleep(1.0)  # five busy timeouts
        holder.execute("ROLLBACK")
        outcomes = [heard.get(timeout=5) for _ in range(3)]
    finally:
        holder.close()
        worker.stop()
    assert [o.ok for o in outcomes] == [True, True, True]
    assert packed(store) == {"A": 1, "B": 1}
    assert [row.kind for row in journal(store)] == ["order", "item", "item"]
    store.dispose()


def test_r19_scans_read_before_a_stop_are_all_saved(store, bench, packing_order):
    order_id, ean_a, _ = packing_order
    worker = BenchWorker(bench, bench.bus)
    worker.start()
    codes = [f"ORD-{order_id}", *[ean_a, "7310865004703"] * 15]
    for code in codes:
        bench.bus.publish(ScanRead(code, None, "serial:gun"))
    worker.stop()  # right away: the scanners are stopped, what they read still counts
    assert len(journal(store)) == len(codes)
    assert packed(store)["A"] == 2  # two of A on the order; the rest were one too many


def test_r12_the_scan_outcome_carries_the_bench_as_its_scan_committed_it(
    store, bench, packing_order
):
    order_id, ean_a, _ = packing_order
    heard = bench.bus.queue(ScanOutcome)
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean_a)
    opened, counted = heard.get(timeout=1), heard.get(timeout=1)
    assert counted.screen.seq == opened.screen.seq + 1
    assert counted.screen.outcome.ok and counted.screen.outcome.delta == 1
    # What the page draws is in the event: the line's count as that scan's transaction wrote it.
    at = counted.screen.at
    assert at.order.id == order_id
    assert {line.sku: line.packed for line in at.order.lines} == {"A": 1, "B": 0} == packed(store)
    assert at.packing is not None and at.parcel_ids == ()


def test_r12_an_unreadable_scan_is_told_with_a_screen_the_page_reads_anew(store, bench):
    heard = bench.bus.queue(ScanOutcome)
    bench.handle_rejected(ScanRejected("serial:gun", "no terminator", b"\x00\x01"))
    told = heard.get(timeout=1)
    assert not told.ok and told.screen.outcome.message == told.message
    assert told.screen.at is None  # read nothing: the page reads the bench itself
