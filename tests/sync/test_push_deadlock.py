"""Push meets a deadlock at central (issue 11): benches' groups of ops lock orders and stock
rows in the order their ops came, so two benches (or a bench and the admin) can wait on each
other; PostgreSQL breaks the cycle by aborting one transaction. That is no outage: the push
applies the group again, an op a transaction (one op's locks make no cycle with a group's),
and every op is answered at once — not backed off from as if central were away."""

from __future__ import annotations

import shutil
import threading
import time

import pytest
from sqlalchemy import create_engine, select, text
from sync.push_fixtures import (  # noqa: F401  (the push's fixtures: central, station, …)
    answers,
    claim_at,
    inbox_count,
    packed_at,
    push_central,
    push_central_template,
    push_station,
    push_station_template,
    same_shop,
    write_ops,
)

from stationd.core.audit import Shipped
from stationd.store.database import Store
from stationd.store.tables import order_lines, stock
from stationd.sync.push import Pusher

pytestmark = pytest.mark.postgres


def test_r17_a_deadlock_at_central_rolls_the_group_back_and_every_op_is_applied_once(
    station, central, make_shop
):
    first, second = same_shop(make_shop, station, central, orders=2)
    for order in (first, second):
        claim_at(central, order)
    keys = write_ops(station, first, 1) + write_ops(station, second, 1)
    other = create_engine(central.url, isolation_level="AUTOCOMMIT")
    blocked = threading.Event()

    def admin() -> None:
        """Holds the second order, waits until the push waits for it, then wants the first
        (which the push's group holds): a cycle, which PostgreSQL breaks on the push's side."""
        with other.connect() as conn:
            conn.execute(text("BEGIN"))
            # the push's session finds the deadlock (1 s), not this one
            conn.execute(text("SET LOCAL deadlock_timeout = '20s'"))
            conn.execute(text("SELECT 1 FROM orders WHERE id = :id FOR UPDATE"), {"id": second})
            end = time.monotonic() + 30
            while time.monotonic() < end:
                waiting = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks"
                        " WHERE NOT granted AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
                if waiting:
                    break
                time.sleep(0.02)
            blocked.set()
            conn.execute(text("SELECT 1 FROM orders WHERE id = :id FOR UPDATE"), {"id": first})
            conn.execute(text("COMMIT"))

    thread = threading.Thread(target=admin)
    thread.start()
    pusher = Pusher(station, central.url, timeout_s=30)
    try:
        done = pusher.push_round()
    finally:
        thread.join(timeout=60)
        pusher.dispose()
        other.dispose()
    assert blocked.is_set()
    assert done.sent == 2 and done.refused == 0
    assert {answers(station)[k][0] for k in keys} == {"accepted"}
    assert inbox_count(central) == 2
    assert packed_at(central, first) == 1 and packed_at(central, second) == 1


def test_r17_two_benches_reporting_the_same_products_in_turn_never_deadlock_at_central(
    station, central, make_shop, request, tmp_path
):
    """Each bench's groups report orders of products A and B in turn, the two benches in
    opposite turns: with each op moving its stock as it went, a group held A and wanted B
    while the other's held B and wanted A. A group moves its stock at its end, locking the
    rows in SKU order: every report counts once, the stock adds up, no lock cycle."""
    other_path = tmp_path / "other.sqlite"
    shutil.copy(request.getfixturevalue("push_station_template"), other_path)
    other = Store(f"sqlite:///{other_path}")
    per_bench = 20
    stores = {"bench-a": station, "bench-b": other}
    orders: dict[str, list[int]] = {"bench-a": [], "bench-b": []}
    for store in (station, other, central):
        shop = make_shop(store)
        shop.product("SKU-A", on_hand=1000)
        shop.product("SKU-B", on_hand=1000)
        for n in range(per_bench):
            for bench, first in (("bench-a", "SKU-A"), ("bench-b", "SKU-B")):
                sku = first if n % 2 == 0 else ({"SKU-A", "SKU-B"} - {first}).pop()
                order = shop.order([(sku, 1)], status="packing", reserve=True)
                if store is central:
                    orders[bench].append(order)
    keys = []
    for bench, store in stores.items():
        for n, order in enumerate(orders[bench]):
            claim_at(central, order, station=bench)
            with store.read() as conn:
                line = conn.execute(
                    select(order_lines.c.id).where(order_lines.c.order_id == order)
                ).scalar_one()
            parcel = f"{bench.upper()}-{n:04d}"
            keys += write_ops(
                store,
                order,
                1,
                name=bench,
                event=lambda _, p=parcel, line=line: Shipped(1, (p,), {str(line): 1}),
            )
    start = threading.Barrier(2)
    done: dict[str, object] = {}

    def push(bench: str) -> None:
        pusher = Pusher(stores[bench], central.url, timeout_s=30)
        try:
            start.wait()
            done[bench] = pusher.push_all()
        finally:
            pusher.dispose()

    threads = [threading.Thread(target=push, args=(bench,)) for bench in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    answered = {**answers(station), **answers(other)}
    other.dispose()
    assert {answered[k][0] for k in keys} == {"accepted"}
    assert inbox_count(central) == 2 * per_bench
    with central.read() as conn:
        held = {row.sku: (row.on_hand, row.reserved) for row in conn.execute(select(stock))}
    # each product: 20 orders of one item reported, each reserved when the order was made
    assert held == {"SKU-A": (1000 - per_bench, 0), "SKU-B": (1000 - per_bench, 0)}
    assert _deadlocks(central) == 0


def _deadlocks(central) -> int:  # type: ignore[no-untyped-def]
    """Deadlocks PostgreSQL broke in central's database: counted by the backend that was
    aborted, and reported when it ends — so once the pushes' sessions are gone."""
    engine = create_engine(central.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for _ in range(500):
                others = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND application_name = 'stationd-sync'"
                    )
                ).scalar_one()
                if not others:
                    break
                time.sleep(0.01)
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            return conn.execute(
                text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
    finally:
        engine.dispose()
