"""The push tests' parts: a central (an empty migrated PostgreSQL database per test, made from a
template the session migrates once), a station's SQLite store beside it, the same shop in both
(the station's copy as a pull would have made it), ops written the way the bench writes them,
and a TCP proxy between station and central that the test cuts.

The push's test modules import the fixtures (`push_*`, which register as `central`, `station`
and `cut_proxy` in those modules alone) and the helpers from here; tests/sync/conftest.py, which
the sync parts share, gets none of them, so other parts' fixtures of the same names never meet
these.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from stationd.core.audit import AuditEvent, ItemPacked
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.outbox import start_pushing
from stationd.store.tables import events, order_claims, order_lines, sync_ops

STATION = "bench-a"


def _database_from(admin_url: str, template: str | None = None) -> str:
    name = f"central_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            tail = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{tail}'))
    finally:
        engine.dispose()
    return name


@pytest.fixture(scope="session")
def push_central_template() -> Iterator[tuple[str, str]]:
    """(admin URL, name) of a migrated, empty database that each central is copied from."""
    admin = os.environ.get("STATIOND_TEST_PG_URL")
    if not admin:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("STATIOND_TEST_PG_URL is not set: under CI the sync tests must run")
        pytest.skip("STATIOND_TEST_PG_URL not set")
    name = _database_from(admin)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    store.upgrade()
    store.dispose()
    yield admin, name
    _drop(admin, name)


def _drop(admin: str, name: str) -> None:
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def empty_central(template: tuple[str, str]) -> Iterator[Store]:
    """An empty, migrated central database copied from `template`, dropped after."""
    admin, name_of_template = template
    name = _database_from(admin, name_of_template)
    store = Store(make_url(admin).set(database=name).render_as_string(hide_password=False))
    yield store
    store.dispose()
    _drop(admin, name)


@pytest.fixture(name="central")
def push_central(push_central_template: tuple[str, str]) -> Iterator[Store]:
    """An empty, migrated central database of this test alone."""
    yield from empty_central(push_central_template)


@pytest.fixture(scope="session")
def push_station_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("station-template") / "stationd.sqlite"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    with store.write() as conn:
        start_pushing(conn)  # synced from its first day: every event of it is pushed
    store.dispose()
    return path


@pytest.fixture(name="station")
def push_station(push_station_template: Path, tmp_path: Path) -> Iterator[Store]:
    """A station's own SQLite store (its working copy and outbox), migrated."""
    path = tmp_path / "station.sqlite"
    shutil.copy(push_station_template, path)
    store = Store(f"sqlite:///{path}")
    yield store
    store.dispose()


def same_shop(make_shop, *stores: Store, orders: int = 1, quantity: int = 5) -> list[int]:  # type: ignore[no-untyped-def]
    """The same products and packing orders (ids 1000…, one line each) in every store."""
    ids = []
    for store in stores:
        shop = make_shop(store)
        shop.product("SKU-1", on_hand=10_000)
        ids = [
            shop.order([("SKU-1", quantity)], status="packing", reserve=True) for _ in range(orders)
        ]
    return ids


def claim_at(central: Store, order_id: int, *, station: str = STATION, epoch: int = 1) -> None:
    """`station` holds `order_id` at central under `epoch` (what the claims part writes)."""
    from datetime import UTC, datetime, timedelta

    with central.write() as conn:
        conn.execute(order_claims.delete().where(order_claims.c.order_id == order_id))
        conn.execute(
            order_claims.insert().values(
                order_id=order_id,
                station=station,
                epoch=epoch,
                lease_until=datetime.now(UTC) + timedelta(minutes=5),
            )
        )


def write_ops(
    station: Store,
    order_id: int,
    count: int,
    *,
    epoch: int | None = 1,
    event: Callable[[int], AuditEvent] | None = None,
    name: str = STATION,
) -> list[str]:
    """`count` events of the order in the outbox (ItemPacked on its first line unless `event`
    says), stamped with `epoch`, as a bench under that claim writes them; their keys."""
    with station.write() as conn:
        line_id = conn.execute(
            select(func.min(order_lines.c.id)).where(order_lines.c.order_id == order_id)
        ).scalar_one()
        keys = [
            record_event(
                conn,
                (event or (lambda _: ItemPacked(line_id, "", "item")))(i),
                station=name,
                order_id=order_id,
                operator_id=None,
            )
            for i in range(count)
        ]
        conn.execute(update(events).where(events.c.key.in_(keys)).values(epoch=epoch))
    return keys


def packed_at(store: Store, order_id: int) -> int:
    with store.read() as conn:
        return conn.execute(
            select(func.sum(order_lines.c.packed)).where(order_lines.c.order_id == order_id)
        ).scalar_one()


def inbox_count(central: Store) -> int:
    with central.read() as conn:
        return conn.execute(select(func.count()).select_from(sync_ops)).scalar_one()


def answers(station: Store) -> dict[str, tuple[str | None, str | None]]:
    """Each event's key → (outcome, reason) as the station keeps them."""
    with station.read() as conn:
        rows = conn.execute(select(events.c.key, events.c.outcome, events.c.outcome_reason))
        return {key: (outcome, reason) for key, outcome, reason in rows}


class CutProxy:
    """A TCP proxy on loopback between the station and central. `cut_after_commit` makes it
    drop both sides the first time central answers a COMMIT — central has committed, the
    station never hears it: the ack lost after the commit."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_after_commit = False
        #: While set, every connection is dropped at once: central unreachable.
        self.down = False
        self.cuts = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, central_url: str) -> str:
        return (
            make_url(central_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            server = socket.create_connection(self.target)
            pair = (client, server)
            threading.Thread(
                target=self._pipe, args=(client, server, pair, False), daemon=True
            ).start()
            threading.Thread(
                target=self._pipe, args=(server, client, pair, True), daemon=True
            ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, pair, from_server: bool) -> None:  # type: ignore[no-untyped-def]
        try:
            while data := src.recv(65536):
                # CommandComplete "COMMIT": the server's answer to the transaction's end.
                if from_server and self.cut_after_commit and b"C\x00\x00\x00\x0bCOMMIT\x00" in data:
                    self.cut_after_commit = False
                    self.cuts += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()


@pytest.fixture(name="cut_proxy")
def push_cut_proxy(central: Store) -> Iterator[CutProxy]:
    port = make_url(central.url).port or 5432
    proxy = CutProxy(port)
    yield proxy
    proxy.close()
