"""The pack script against the database, on SQLite and PostgreSQL: R6–R8 and R17."""

from __future__ import annotations

import json
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

import stationd.store.packscript as store_packscript
import stationd.store.packscript_chunks as packscript_chunks
from stationd.core.orders import line_reservation
from stationd.core.packscript import Step, run_pack_script
from stationd.core.packscript_reasons import NegativeStock, NoStockRecord, ShortOfStock
from stationd.services.packscript_run import PackScriptRunFailed, run_once
from stationd.store.database import Store
from stationd.store.packscript import (
    MOVED_EVENT,
    decode_trace,
    encode_trace,
    recent_runs,
)
from stationd.store.packscript_activity import trace_steps
from stationd.store.packscript_runlock import RunLockTaken
from stationd.store.tables import events, order_lines, orders, packscript_runs, stock

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def statuses(store: Store) -> dict[int, str]:
    with store.read() as conn:
        return dict(conn.execute(select(orders.c.id, orders.c.status)).all())


def stock_reserved(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return dict(conn.execute(select(stock.c.sku, stock.c.reserved)).all())


def lines_reserved(store: Store) -> dict[tuple[int, str], int]:
    """What each line holds, per (order, SKU), as core derives it from the order's state."""
    with store.read() as conn:
        rows = conn.execute(
            select(
                order_lines.c.order_id,
                order_lines.c.sku,
                orders.c.status,
                order_lines.c.quantity,
                order_lines.c.delivered,
            ).join(orders, orders.c.id == order_lines.c.order_id)
        )
        return {
            (order_id, sku): line_reservation(status, quantity, delivered)
            for order_id, sku, status, quantity, delivered in rows
        }


def packing_events(store: Store) -> list[int]:
    """The orders the runs' audit events say they moved; each order names the same run."""
    with store.read() as conn:
        moved_by = dict(
            conn.execute(
                select(orders.c.id, orders.c.packscript_run_id).where(
                    orders.c.packscript_run_id.is_not(None)
                )
            ).all()
        )
        said: dict[int, int] = {}
        for payload in conn.execute(
            select(events.c.payload).where(events.c.kind == MOVED_EVENT)
        ).scalars():
            run = json.loads(payload)
            said.update(dict.fromkeys(run["orders"], run["run"]))
    assert said == moved_by
    return sorted(said)


def assert_stock_matches_lines(store: Store) -> None:
    """R7: what stock says is reserved is what the lines hold, and never more than on hand."""
    held: dict[str, int] = {}
    for (_, sku), reserved in lines_reserved(store).items():
        held[sku] = held.get(sku, 0) + reserved
    with store.read() as conn:
        for sku, on_hand, reserved in conn.execute(
            select(stock.c.sku, stock.c.on_hand, stock.c.reserved)
        ):
            assert reserved == (held.get(sku) or 0), sku
            assert reserved <= on_hand, sku


def test_r6_run_moves_orders_to_packing_and_records_itself(store, shop) -> None:
    shop.product("A", on_hand=5)
    shop.product("B", on_hand=2)
    moves = shop.order([("A", 2), ("B", 1)], placed_at=at(1))
    unpaid = shop.order([("A", 1)], paid=False, placed_at=at(2))
    short = shop.order([("B", 5)], placed_at=at(3))

    run_id, result = run_once(store, station="bench-1", trigger="manual")

    assert statuses(store) == {moves: "packing", unpaid: "order", short: "order"}
    assert lines_reserved(store) == {
        (moves, "A"): 2,
        (moves, "B"): 1,
        (unpaid, "A"): 0,
        (short, "B"): 0,
    }
    assert stock_reserved(store) == {"A": 2, "B": 1}
    assert packing_events(store) == [moves]
    with store.read() as conn:
        event = conn.execute(select(events)).one()
        [record] = recent_runs(conn)
        trace = list(trace_steps(conn, run_id))
    assert event.station == "bench-1" and len(event.key) == 36 and event.order_id is None
    assert json.loads(event.payload) == {"run": run_id, "orders": [moves]}
    assert (record.id, record.status, record.trigger, record.station) == (
        run_id,
        "ok",
        "manual",
        "bench-1",
    )
    assert (record.looked_at, record.moved, record.unpaid, record.short, record.skipped) == (
        3,
        1,
        1,
        1,
        0,
    )
    assert record.stopped_order_id is None and record.error is None
    assert trace == list(result.trace)
    assert [step.order_id for step in trace if step.check == "decision"] == [moves, unpaid, short]
    assert Step(short, "stock", False, "SKU B: needs 5, 1 available") in trace


def test_r7_oldest_order_wins_in_the_store(store, shop) -> None:
    shop.product("A", on_hand=1)
    newer = shop.order([("A", 1)], placed_at=at(30))
    older = shop.order([("A", 1)], placed_at=at(10))

    run_once(store, station="s", trigger="auto")

    assert statuses(store) == {newer: "order", older: "packing"}


def test_r7_second_run_moves_nothing_new_and_never_reserves_twice(store, shop) -> None:
    shop.product("A", on_hand=3)
    first = shop.order([("A", 2)], placed_at=at(1))
    waiting = shop.order([("A", 2)], placed_at=at(2))

    run_once(store, station="s", trigger="auto")
    _, again = run_once(store, station="s", trigger="auto")

    assert again.moves == [] and again.looked_at == 1 and again.short == 1
    assert statuses(store) == {first: "packing", waiting: "order"}
    assert stock_reserved(store) == {"A": 2}
    assert packing_events(store) == [first]

    with store.write() as conn:  # a delivery of goods: now the waiting order fits
        conn.execute(update(stock).values(on_hand=4))
    _, third = run_once(store, station="s", trigger="auto")

    assert third.moved_ids == [waiting]
    assert stock_reserved(store) == {"A": 4}
    assert packing_events(store) == sorted([first, waiting])
    assert_stock_matches_lines(store)


def test_r8_stopped_run_is_recorded_with_the_order_and_message(store, shop) -> None:
    shop.product("A", on_hand=5)
    shop.product("BAD", on_hand=1)
    before = shop.order([("A", 1)], placed_at=at(1))
    broken = shop.order([("BAD", 1)], placed_at=at(2))
    after = shop.order([("A", 1)], placed_at=at(3))
    with store.write() as conn:  # corrupt: more reserved than on hand
        conn.execute(update(stock).where(stock.c.sku == "BAD").values(reserved=3))

    run_id, result = run_once(store, station="s", trigger="manual")

    message = "stock of SKU BAD is negative (-2): more is reserved than is on hand"
    assert result.stopped == Step(broken, "error", False, message)
    assert statuses(store) == {before: "packing", broken: "order", after: "order"}
    assert stock_reserved(store) == {"A": 1, "BAD": 3}
    with store.read() as conn:
        [record] = recent_runs(conn)
        trace = list(trace_steps(conn, run_id))
    assert (record.status, record.stopped_order_id, record.error) == ("stopped", broken, message)
    assert (record.looked_at, record.moved) == (2, 1)
    assert trace[-2:] == [Step(broken, "paid", True), Step(broken, "error", False, message)]


def test_r17_two_stations_at_once_never_reserve_twice(store, shop) -> None:
    skus = {"A": 4, "B": 3, "C": 6, "PLENTY": 100}
    for sku, on_hand in skus.items():
        shop.product(sku, on_hand=on_hand)
    wanted = [
        [("A", 1)],
        [("A", 2), ("B", 1)],
        [("B", 2)],
        [("C", 3), ("A", 1)],
        [("C", 2)],
        [("B", 1), ("C", 1)],
        [("A", 1), ("B", 1), ("C", 1)],
        [("PLENTY", 2)],  # stock left after the first run: a second look would take it again
    ]
    for n in range(24):
        shop.order(wanted[n % len(wanted)], placed_at=at(n))
    stations = [Store(store.url), Store(store.url)]
    start = threading.Barrier(2)
    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def station(n: int) -> None:
        def slow_start(step: Step) -> None:
            if step.order_id is not None and not results.get(-n - 1):
                results[-n - 1] = True
                time.sleep(0.2)  # hold the lock a while: the other station must wait

        try:
            start.wait()
            results[n] = run_once(
                stations[n], station=f"bench-{n}", trigger="auto", on_step=slow_start
            )[1]
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=station, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for one in stations:
        one.dispose()

    if store.is_sqlite:  # the second run waits for the first (the file's flock)
        assert errors == []
    else:  # central refuses a second run at once (a transaction's advisory lock, issue 11);
        # one that came after the first ended runs (test_packscript_central.py: the refusal)
        assert len(errors) <= 1 and all(isinstance(err, RunLockTaken) for err in errors)
    done = [result for n, result in results.items() if n >= 0]
    moved = [order_id for result in done for order_id in result.moved_ids]  # type: ignore[attr-defined]
    assert moved and len(moved) == len(set(moved))  # each order moved once
    assert sorted(moved) == sorted(i for i, s in statuses(store).items() if s == "packing")
    assert packing_events(store) == sorted(moved)
    assert_stock_matches_lines(store)
    with store.read() as conn:
        runs = conn.execute(select(packscript_runs.c.status, packscript_runs.c.moved)).all()
    assert sorted(status for status, _ in runs) == ["ok"] * len(done)
    assert sum(n for _, n in runs) == len(moved)


def orders_indexes(store: Store) -> list[tuple[str, str]]:
    with store.read() as conn:
        return conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders' "
            "AND sql IS NOT NULL ORDER BY name"
        ).all()


def write_at_once(store: Store, *, fails: bool = False) -> None:
    """A run written the one-transaction way (what a run falls back to when its chunks keep
    meeting changes): read, decide, record and write under the write lock."""
    with store.write(bulk=True) as conn:
        result = run_pack_script(
            store_packscript.load_candidates(conn), store_packscript.load_available(conn)
        )
        run_id = store_packscript.record_run(conn, "s", "auto", T0, result, None)
        store_packscript.write_result(conn, result, station="s", run_id=run_id)
        if fails:
            raise OSError("disk full")


@pytest.mark.parametrize("fails", [False, True], ids=["committed", "rolled back"])
def test_r6_a_write_at_once_moving_most_orders_makes_the_status_indexes_anew(
    sqlite_store, sqlite_shop, monkeypatch, fails
) -> None:
    monkeypatch.setattr(store_packscript, "REMAKE_INDEXES_FROM", 2)  # not 10,000 in a test
    remade: list[list[tuple[str, str]]] = []
    real_remake = store_packscript._indexes_to_remake

    def remake(cur, moving):
        remade.append(real_remake(cur, moving))
        return remade[-1]

    monkeypatch.setattr(store_packscript, "_indexes_to_remake", remake)
    sqlite_shop.product("A", on_hand=3)
    moving = [sqlite_shop.order([("A", 1)], placed_at=at(n)) for n in range(3)]
    short = sqlite_shop.order([("A", 1)], placed_at=at(9))
    indexes = orders_indexes(sqlite_store)

    if fails:
        with pytest.raises(OSError, match="disk full"):
            write_at_once(sqlite_store, fails=True)
    else:
        write_at_once(sqlite_store)

    [names] = [[name for name, _ in one] for one in remade]
    assert "ix_orders_queue" in names and "ix_orders_placed_at" not in names
    assert orders_indexes(sqlite_store) == indexes
    state = "order" if fails else "packing"
    assert statuses(sqlite_store) == {**dict.fromkeys(moving, state), short: "order"}
    with sqlite_store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        queued = conn.execute(
            select(orders.c.id).where(orders.c.status == "packing", orders.c.waiting.is_(False))
        ).scalars()
        assert sorted(queued) == ([] if fails else moving)


def test_a_failed_write_leaves_nothing_moved_and_records_a_failed_run(store, shop, monkeypatch):
    shop.product("A", on_hand=5)
    first = shop.order([("A", 1)], placed_at=at(1))
    second = shop.order([("A", 2)], placed_at=at(2))
    real_write = packscript_chunks.move_orders
    real_move = packscript_chunks.CentralMoves.move  # PostgreSQL's write while it decides

    def write_then_fail(conn, moves, versions, **kwargs):
        real_write(conn, moves, versions, **kwargs)  # written, then …
        raise OSError("disk full")

    def move_then_fail(self, moves):
        real_move(self, moves)  # written, then …
        raise OSError("disk full")

    monkeypatch.setattr(packscript_chunks, "move_orders", write_then_fail)
    monkeypatch.setattr(packscript_chunks.CentralMoves, "move", move_then_fail)

    with pytest.raises(PackScriptRunFailed, match="OSError: disk full") as failure:
        run_once(store, station="s", trigger="manual")

    assert statuses(store) == {first: "order", second: "order"}
    assert stock_reserved(store) == {"A": 0}
    assert set(lines_reserved(store).values()) == {0}
    assert packing_events(store) == []
    with store.read() as conn:
        [record] = recent_runs(conn)
        trace = list(trace_steps(conn, failure.value.run_id))
    assert (record.id, record.status, record.moved) == (failure.value.run_id, "failed", 0)
    assert record.error == "OSError: disk full"
    assert trace == [Step(None, "error", False, "OSError: disk full")]

    monkeypatch.undo()
    _, result = run_once(store, station="s", trigger="manual")
    assert result.moved_ids == [first, second]


def test_write_refuses_orders_that_left_state_order_under_it(store, shop) -> None:
    shop.product("A", on_hand=5)
    one = shop.order([("A", 1)], placed_at=at(1))
    two = shop.order([("A", 1)], placed_at=at(2))

    with pytest.raises(RuntimeError, match="1 of the 2 orders"), store.write() as conn:
        candidates = store_packscript.load_candidates(conn)
        available = store_packscript.load_available(conn)
        result = run_pack_script(candidates, available)
        # Something that skipped the pack-script lock moved an order meanwhile.
        conn.execute(update(orders).where(orders.c.id == two).values(status="packing"))
        store_packscript.write_result(conn, result, station="s", run_id=1)

    assert statuses(store) == {one: "order", two: "order"}  # rolled back as a whole


def test_load_reads_lines_per_order_and_stock_available(store, shop) -> None:
    shop.product("A", on_hand=5)
    shop.product("B", on_hand=2)
    shop.order([("A", 1)], placed_at=at(1), status="packing", reserve=True)
    two_lines = shop.order([("B", 1), ("A", 3), ("B", 1)], placed_at=at(3))
    no_lines = shop.order([], placed_at=at(2), paid=False)
    shop.order([("A", 1)], placed_at=at(0), status="shipped")

    with store.write() as conn:
        candidates = store_packscript.load_candidates(conn)
        available = store_packscript.load_available(conn)

    by_id = {c[0]: c for c in candidates}
    assert set(by_id) == {two_lines, no_lines}
    assert list(by_id[two_lines][3]) == [("B", 1), ("A", 3), ("B", 1)]
    assert bool(by_id[two_lines][2]) is True
    assert list(by_id[no_lines][3]) == [] and not by_id[no_lines][2]
    assert available == {"A": 4, "B": 2}


def test_an_empty_shop_runs_and_records_an_empty_trace(store) -> None:
    run_id, result = run_once(store, station="s", trigger="auto")

    assert result.ok and result.looked_at == 0
    with store.read() as conn:
        assert list(trace_steps(conn, run_id)) == []


def test_trace_encoding_round_trips_and_reads_the_older_form(store, shop) -> None:
    shop.product("A", on_hand=1)
    for n in (5, 1, 3):
        shop.order([("A", 1)], placed_at=at(n), order_id=100 + n)
    shop.order([("A", 1)], placed_at=at(4), paid=False, order_id=90)

    _, result = run_once(store, station="s", trigger="auto")

    assert list(decode_trace(encode_trace(result.trace))) == list(result.trace)
    assert list(decode_trace(None)) == []
    older = zlib.compress(b'[1, "paid", true, ""]\n[1, "decision", true, "to packing"]')
    assert list(decode_trace(older)) == [
        Step(1, "paid", True, ""),
        Step(1, "decision", True, "to packing"),
    ]


def test_the_run_record_survives_a_reread_through_sqlalchemy(store, shop) -> None:
    # The hot path writes with raw SQL: the values must read back with the right types.
    shop.product("A", on_hand=1)
    order_id = shop.order([("A", 1)], placed_at=at(1))

    run_once(store, station="s", trigger="auto")

    with store.read() as conn:
        updated_at = conn.execute(
            select(orders.c.updated_at).where(orders.c.id == order_id)
        ).scalar_one()
        event_at = conn.execute(select(events.c.at)).scalar_one()
        key = conn.execute(text("SELECT key FROM events")).scalar_one()
    assert isinstance(updated_at, datetime) and isinstance(event_at, datetime)
    assert abs((updated_at.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()) < 60
    assert len(key) == 36


def test_r8_reasons_read_back_typed_from_a_stored_trace():
    result = run_pack_script(
        [(1, 1, True, [("A", 3)]), (2, 2, True, [("B", 1)]), (3, 3, True, [("C", 1)])],
        {"A": 1, "C": -1},
    )
    back = list(decode_trace(encode_trace(result.trace)))
    assert back == list(result.trace)
    typed = {type(step.detail) for step in back if step.check in ("stock", "error")}
    assert typed == {ShortOfStock, NoStockRecord, NegativeStock}
