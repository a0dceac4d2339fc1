"""Sync behind a connection pooler (issue 11: "safe behind a connection pooler"): a bench's
claims, push and pull through a real PgBouncer in transaction mode, with central's timeouts
still in force — a statement that overruns, or a transaction left idle, is ended by central.

PgBouncer refuses the startup parameter that carries a session's settings (`options`) unless
told to drop it; either way the timeouts must hold, so each test runs straight on PostgreSQL,
behind a PgBouncer that refuses `options`, and behind one that drops them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from bus_waits import until
from pgbouncer import pgbouncer_before
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sync.claims_support import Warehouse, comment_of

from stationd.events import Bus, ScanRead
from stationd.services.bench import BenchService
from stationd.services.central_claims import CentralClaims
from stationd.store import central_claims
from stationd.store.central_link import CentralAway, CentralLink, central_engine
from stationd.store.tables import order_lines, orders
from stationd.sync.pull import PullWorker
from stationd.sync.push import Pusher

pytestmark = pytest.mark.postgres

TIMEOUT_S = 1.0
WAYS = ["straight", "pgbouncer refusing options", "pgbouncer dropping options"]


@pytest.fixture(params=WAYS)
def way(request: pytest.FixtureRequest, claims_central) -> Iterator[str]:
    """The URL a station is given for central: straight, or through a PgBouncer."""
    if request.param == "straight":
        yield claims_central.url
        return
    dropping = request.param == "pgbouncer dropping options"
    with pgbouncer_before(claims_central.url, ignore_options=dropping) as url:
        yield url


@pytest.fixture
def house(claims_central, make_shop, tmp_path) -> Iterator[Warehouse]:
    house = Warehouse(claims_central, tmp_path, make_shop)
    yield house
    house.close()


def packed_per_line(store, order_id: int) -> list[int]:
    with store.read() as conn:
        return (
            conn.execute(
                select(order_lines.c.packed)
                .where(order_lines.c.order_id == order_id)
                .order_by(order_lines.c.id)
            )
            .scalars()
            .all()
        )


def test_issue_11_a_bench_claims_pushes_and_pulls_through_the_pooler(house, way, caplog):
    copy = house.copy_for("bench-a")
    claims = CentralClaims(CentralLink(way, timeout_s=5), copy, "bench-a", claim_ahead=1)
    bench = BenchService(copy, Bus(), "bench-a", claims=claims)
    pusher = Pusher(copy, way, timeout_s=5)
    puller = PullWorker(copy, way, poll_interval_s=0.3, timeout_s=5)
    try:
        pusher.begin()  # synced from the start: every op of the bench goes to central
        assert bench.handle_scan(ScanRead("ORD-1000", None, "serial:test")).opened
        for _ in range(2):
            assert bench.handle_scan(ScanRead(house.eans["A"], None, "serial:test")).ok
        # Keep-alives and claims more than psycopg's prepare threshold (5): a statement
        # prepared on one of PgBouncer's sessions would be missing on the other.
        for _ in range(7):
            assert claims.keep_alive().away is None
        with house.central.read() as conn:
            held = central_claims.holders(conn, [1000, 1001])
        assert {n: c.station for n, c in held.items()} == {1000: "bench-a", 1001: "bench-a"}
        for _ in range(3):
            pusher.push_all()
        assert packed_per_line(house.central, 1000) == [2, 0]

        with caplog.at_level(logging.INFO, logger="stationd.sync.pull"):
            puller.start()
            until(lambda: puller.pulls >= 1, 60, "the first pull")
            # central changes: the bench sees it by its pull (a NOTIFY, or the poll)
            with house.central.write() as conn:
                conn.execute(orders.update().where(orders.c.id == 1003).values(comment="fragile"))
            until(lambda: comment_of(copy, 1003) == "fragile", 60, "central's change in the copy")
        polling = "central is behind a connection pooler (no LISTEN there): polling every 0.3 s"
        assert (polling in caplog.text) == (way != house.central.url)
    finally:
        puller.stop()
        pusher.dispose()
        claims.link.dispose()


def test_issue_11_through_the_pooler_central_ends_a_statement_that_overruns(house, way):
    link = CentralLink(way, timeout_s=TIMEOUT_S)
    try:
        with house.central.write() as conn:
            central_claims.claim(conn, 1000, "bench-a", lease_s=300)
        # Another transaction (an admin's take-over, say) holds the claim's row locked: the
        # bench's claim again of its own order waits for the row.
        with house.central.engine.connect() as holder, holder.begin():
            holder.execute(text("SELECT 1 FROM order_claims WHERE order_id = 1000 FOR UPDATE"))
            started = time.monotonic()
            # A claim is one statement (autocommit straight on PostgreSQL); the station would
            # wait 10 s for it here: central's 1 s statement timeout ends it first.
            with pytest.raises(CentralAway, match="canceling statement due to statement timeout"):
                link.run(
                    lambda c: central_claims.claim(c, 1000, "bench-a", lease_s=300),
                    autocommit=True,
                    timeout_s=10,
                )
            assert time.monotonic() - started < 10  # central's answer, not the station's
    finally:
        link.dispose()


def test_issue_11_through_the_pooler_central_ends_a_transaction_left_idle(house, way):
    engine = central_engine(way, timeout_s=TIMEOUT_S, pool_size=1)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM order_claims FOR UPDATE"))  # the transaction
            time.sleep(3 * TIMEOUT_S)  # a station that froze inside its transaction
            with pytest.raises(DBAPIError, match=r"idle-in-transaction timeout"):
                conn.execute(text("SELECT 1"))
            conn.rollback()
        with house.central.read() as conn:
            idle = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
                )
            ).scalar_one()
        assert idle == 0
    finally:
        engine.dispose()
