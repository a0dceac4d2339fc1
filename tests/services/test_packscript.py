"""R8 / R17 through the runner the Tools page drives, on SQLite and PostgreSQL: a run by hand
is watched as it goes, only one runs at a time — here and across stations — and a finished
run's trace answers "why is this order not packing yet?"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from stationd.clock import utcnow
from stationd.core.packscript_reading import Outcome, Why
from stationd.events import PackScriptRunChanged
from stationd.services.packscript import PackScriptBusy, PackScriptRunner
from stationd.store.packscript import forget_old_traces
from stationd.store.packscript_activity import mark_running
from stationd.store.packscript_runlock import holding_run_lock
from stationd.store.tables import orders, packscript_runs, stations, stock


@pytest.fixture
def runner(store):
    return PackScriptRunner(store, station="bench-1")


@pytest.fixture
def small_shop(shop):
    shop.product("A", on_hand=3)
    shop.order([("A", 2)], order_id=1001)  # paid, in stock: moves
    shop.order([("A", 1)], order_id=1002, paid=False)  # waits: unpaid
    shop.order([("A", 2)], order_id=1003)  # waits: 1 left after 1001
    return shop


def test_r8_a_run_by_hand_is_watched_live_and_recorded(store, small_shop, runner):
    runner.start("manual")
    runner.stop()  # waits for the run to end
    live = runner.live()
    assert not live.running and live.failed is None and live.stopped is None
    assert live.counts == {Outcome.MOVED: 1, Outcome.UNPAID: 1, Outcome.SHORT: 1}
    assert live.steps == 8 and [s.order_id for s in live.last_steps][:3] == [1001] * 3
    (run,) = runner.recent()
    assert (run.id, run.trigger, run.moved, run.unpaid, run.short) == (
        live.run_id,
        "manual",
        1,
        1,
        1,
    )
    with store.read() as conn:
        assert (
            conn.execute(select(orders.c.status).where(orders.c.id == 1001)).scalar() == "packing"
        )
        assert conn.execute(select(stations.c.packscript_since)).scalar() is None  # marker gone


def test_r8_watchers_hear_when_a_run_starts_and_ends(small_shop, runner):
    with runner.bus.queue(PackScriptRunChanged) as heard:
        run_id, _ = runner.run("manual")
        assert heard.get(0) == PackScriptRunChanged(running=True)
        assert heard.get(0) == PackScriptRunChanged(running=False, run_id=run_id)


def test_r8_only_the_latest_steps_are_kept_live_but_every_step_is_counted(shop, runner):
    shop.product("A", on_hand=1000)
    for n in range(100):
        shop.order([("A", 1)], order_id=2000 + n)
    runner.run("manual")
    live = runner.live()
    assert live.steps == 300 and len(live.last_steps) == 60
    assert live.last_steps[-1].order_id == 2099 and live.looked_at == 100


def test_r8_a_second_run_while_one_goes_is_refused(store, small_shop, runner):
    # Another transaction holds the stock (SQLite: the whole file): the run started here waits.
    with store.write() as conn:
        conn.execute(update(stock).values(on_hand=stock.c.on_hand))
        runner.start("manual")
        assert runner.running
        with pytest.raises(PackScriptBusy, match="already going") as busy:
            runner.start("manual")
        assert busy.value.elsewhere is None
    runner.stop()
    assert not runner.running and runner.live().counts[Outcome.MOVED] == 1


def test_r17_a_run_at_another_station_is_named(store, small_shop, runner):
    with store.write() as conn:
        mark_running(conn, "bench-2", utcnow())
    # The marker counts only while bench-2 really holds the run lock (its run goes on).
    with holding_run_lock(store), pytest.raises(PackScriptBusy, match="at station bench-2") as busy:
        runner.start("manual")
    assert busy.value.elsewhere.station == "bench-2"
    assert not runner.running


def test_r17_a_run_of_the_command_line_is_seen_from_the_tools_page(store, small_shop, runner):
    # `stationd packscript` marks no station: the run lock alone says a run goes on.
    with holding_run_lock(store), pytest.raises(PackScriptBusy, match="elsewhere") as busy:
        runner.start("manual")
    assert busy.value.elsewhere.station is None
    assert not runner.running


def test_r17_a_marker_left_by_a_station_that_died_mid_run_holds_nothing_up(
    store, small_shop, runner
):
    with store.write() as conn:
        mark_running(conn, "bench-2", utcnow())  # and then bench-2 lost its power
    runner.start("manual")  # not refused as "running at bench-2"
    runner.stop()
    assert runner.live().looked_at == 3


def test_r8_a_stop_on_bad_data_says_where_and_why(store, shop, runner):
    shop.product("A", on_hand=5)
    shop.product("B", on_hand=1)
    with store.write() as conn:
        conn.execute(update(stock).where(stock.c.sku == "B").values(reserved=3))
    shop.order([("A", 1)], order_id=1001)
    shop.order([("B", 1)], order_id=1002)
    shop.order([("A", 1)], order_id=1003)
    runner.run("manual")
    live = runner.live()
    assert live.stopped.order_id == 1002 and "negative (-2)" in live.stopped.detail
    (run,) = runner.recent()
    assert run.status == "stopped" and run.stopped_order_id == 1002
    answer = runner.why(1003)
    assert answer.why is Why.STOPPED_BEFORE and "negative" in answer.reason


def test_r8_why_an_order_is_not_packing_comes_from_the_latest_trace(store, small_shop, runner):
    assert runner.why(1002).why is Why.NO_RUN
    runner.run("manual")
    assert runner.why(1001).why is Why.PACKING
    assert runner.why(1002).why is Why.UNPAID
    short = runner.why(1003)
    assert short.why is Why.SHORT and short.reason == "SKU A: needs 2, 1 available"
    small_shop.order([("A", 1)], order_id=1004)  # came in after the run
    assert runner.why(1004).why is Why.NOT_SEEN
    assert runner.why(999_999).why is Why.NO_ORDER


def test_r8_a_past_trace_is_paged_and_filtered(shop, runner):
    shop.product("A", on_hand=60)
    for n in range(120):
        shop.order([("A", 1)], order_id=3000 + n, paid=n % 2 == 0)
    run_id, _ = runner.run("manual")
    index = runner.trace(run_id)
    assert len(index) == 120 and index.count(Outcome.UNPAID) == 60
    page = index.page(outcomes=frozenset({Outcome.UNPAID}), per_page=50, page=2)
    assert (page.matching, page.pages, page.orders) == (60, 2, 10)
    assert runner.trace(run_id) is index  # read once, then kept


def test_r8_traces_older_than_keep_traces_days_are_forgotten_but_the_runs_stay(store, small_shop):
    runner = PackScriptRunner(store, station="bench-1", keep_traces_days=30)
    first, _ = runner.run("auto")
    second, _ = runner.run("auto")
    assert [len(runner.trace(run)) for run in (first, second)] == [3, 2]  # orders looked at
    with store.write() as conn:  # the first run was 31 days ago, the second 29
        for run, days in ((first, 31), (second, 29)):
            conn.execute(
                update(packscript_runs)
                .where(packscript_runs.c.id == run)
                .values(started_at=utcnow() - timedelta(days=days))
            )
    third, _ = runner.run("auto")
    kept = {run.id: run.trace_kept for run in runner.recent()}
    assert kept == {first: False, second: True, third: True}
    assert len(runner.trace(first)) == 0 and len(runner.trace(second)) == 2
    # The forgotten run keeps its counts; "why" still reads the latest run's trace.
    assert runner.run_record(first).moved == 1 and runner.run_record(first).short == 1
    assert runner.why(1003).why is Why.SHORT


def test_r8_the_latest_trace_is_kept_however_old(store, small_shop):
    runner = PackScriptRunner(store, station="bench-1", keep_traces_days=1)
    run, _ = runner.run("manual")
    with store.write() as conn:
        conn.execute(update(packscript_runs).values(started_at=utcnow() - timedelta(days=400)))
    with store.write() as conn:
        assert forget_old_traces(conn, before=utcnow()) == 0
    assert runner.run_record(run).trace_kept and len(runner.trace(run)) == 3
