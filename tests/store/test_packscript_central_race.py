"""Concurrent pack-script runs on central (issue 11's test list; R7, R17): two benches start a
run at the same instant, round after round, each with its own connections to the real
PostgreSQL. Whichever wins, one run at a time moves orders — the other is refused or finds
nothing left — and no order is moved or reserved twice: with stock for only some of the orders,
a double reservation would show in the stock row."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from stationd.services.packscript_run import run_once
from stationd.store.database import Store
from stationd.store.packscript_runlock import RunLockTaken
from stationd.store.tables import order_lines, orders, packscript_runs, stock

pytestmark = pytest.mark.postgres

ROUNDS = 4
ORDERS_A_ROUND = 60
ON_HAND = 150  # less than the 240 orders of the rounds want: the last ones must wait


@pytest.fixture
def store(pg_store: Store) -> Store:
    """Central: PostgreSQL only (SQLite's run lock is a file's flock, per bench)."""
    return pg_store


def run_together(stores: list[Store]) -> list[object]:
    """`run_once` on each store at the same instant, each on a thread of its own: the
    result of each (its PackResult, or the RunLockTaken that refused it)."""
    start = threading.Barrier(len(stores))
    outcomes: list[object] = [None] * len(stores)

    def run(n: int) -> None:
        start.wait()
        try:
            outcomes[n] = run_once(stores[n], station=f"bench-{n + 1}", trigger="manual")[1]
        except RunLockTaken as err:
            outcomes[n] = err

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a run never ended"
    return outcomes


def test_r7_r17_two_runs_started_at_once_never_move_or_reserve_an_order_twice(store, shop):
    shop.product("A", on_hand=ON_HAND)
    benches = [Store(store.url), Store(store.url)]
    moved: list[int] = []
    runs = 0
    try:
        for _ in range(ROUNDS):
            for _ in range(ORDERS_A_ROUND):
                shop.order([("A", 1)])
            outcomes = run_together(benches)
            assert not any(
                isinstance(o, BaseException) and not isinstance(o, RunLockTaken) for o in outcomes
            ), outcomes
            done = [o for o in outcomes if not isinstance(o, RunLockTaken)]
            assert done, outcomes  # one of them ran
            runs += len(done)
            for result in done:
                moved += result.moved_ids
    finally:
        for bench in benches:
            bench.dispose()
    with store.read() as conn:
        packing = (
            conn.execute(
                select(orders.c.id).where(orders.c.status == "packing").order_by(orders.c.id)
            )
            .scalars()
            .all()
        )
        reserved = conn.execute(select(stock.c.reserved).where(stock.c.sku == "A")).scalar_one()
        need = conn.execute(
            select(func.coalesce(func.sum(order_lines.c.quantity), 0))
            .join(orders, orders.c.id == order_lines.c.order_id)
            .where(orders.c.status == "packing")
        ).scalar_one()
        recorded = conn.execute(select(func.count()).select_from(packscript_runs)).scalar_one()
    assert len(moved) == len(set(moved))  # no order moved by both runs
    assert sorted(moved) == packing
    assert len(packing) == ON_HAND  # every unit of stock went to one order, once (R7)
    assert reserved == need == ON_HAND
    assert recorded == runs  # a refused run is no run on the Tools page
