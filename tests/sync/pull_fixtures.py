"""The pull part's fixtures (docs/sync.md, "Changes in: pull"): an empty, migrated central
per test on a cluster of the tests' own, a second cluster of the tests' own (a restored central is
another cluster, with another system identifier), and what compares a copy with central."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from stationd.store.database import Store
from stationd.store.tables import order_claims, order_lines, orders, own_statuses, products, stock


@pytest.fixture(scope="session")
def central_template(own_postgres: Any) -> str:
    """A database migrated once per session, that each test's central is copied from.

    On the tests' own cluster, not the shared server: a pull's window ends at the oldest
    transaction still writing anywhere in the cluster (`pg_snapshot_xmin` is cluster-wide),
    so another session's long write there would hold a test's pull back — lag, as designed,
    but not what the test is about."""
    url = own_postgres.fresh_database()
    store = Store(url)
    store.upgrade()
    store.dispose()
    return make_url(url).database


@pytest.fixture
def central_url(own_postgres: Any, central_template: str) -> Iterator[str]:
    """An empty central of its own for this test (the template's copy): its URL."""
    if not own_postgres.running():
        own_postgres.start()
    name = f"central_{uuid.uuid4().hex[:10]}"
    engine = create_engine(own_postgres.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{central_template}"'))
    yield make_url(own_postgres.url).set(database=name).render_as_string(hide_password=False)
    if not own_postgres.running():
        own_postgres.start()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def central(central_url: str) -> Iterator[Store]:
    """The central PostgreSQL of this test, as a store."""
    store = Store(central_url)
    yield store
    store.dispose()


@pytest.fixture(scope="session")
def second_postgres(own_postgres: Any) -> Iterator[Any]:
    """A second cluster of the tests' own (another `initdb`: another system identifier)."""
    folder = Path(tempfile.mkdtemp(prefix="stationd-pull-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = type(own_postgres)(folder)
    cluster.start()
    try:
        yield cluster
    finally:
        if cluster.running():
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


_COMPARED = (
    (own_statuses, "id"),
    (products, "sku"),
    (stock, "sku"),
    (orders, "id"),
    (order_lines, "id"),
    (order_claims, "order_id"),
)


def holding(store: Store) -> dict[str, list[dict[str, Any]]]:
    """What a database holds of what pull copies, table by table in key order."""
    with store.read() as conn:
        return {
            table.name: [dict(r) for r in conn.execute(select(table).order_by(key)).mappings()]
            for table, key in _COMPARED
        }
