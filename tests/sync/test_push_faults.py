"""Push under faults that kill a process (issue 11 "Tests"): central killed in the middle of an
op (a cluster of the test's own), and the station killed in the middle of a push (a process
pushing, SIGKILL, a restart). Each time: nothing lost, nothing doubled — rows counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sync.push_fixtures import (  # noqa: F401  (the push's fixtures: central, station, …)
    claim_at,
    inbox_count,
    packed_at,
    push_central,
    push_central_template,
    push_cut_proxy,
    push_station,
    push_station_template,
    same_shop,
    write_ops,
)

from stationd.store.database import Store
from stationd.store.tables import events, sync_ops
from stationd.sync.push import Pusher

pytestmark = pytest.mark.postgres


def _wait_for(check, what: str, timeout_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"{what} did not happen in {timeout_s} s")
        time.sleep(0.02)


def _unanswered(station: Store) -> int:
    with station.read() as conn:
        return conn.execute(
            select(func.count()).select_from(events).where(events.c.outcome.is_(None))
        ).scalar_one()


def test_central_killed_mid_op_the_op_counts_once_when_it_is_back(
    station, own_postgres, own_pg_url, make_shop
):
    central = Store(own_pg_url)
    central.upgrade()
    (order,) = same_shop(make_shop, station, central)
    claim_at(central, order)
    keys = write_ops(station, order, 5)
    # The test's own transaction holds the first op's key: the push's op gets through its
    # effects and waits at its inbox row — in the middle of the op — when central dies.
    holder = central.engine.connect()
    holder.execute(
        text(
            "INSERT INTO sync_ops (key, station, kind, at, received_at, outcome) "
            "VALUES (:k, 'x', 'x', now(), now(), 'accepted')"
        ),
        {"k": keys[0]},
    )
    pusher = Pusher(station, own_pg_url, timeout_s=30)
    failed: list[BaseException] = []

    def push() -> None:
        try:
            pusher.push_round()
        except BaseException as err:
            failed.append(err)

    thread = threading.Thread(target=push)
    thread.start()
    with central.engine.connect() as watch:
        _wait_for(
            lambda: (
                watch.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar() > 0
            ),
            "the push waiting mid-op",
        )
    own_postgres.stop()
    thread.join(timeout=30)
    holder.invalidate()
    assert failed and isinstance(failed[0], OperationalError)
    assert _unanswered(station) == 5
    own_postgres.start()
    central.engine.dispose()
    assert inbox_count(central) == 0  # the op in flight died with central: not half there
    assert packed_at(central, order) == 0
    done = pusher.push_all()
    pusher.dispose()
    assert (done.sent, done.refused) == (5, 0)
    assert inbox_count(central) == 5 and packed_at(central, order) == 5
    central.dispose()


_PUSH_FOREVER = textwrap.dedent(
    """
    import sys
    from stationd.store.database import Store
    from stationd.sync.push import Pusher

    pusher = Pusher(Store(sys.argv[1]), sys.argv[2], timeout_s=30, batch=int(sys.argv[3]))
    while True:
        pusher.push_round()
    """
)


def test_the_station_killed_mid_push_loses_and_doubles_nothing(
    station, central, make_shop, tmp_path: Path
):
    (order,) = same_shop(make_shop, station, central, quantity=100_000)
    claim_at(central, order)
    total = 400
    write_ops(station, order, total)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", _PUSH_FOREVER, station.url, central.url, "50"],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        # Killed while central has part of the backlog and more is on its way.
        _wait_for(lambda: inbox_count(central) >= 120 or child.poll() is not None, "pushing")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()
    assert 0 < inbox_count(central) < total
    pusher = Pusher(station, central.url, timeout_s=30)  # the restarted station
    done = pusher.push_all()
    pusher.dispose()
    assert done.refused == 0
    assert inbox_count(central) == total
    assert packed_at(central, order) == total
    assert _unanswered(station) == 0
    with central.read() as conn:
        keys = set(conn.execute(select(sync_ops.c.key)).scalars())
    with station.read() as conn:
        assert keys == set(conn.execute(select(events.c.key)).scalars())


def test_the_worker_waits_out_an_outage_and_pushes_the_backlog_once_when_central_returns(
    station, central, cut_proxy, make_shop
):
    from stationd.store.outbox import read_notes
    from stationd.sync.push import PushWorker

    (order,) = same_shop(make_shop, station, central, quantity=100)
    claim_at(central, order)
    cut_proxy.down = True
    worker = PushWorker(Pusher(station, cut_proxy.url(central.url), timeout_s=5), interval_s=0.05)
    write_ops(station, order, 30)  # packed while central is away
    worker.start()
    try:
        _wait_for(lambda: worker.failures >= 2, "the push meeting the outage")
        state = worker.state()
        assert state.offline_since is not None and state.waiting == 30 and state.last_error
        with station.read() as conn:
            assert "last_error" in read_notes(conn)
        cut_proxy.down = False
        _wait_for(lambda: worker.waiting() == 0, "the backlog pushed")
    finally:
        worker.stop()
    assert worker.failures == 0 and worker.offline_since is None
    assert inbox_count(central) == 30 and packed_at(central, order) == 30


def test_issue_11_central_answering_the_pull_ends_the_push_back_off_and_the_backlog_goes_at_once(
    station, central, cut_proxy, make_shop
):
    """The push's back-off (here from a 120 s interval: 60-120 s after one failure) is cut
    short when the pull hears central: the backlog written offline reaches central long
    before the back-off would have ended (bench/sync_chaos.py's copies waited it out)."""
    from stationd.sync.answers import tell_each_other
    from stationd.sync.pull import PullWorker
    from stationd.sync.push import PushWorker

    (order,) = same_shop(make_shop, station, central, quantity=100)
    claim_at(central, order)
    cut_proxy.down = True
    push = PushWorker(Pusher(station, cut_proxy.url(central.url), timeout_s=5), interval_s=120)
    pull = PullWorker(station, cut_proxy.url(central.url), poll_interval_s=0.2, timeout_s=2)
    tell_each_other(push, pull)
    write_ops(station, order, 12)  # packed while central is away
    push.start()
    pull.start()
    try:
        _wait_for(lambda: push.failures >= 1 and pull.away_since, "both meeting the outage")
        cut_proxy.down = False  # the network is back: the pull's next try answers
        _wait_for(lambda: push.waiting() == 0, "the backlog pushed", timeout_s=50)
    finally:
        push.stop()
        pull.stop()
    assert push.offline_since is None
    assert inbox_count(central) == 12 and packed_at(central, order) == 12


def test_issue_11_a_link_that_stalls_mid_push_ends_the_round_in_an_error_not_a_wait_for_ever(
    station, central, make_shop
):
    """A proxy that keeps the connection open and forwards nothing (bench/sync_chaos.py's
    proxy did so after a cut: a copy never agreed, its push waiting on a dead link): the round
    is cut and fails as central away; healed, every op reaches central once."""
    from sync.claims_support import ended_within, proxy_to

    from stationd.store.unavailable import database_unavailable

    (order,) = same_shop(make_shop, station, central, quantity=100)
    claim_at(central, order)
    write_ops(station, order, 5)
    with proxy_to(central.url) as proxy:
        pusher = Pusher(station, proxy.url_for(central.url), timeout_s=1)
        try:
            pusher.push_all()  # its connection is pooled, open through the proxy
            write_ops(station, order, 5)
            proxy.stall()
            outcome = ended_within(pusher.push_round)
            assert isinstance(outcome, Exception) and database_unavailable(outcome)
            proxy.heal()
            pusher.push_all()
        finally:
            pusher.dispose()
    assert _unanswered(station) == 0
    assert inbox_count(central) == 10 and packed_at(central, order) == 10
