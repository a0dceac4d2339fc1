"""A stalled link during a pull (issue 11; docs/sync.md): a proxy or NAT that keeps the
connection open and answers nothing — no reset, and TCP's keep-alives answered — must not hold
the pull for good. The pull's wait on central is cut, the worker says central can't be read,
and when the link heals the bench follows central again. The station's own work between two
reads (writing its copy) is never taken for central's silence."""

from __future__ import annotations

import time

import pytest
from bus_waits import until
from sqlalchemy import select
from sync.claims_support import comment_of, ended_within, proxy_to

from stationd.store import local_copy
from stationd.store.central_link import central_engine
from stationd.store.database import Store
from stationd.store.tables import orders
from stationd.store.unavailable import database_unavailable
from stationd.sync.pull import PullWorker, pull_once

pytestmark = pytest.mark.postgres

STALL_S = 2.0


@pytest.fixture
def copy(sqlite_store: Store) -> Store:
    """The bench's working copy."""
    return sqlite_store


def test_issue_11_a_pull_on_a_stalled_link_fails_and_the_next_one_after_it_heals_works(
    central, copy, make_shop
):
    shop = make_shop(central)
    shop.product("A", on_hand=10)
    order = shop.order([("A", 1)])
    with proxy_to(central.url) as proxy:
        engine = central_engine(proxy.url_for(central.url), timeout_s=5, server_timeouts=False)
        try:
            assert pull_once(copy, engine, stall_s=STALL_S).full  # its connection is pooled
            with central.write() as conn:
                conn.execute(orders.update().where(orders.c.id == order).values(comment="late"))
            proxy.stall()
            outcome = ended_within(lambda: pull_once(copy, engine, stall_s=STALL_S))
            assert isinstance(outcome, Exception) and database_unavailable(outcome)
            assert comment_of(copy, order) != "late"  # nothing of it was read
            proxy.heal()
            pull_once(copy, engine, stall_s=STALL_S)
        finally:
            engine.dispose()
    assert comment_of(copy, order) == "late"


def test_issue_11_the_pull_worker_on_a_stalled_link_says_central_is_away_then_follows_again(
    central, copy, make_shop
):
    shop = make_shop(central)
    shop.product("A", on_hand=10)
    order = shop.order([("A", 1)])
    with proxy_to(central.url) as proxy:
        worker = PullWorker(
            copy, proxy.url_for(central.url), poll_interval_s=0.3, timeout_s=1, stall_s=STALL_S
        )
        worker.start()
        try:
            until(lambda: worker.pulls >= 1, 60, "the first pull")
            proxy.stall()
            with central.write() as conn:
                conn.execute(orders.update().where(orders.c.id == order).values(comment="late"))
            until(lambda: worker.away_since is not None, 60, "the pull giving up on central")
            with copy.read() as conn:
                said = local_copy.read_state(conn).last_error
            assert said  # what `stationd sync status` and Tools → Sync show
            assert comment_of(copy, order) != "late"
            proxy.heal()
            until(lambda: comment_of(copy, order) == "late", 60, "central's change pulled")
            until(lambda: worker.away_since is None, 60, "the pull following again")
        finally:
            worker.stop()


def test_issue_11_a_pull_slow_to_write_its_copy_is_not_cut_as_a_stall(central, copy, make_shop):
    """A Pi writing a full resync's batches slowly (the packer's writes first): the time
    between two reads of central is the bench's own, however long — the pull completes."""
    shop = make_shop(central)
    shop.product("A", on_hand=10)
    made = [shop.order([("A", 1)]) for _ in range(3)]
    engine = central_engine(central.url, timeout_s=5, server_timeouts=False)
    try:
        result = pull_once(
            copy, engine, batch=1, stall_s=0.5, after_batch=lambda _: time.sleep(1.5)
        )
    finally:
        engine.dispose()
    assert result.full and result.written >= 3
    with copy.read() as conn:
        assert conn.execute(select(orders.c.id).order_by(orders.c.id)).scalars().all() == made
