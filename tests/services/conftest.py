"""What the service tests share: a queue of everything the services announce on the event bus
(the bus, the store on SQLite and PostgreSQL, the shop and `make_station` come from
tests/conftest.py), and the bench use case of bench-1 on that bus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stationd.events import Bus, Event, EventQueue
from stationd.services.bench import BenchService
from stationd.store.database import Store


@pytest.fixture
def events(bus: Bus) -> Iterator[EventQueue]:
    """Every event published on `bus`, in the order it was published."""
    with bus.queue(Event) as q:
        yield q


@pytest.fixture
def bench(store: Store, bus: Bus) -> BenchService:
    """The scan use case of bench-1, announcing on `bus`."""
    return BenchService(store, bus, "bench-1")
