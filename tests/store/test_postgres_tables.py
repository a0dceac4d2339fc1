"""Migration 0006 (issue 11): on PostgreSQL the pack script's update of `orders` is HOT — the
status is found through `order_states`, the order text through `orders_text`, both kept in step
by triggers — and a database at 0005 upgrades keeping every order, found as before."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from conftest import PG_ENV, ShopFactory
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.engine import make_url

from stationd.core.packscript import run_pack_script
from stationd.core.search import parse_query
from stationd.store.database import MIGRATIONS, Store, head_revision
from stationd.store.orders import count_outbound_queue, outbound_queue
from stationd.store.packscript import load_available, load_candidates, record_run, write_result
from stationd.store.postgres_tables import order_states, orders_text
from stationd.store.search import search_orders
from stationd.store.tables import orders

pytestmark = pytest.mark.postgres


def _found(store: Store, **criteria: str) -> list[int]:
    with store.read() as conn:
        return [r.id for r in search_orders(conn, parse_query(criteria)).rows]


def _states(store: Store) -> list[tuple]:
    with store.read() as conn:
        return sorted(map(tuple, conn.execute(select(order_states))))


def _as_in_orders(store: Store) -> list[tuple]:
    with store.read() as conn:
        return sorted(map(tuple, conn.execute(select(orders.c.status, orders.c.id))))


@pytest.fixture
def database_at_0005() -> Iterator[Store]:
    """A PostgreSQL database of its own, migrated to 0005 only."""
    admin = os.environ.get(PG_ENV)
    if not admin:
        pytest.skip(f"{PG_ENV} not set")
    name = f"stationd_0005_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    store = Store(make_url(admin).set(database=name).render_as_string(hide_password=False))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    yield store
    store.dispose()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def test_a_database_at_0005_upgrades_and_reads_back_the_same_orders(database_at_0005):
    store = database_at_0005
    shop = ShopFactory(store)
    shop.product("A")
    anna = shop.order([("A", 1)], customer="Anna Berg")
    sven = shop.order([("A", 2)], customer="Sven Söderberg", status="packing")
    kari = shop.order([("A", 1)], customer="Kari Løken", status="packing", waiting=True)
    asa = shop.order([("A", 1)], customer="Åsa Öberg", status="shipped")
    with store.write() as conn:
        conn.execute(
            update(orders).where(orders.c.id == anna).values(customer_email="Anna.B@Example.SE")
        )
    # The columns 0005 had: later migrations add to `orders` (the table object knows them all).
    with store.read() as conn:
        before = [
            dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM orders ORDER BY id")
        ]

    store.upgrade()

    assert store.revision() == head_revision()
    with store.read() as conn:
        after = [
            {name: r._mapping[name] for name in before[0]}
            for r in conn.exec_driver_sql("SELECT * FROM orders ORDER BY id")
        ]
        assert [r.id for r in outbound_queue(conn)] == [sven]
        assert count_outbound_queue(conn) == 1
        kept = sorted(map(tuple, conn.execute(select(orders_text))))
    assert after == before
    assert _states(store) == _as_in_orders(store)
    assert _found(store, text="berg") == [asa, sven, anna]
    assert _found(store, text="anna.b@") == [anna]
    assert _found(store, status="packing") == [kari, sven]
    assert _found(store, status="order") == [anna]
    assert _found(store, status="shipped", text="öber") == [asa]
    assert (anna, "anna berg", "anna.b@example.se") in kept


def test_the_side_tables_follow_every_write_of_orders(pg_store):
    shop = ShopFactory(pg_store)
    shop.product("A")
    first = shop.order([("A", 1)], customer="Anna Berg")
    second = shop.order([("A", 1)], customer="Olle Ekdahl")
    assert _states(pg_store) == _as_in_orders(pg_store)
    with pg_store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == first).values(status="packing"))
        conn.execute(update(orders).values(waiting=True))
        conn.execute(
            update(orders)
            .where(orders.c.id == second)
            .values(customer_key="olle nyberg", customer_email="Olle@Example.SE")
        )
    assert _states(pg_store) == _as_in_orders(pg_store)
    assert _found(pg_store, text="nyberg") == [second]
    assert _found(pg_store, text="olle@ex") == [second]
    assert _found(pg_store, text="ekdahl") == []
    assert _found(pg_store, status="packing") == [first]
    with pg_store.write() as conn:
        conn.execute(delete(orders).where(orders.c.id == first))
    assert _states(pg_store) == _as_in_orders(pg_store)
    with pg_store.read() as conn:
        assert conn.execute(select(orders_text.c.order_id)).scalars().all() == [second]


def test_the_pack_script_rewrites_orders_in_place_without_touching_an_index(pg_store):
    """HOT: no index of `orders` names what the pack script writes, and there is room."""
    shop = ShopFactory(pg_store)
    for sku in "ABC":
        shop.product(sku, on_hand=100)
    made = [shop.order([("A", 1), ("B", 2)]) for _ in range(10)]
    oldest = shop.order([("C", 1)], placed_at=datetime(2026, 1, 1, tzinfo=UTC))
    with pg_store.write() as conn:
        result = run_pack_script(load_candidates(conn), load_available(conn))
        run_id = record_run(conn, "bench-1", "test", datetime.now(UTC), result, None)
        write_result(conn, result, station="bench-1", run_id=run_id)
        updated, hot = conn.execute(
            text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                "WHERE relname = 'orders'"
            )
        ).one()
        indexed = conn.execute(
            text(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = 'orders'::regclass"
            )
        ).scalars()
        assert {"status", "updated_at", "packscript_run_id"}.isdisjoint(indexed)
    assert updated == hot == 11
    with pg_store.read() as conn:
        moved = conn.execute(
            select(orders.c.id).where(orders.c.packscript_run_id == run_id).order_by(orders.c.id)
        ).scalars()
        assert list(moved) == sorted([*made, oldest])
        assert [r.id for r in outbound_queue(conn)][:2] == [oldest, made[0]]
    assert _states(pg_store) == _as_in_orders(pg_store)
