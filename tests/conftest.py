"""Shared fixtures: a migrated store on SQLite and on the real PostgreSQL, a shop in it, an
event bus, kernel ptys that play serial devices, and `make_station` — a `Station` from a few
overrides of sensible test settings. Each test folder's conftest.py adds what its tests share.

PostgreSQL comes from STATIOND_TEST_PG_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test).
Each test session makes its own database on that server and drops it at the end, so runs in
parallel don't see each other. Without the variable the PostgreSQL tests are skipped — except
under CI=true, where they fail: CI must never pass by not testing.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pty_device import PtyDevice
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stationd.config import Settings, settings_from_dict
from stationd.events import Bus
from stationd.station import Station
from stationd.store.database import Store
from stationd.store.tables import CHANGE_FEED, metadata

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


#: The sequences behind the tables' serial and identity columns, with their start values.
_OWNED_SEQUENCES = text(
    "SELECT t.relname, s.oid::regclass::text, q.seqstart FROM pg_class s"
    " JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid"
    " AND d.deptype IN ('a', 'i')"
    " JOIN pg_class t ON t.oid = d.refobjid JOIN pg_sequence q ON q.seqrelid = s.oid"
    " WHERE s.relkind = 'S'"
)
_sequences: dict[str, list[tuple[str, int]]] = {}


def _empty_pg(store: Store) -> None:
    """Empty every table and restart its ids, as `TRUNCATE … RESTART IDENTITY CASCADE` would.
    A DELETE of the few tables a test filled: a TRUNCATE of all 28 makes new files for each
    table and index and took 0.3-0.9 s per test, the DELETEs take ~0.03 s. The children go
    first (reverse dependency order); the triggers keep `order_states`, `orders_text` and
    the change feed as they do for any delete, and the feed's rows go last (the deletes
    wrote some)."""
    tables = [t.name for t in metadata.sorted_tables]
    with store.engine.begin() as conn:
        if store.url not in _sequences:
            _sequences[store.url] = [
                (seq, start)
                for table, seq, start in conn.execute(_OWNED_SEQUENCES)
                if table in tables
            ]
        probe = " UNION ALL ".join(
            f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables
        )
        filled = set(conn.execute(text(probe)).scalars())
        for table in reversed(tables):
            if table in filled:
                conn.execute(text(f'DELETE FROM "{table}"'))
        if filled:
            conn.execute(text(f"DELETE FROM {CHANGE_FEED}"))
        restarts = ", ".join(
            f"setval('{seq}', {start}, false)" for seq, start in _sequences[store.url]
        )
        if restarts:
            conn.execute(text(f"SELECT {restarts}"))


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to the newest revision, for `copy_migrated` to copy: a copy
    takes a millisecond, Alembic takes ~0.1 s (and there are hundreds of stores per run)."""
    path = tmp_path_factory.mktemp("migrated") / "stationd.sqlite"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    store.dispose()
    # The last connection closed checkpointed the WAL into the file and removed it: the file
    # alone is the whole database.
    assert not path.with_name(path.name + "-wal").exists()
    return path


def copy_migrated(template: Path, to: Path) -> bool:
    """Put a copy of the migrated `template` at `to` unless a database is there already (then
    it is left alone, for its store to migrate); True if it copied."""
    if to.exists():
        return False
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, to)
    return True


@pytest.fixture
def sqlite_store(tmp_path: Path, migrated_sqlite: Path) -> Iterator[Store]:
    path = tmp_path / "stationd.sqlite"
    copy_migrated(migrated_sqlite, path)
    store = Store(f"sqlite:///{path}")
    yield store
    store.dispose()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    store = Store(pg_url)
    _empty_pg(store)
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
            rows = [
                {
                    "order_id": order_id,
                    "position": pos,
                    "sku": sku,
                    "name": info[sku].name if sku in info else sku,
                    "gtin": info[sku].gtin if sku in info else None,
                    "quantity": qty,
                    "unit_price_minor": info[sku].price_minor if sku in info else 0,
                }
                for pos, (sku, qty) in enumerate(lines)
            ]
            if rows:  # one statement for all lines: an order of 50 lines is one round trip
                conn.execute(insert(order_lines), rows)
            for sku, qty in lines if reserve else []:
                conn.execute(
                    update(stock).where(stock.c.sku == sku).values(reserved=stock.c.reserved + qty)
                )
        return order_id


@pytest.fixture
def shop(store: Store) -> ShopFactory:
    return ShopFactory(store)


@pytest.fixture
def make_shop() -> type[ShopFactory]:
    """The factory class itself, for a test that builds its own store."""
    return ShopFactory


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def ptys() -> Iterator[Callable[[], PtyDevice]]:
    """Makes `PtyDevice`s (a scanner, a scale, a printer at the far end of a kernel pty); each
    is unplugged when the test ends."""
    made: list[PtyDevice] = []

    def make() -> PtyDevice:
        made.append(PtyDevice())
        return made[-1]

    yield make
    for pty in made:
        pty.unplug()


class StationFactory:
    """`Station`s for tests: named, with their state (database, scan inbox) in the test's
    tmp_path, in English, with the pack script's timer off. Keyword overrides: `name`,
    `language`, `state_dir`, and any config section (`kiosk={...}`, `printers=[...]`,
    `print={...}`); a table is merged into the default one, a list replaces it. `served=True`
    puts the kiosk on a free port, for a station that is started."""

    def __init__(self, tmp_path: Path, migrated_sqlite: Path) -> None:
        self.tmp_path = tmp_path
        self.migrated_sqlite = migrated_sqlite
        self.made: list[Station] = []

    def settings(
        self,
        *,
        name: str = "test-station",
        language: str = "en",
        state_dir: Path | None = None,
        served: bool = False,
        **sections: Any,
    ) -> Settings:
        config: dict[str, Any] = {
            "station": {
                "name": name,
                "state_dir": str(state_dir or self.tmp_path),
                "language": language,
            },
            "packscript": {"interval_min": 0},
        }
        for section, value in sections.items():
            default = config.get(section)
            if isinstance(default, dict) and isinstance(value, dict):
                config[section] = {**default, **value}
            else:
                config[section] = value
        settings = settings_from_dict(config)
        if served:
            # Port 0 is no port a config file may name, but the one a test's server wants.
            settings = dataclasses.replace(
                settings, kiosk=dataclasses.replace(settings.kiosk, port=0)
            )
        return settings

    def __call__(self, *, upgrade: bool = True, **overrides: Any) -> Station:
        """A `Station` of `settings(**overrides)`, its store migrated unless `upgrade=False`.
        A new SQLite file is a copy of the session's migrated one; any other is migrated."""
        settings = self.settings(**overrides)
        copied = False
        url = make_url(settings.database_url())
        on_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        if upgrade and on_file:
            copied = copy_migrated(self.migrated_sqlite, Path(str(url.database)))
        station = Station(settings)
        self.made.append(station)
        if upgrade and not copied:
            station.store.upgrade()
        return station


@pytest.fixture
def make_station(tmp_path: Path, migrated_sqlite: Path) -> Iterator[StationFactory]:
    """Builds `Station`s (see `StationFactory`); their stores are closed when the test ends."""
    factory = StationFactory(tmp_path, migrated_sqlite)
    yield factory
    for station in factory.made:
        station.store.dispose()


class OwnPostgres:
    """A PostgreSQL cluster of the test's own — initdb and pg_ctl as the `postgres` user, on a
    free loopback port and a folder under /tmp — which a test may stop and start (a database
    outage) without touching the shared server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bin_dir:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
            pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
        self.bin = bin_dir[-1]
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def _as_postgres(self, program: str, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self.bin / program), *args]
        if os.geteuid() != 0:
            command = command[4:]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop it at once, as a crash or a pulled cable would (open connections break)."""
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def fresh_database(self) -> str:
        """A new, empty database on this cluster; its URL."""
        name = f"t_{uuid.uuid4().hex[:10]}"
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL cluster the tests own and may stop (see `OwnPostgres`); running when a test
    gets it. Shared by the session: initdb costs seconds."""
    folder = Path(tempfile.mkdtemp(prefix="stationd-own-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = OwnPostgres(folder)
    cluster.start()
    try:
        yield cluster
    finally:
        if cluster.running():
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def own_pg_url(own_postgres: OwnPostgres) -> Iterator[str]:
    """A fresh database on `own_postgres`, which is running again after the test."""
    if not own_postgres.running():
        own_postgres.start()
    yield own_postgres.fresh_database()
    if not own_postgres.running():
        own_postgres.start()
