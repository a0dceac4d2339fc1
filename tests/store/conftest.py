"""What the store tests share beyond tests/conftest.py's store on each engine and its shop: a
shop on SQLite alone, for what only SQLite does (its text index, its query plans)."""

from __future__ import annotations

import pytest

from stationd.store.database import Store


@pytest.fixture
def sqlite_shop(sqlite_store: Store, make_shop):  # type: ignore[no-untyped-def]
    return make_shop(sqlite_store)
