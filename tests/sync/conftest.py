"""Fixtures the sync tests share (each part keeps its own helpers in a module named after it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sync.claims_support import CentralDatabases
from sync.pull_fixtures import central, central_template, central_url, second_postgres  # noqa: F401

from stationd.store.database import Store


@pytest.fixture(scope="session")
def claims_centrals(pg_url: str) -> Iterator[CentralDatabases]:
    """Claims: fresh central databases (copies of one migrated template) on the shared server."""
    centrals = CentralDatabases(pg_url)
    yield centrals
    centrals.close()


@pytest.fixture
def claims_central(claims_centrals: CentralDatabases) -> Iterator[Store]:
    """Claims: an empty, migrated central PostgreSQL of this test's own."""
    url = claims_centrals.fresh()
    store = Store(url)
    yield store
    store.dispose()
    claims_centrals.drop(url)
