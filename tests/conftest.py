"""Shared fixtures: a migrated store on SQLite and on the real PostgreSQL, a station, a kiosk.

PostgreSQL comes from STATIOND_TEST_PG_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test).
Each test session makes its own database on that server and drops it at the end, so runs in
parallel don't see each other. Without the variable the PostgreSQL tests are skipped — except
under CI=true, where they fail: CI must never pass by not testing.
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from own_postgres import OwnPostgres
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stationd.store.database import Store
from stationd.store.tables import metadata

PG_ENV = "STATIOND_TEST_PG_URL"


def _pg_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{PG_ENV} is not set: under CI the PostgreSQL tests must run", pytrace=False)
    return None


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    admin = _pg_admin_url()
    if admin is None:
        pytest.skip(f"{PG_ENV} not set")
    name = f"stationd_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:
        pytest.fail(f"PostgreSQL at {PG_ENV} can't be used: {err}", pytrace=False)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    store.upgrade()
    store.dispose()
    yield url
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _truncate_pg(store: Store) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'stationd.sqlite'}")
    store.upgrade()
    yield store
    store.dispose()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    store = Store(pg_url)
    _truncate_pg(store)
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Store:
    """The store on each engine in turn: every store test runs on SQLite and PostgreSQL."""
    return request.getfixturevalue(
        {"sqlite": "sqlite_store", "postgresql": "pg_store"}[request.param]
    )


class ShopFactory:
    """Puts products, stock and orders into a store the way the shop's import would."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._next_order = 1000

    def product(
        self,
        sku: str,
        *,
        on_hand: int = 10,
        name: str | None = None,
        location: str = "A-01-1",
        number: int | None = None,
    ) -> str:
        """Add a product with a valid EAN-13 and its stock; returns the EAN-13."""
        from sqlalchemy import insert

        from stationd.demo import ean13
        from stationd.store.tables import products, stock

        code = ean13(number if number is not None else zlib.crc32(sku.encode()) % 10**9)
        with self.store.write() as conn:
            conn.execute(
                insert(products).values(
                    sku=sku,
                    name=name or f"Product {sku}",
                    ean=code,
                    gtin="0" + code,
                    location=location,
                    weight_g=250,
                    price_minor=9900,
                )
            )
            conn.execute(insert(stock).values(sku=sku, on_hand=on_hand, reserved=0))
        return code

    def order(
        self,
        lines: list[tuple[str, int]],
        *,
        status: str = "order",
        paid: bool = True,
        placed_at=None,
        customer: str = "Anna Andersson",
        waiting: bool = False,
        comment: str = "",
        payment_method: str = "card",
        order_id: int | None = None,
        reserve: bool = False,
    ) -> int:
        """Add an order; `lines` are (SKU, quantity). `reserve` holds stock as packing would."""
        from datetime import UTC, datetime, timedelta

        from sqlalchemy import insert, select, update

        from stationd.store.tables import order_lines, orders, products, stock

        if order_id is None:
            order_id = self._next_order
        self._next_order = max(self._next_order, order_id) + 1
        if placed_at is None:
            placed_at = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=order_id)
        with self.store.write() as conn:
            info = {r.sku: r for r in conn.execute(select(products))}
            value = sum(qty * info[sku].price_minor for sku, qty in lines if sku in info)
            conn.execute(
                insert(orders).values(
                    id=order_id,
                    status=status,
                    placed_at=placed_at,
                    customer_name=customer,
                    customer_key=customer.casefold(),
                    street="Storgatan 12",
                    postcode="411 38",
                    city="Göteborg",
                    paid=paid,
                    waiting=waiting,
                    comment=comment,
                    payment_method=payment_method,
                    value_minor=value,
                )
            )
            for pos, (sku, qty) in enumerate(lines):
                product = info.get(sku)
                conn.execute(
                    insert(order_lines).values(
                        order_id=order_id,
                        position=pos,
                        sku=sku,
                        name=product.name if product else sku,
                        gtin=product.gtin if product else None,
                        quantity=qty,
                        unit_price_minor=product.price_minor if product else 0,
                    )
                )
                if reserve:
                    conn.execute(
                        update(stock)
                        .where(stock.c.sku == sku)
                        .values(reserved=stock.c.reserved + qty)
                    )
        return order_id


@pytest.fixture
def shop(store: Store) -> ShopFactory:
    return ShopFactory(store)


@pytest.fixture
def sqlite_shop(sqlite_store: Store) -> ShopFactory:
    return ShopFactory(sqlite_store)


@pytest.fixture
def make_shop() -> type[ShopFactory]:
    """The factory class itself, for a test that builds its own store."""
    return ShopFactory


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A running PostgreSQL of this test's own that it may stop and start (an outage); never
    the shared server. Removed after the test."""
    server = OwnPostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()
