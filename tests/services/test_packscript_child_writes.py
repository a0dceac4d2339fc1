"""On PostgreSQL the pack script's child writes the moves itself (issue 11): one transaction,
written while it decides, committed only when `serve` says so. A Stop before that writes
nothing, one after it lets the run end as written; a child killed before its commit leaves
nothing written; stock taken while the child decided is not reserved again (R7, R8).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import stationd.services.packscript_run as packscript_run
import stationd.store.packscript_chunks as chunks
from stationd.services.packscript_child import DecideFailed, DecideInChild
from stationd.services.packscript_run import (
    STOPPED_BY_HAND,
    PackScriptRunFailed,
    RunStop,
    run_once,
)
from stationd.store.packscript import recent_runs
from tests.services.test_packscript_child import decide_children
from tests.services.test_packscript_chunks import (
    assert_stock_matches_lines,
    moved_by_events,
    statuses,
    stock_of,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def orders(pg_store, make_shop) -> list[int]:
    """Three paid orders, all of which the run moves: [A 1], [B 2], [A 1]."""
    shop = make_shop(pg_store)
    shop.product("A", on_hand=10)
    shop.product("B", on_hand=2)
    return [shop.order([("A", 1)]), shop.order([("B", 2)]), shop.order([("A", 1)])]


@pytest.fixture
def parent_writes_nothing(monkeypatch) -> None:
    """The run's own process writes no move: the child does (a parent's write would fail)."""

    def not_here(*args, **kwargs):
        raise AssertionError("the parent wrote moves")

    monkeypatch.setattr(chunks, "move_orders", not_here)
    monkeypatch.setattr(packscript_run, "decide_while_writing", not_here)


def at_commit(monkeypatch, act) -> None:
    """Call `act(stop)` when the run is asked whether its child may commit; it decides."""
    monkeypatch.setattr(RunStop, "let_commit", lambda stop: act(stop, real_let_commit))


real_let_commit = RunStop.let_commit


def run_of(store, run_id: int):
    with store.read() as conn:
        return next(run for run in recent_runs(conn) if run.id == run_id)


def test_r7_a_child_on_postgresql_writes_the_moves_itself(pg_store, orders, parent_writes_nothing):
    run_id, result = run_once(pg_store, station="s", trigger="manual", in_child=True)

    assert result.moved_ids == orders
    assert set(statuses(pg_store).values()) == {"packing"}
    assert stock_of(pg_store, "A") == (10, 2) and stock_of(pg_store, "B") == (2, 2)
    assert_stock_matches_lines(pg_store)
    assert moved_by_events(pg_store) == dict.fromkeys(orders, run_id)
    run = run_of(pg_store, run_id)
    assert (run.status, run.moved, run.looked_at) == ("ok", 3, 3)
    assert decide_children() == []


def test_r8_a_stop_before_the_childs_commit_writes_nothing(pg_store, orders, monkeypatch):
    children = []

    def stop_first(stop, let_commit):
        children.extend(decide_children())
        stop.stop()  # the Stop from Tools comes now
        return let_commit(stop)

    at_commit(monkeypatch, stop_first)
    run_id, result = run_once(pg_store, station="s", trigger="manual", in_child=True)

    assert result.moved_ids == [] and result.stopped.detail == STOPPED_BY_HAND
    assert set(statuses(pg_store).values()) == {"order"}
    assert stock_of(pg_store, "A") == (10, 0) and stock_of(pg_store, "B") == (2, 0)
    assert moved_by_events(pg_store) == {}
    run = run_of(pg_store, run_id)
    assert (run.status, run.moved, run.error) == ("stopped", 0, STOPPED_BY_HAND)
    assert len(children) == 1 and decide_children() == []
    assert not Path(f"/proc/{children[0]}").exists()  # ended and reaped


def test_r8_a_stop_once_the_child_commits_lets_the_run_end_as_written(
    pg_store, orders, monkeypatch
):
    def stop_after(stop, let_commit):
        allowed = let_commit(stop)
        stop.stop()  # too late: the child commits, and is not killed in the middle
        return allowed

    at_commit(monkeypatch, stop_after)
    run_id, result = run_once(pg_store, station="s", trigger="manual", in_child=True)

    assert result.moved_ids == orders and result.stopped is None
    assert set(statuses(pg_store).values()) == {"packing"}
    assert_stock_matches_lines(pg_store)
    assert run_of(pg_store, run_id).status == "ok"
    assert decide_children() == []


def test_r7_a_child_killed_before_its_commit_leaves_nothing_written(pg_store, orders, monkeypatch):
    def kill_first(stop, let_commit):
        [pid] = decide_children()
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z":
            time.sleep(0.01)  # dead (not yet reaped): its connection is gone with it
        return let_commit(stop)

    at_commit(monkeypatch, kill_first)
    with pytest.raises(PackScriptRunFailed) as failed:
        run_once(pg_store, station="s", trigger="manual", in_child=True)

    assert set(statuses(pg_store).values()) == {"order"}
    assert stock_of(pg_store, "A") == (10, 0) and stock_of(pg_store, "B") == (2, 0)
    run = run_of(pg_store, failed.value.run_id)
    assert (run.status, run.moved) == ("failed", 0)
    assert decide_children() == []

    monkeypatch.undo()
    run_id, result = run_once(pg_store, station="s", trigger="manual", in_child=True)
    assert result.moved_ids == orders  # the next run does it all, once
    assert_stock_matches_lines(pg_store)
    assert moved_by_events(pg_store) == dict.fromkeys(orders, run_id)


def test_r7_stock_taken_while_the_child_decided_is_not_reserved_again(
    pg_store, orders, monkeypatch
):
    def stock_counted_down(stop, let_commit):
        # A stock import while the child decided: B has 1 now, not 2. The child's transaction
        # holds the orders it moved, not the stock, which it reserves after this.
        with pg_store.write() as conn:
            conn.exec_driver_sql("UPDATE stock SET on_hand = 1 WHERE sku = 'B'")
        return let_commit(stop)

    at_commit(monkeypatch, stock_counted_down)
    run_id, result = run_once(pg_store, station="s", trigger="manual", in_child=True)

    # The child found B taken and wrote nothing; decided again, order 2 is short now.
    first, second, third = orders
    assert result.moved_ids == [first, third]
    assert statuses(pg_store) == {first: "packing", second: "order", third: "packing"}
    assert stock_of(pg_store, "A") == (10, 2) and stock_of(pg_store, "B") == (1, 0)
    assert_stock_matches_lines(pg_store)
    assert moved_by_events(pg_store) == {first: run_id, third: run_id}
    assert run_of(pg_store, run_id).status == "ok"
    assert decide_children() == []


def test_r8_a_stop_whose_kill_missed_the_child_still_keeps_it_from_committing(
    pg_store, orders, monkeypatch
):
    # The Stop comes between the kill's look at the child and the question: not killed, the
    # child is told no, rolls back and ends.
    def stopped_unkilled(stop, let_commit):
        stop._event.set()
        return let_commit(stop)

    at_commit(monkeypatch, stopped_unkilled)
    run_id, result = run_once(pg_store, station="s", trigger="manual", in_child=True)

    assert result.moved_ids == [] and result.stopped.detail == STOPPED_BY_HAND
    assert set(statuses(pg_store).values()) == {"order"}
    assert stock_of(pg_store, "A") == (10, 0) and stock_of(pg_store, "B") == (2, 0)
    assert (run_of(pg_store, run_id).status, run_of(pg_store, run_id).moved) == ("stopped", 0)
    assert decide_children() == []


def test_r7_a_child_lost_after_its_commit_fails_the_run_and_its_row_keeps_the_moves(
    pg_store, orders, monkeypatch
):
    # Told to commit, the child commits; then a Stop comes and the answer is lost (the pipe
    # broke). The run can't say it wrote nothing: it failed, its row counts what was moved.
    real_commit = DecideInChild.commit

    def committed_then_lost(decided, go_on):
        def go_on_then_stop():
            allowed = go_on()
            stop_of_the_run.stop()
            return allowed

        real_commit(decided, go_on_then_stop)
        raise DecideFailed("the decide's child ended in the middle of a message")

    stop_of_the_run = RunStop()
    monkeypatch.setattr(DecideInChild, "commit", committed_then_lost)
    with pytest.raises(PackScriptRunFailed) as failed:
        run_once(pg_store, station="s", trigger="manual", in_child=True, stop=stop_of_the_run)

    assert set(statuses(pg_store).values()) == {"packing"}
    assert_stock_matches_lines(pg_store)
    run = run_of(pg_store, failed.value.run_id)
    assert (run.status, run.moved) == ("failed", 3)
    assert moved_by_events(pg_store) == dict.fromkeys(orders, run.id)
    assert decide_children() == []


def test_r7_a_child_whose_serve_dies_before_the_commit_writes_nothing(pg_store, pg_url, orders):
    # serve killed while its child waits to be told to commit: the child reads the end of its
    # stdin, rolls back and ends.
    script = (
        "import os, sys\n"
        "from stationd.services.packscript_child import DecideInChild, WriteInChild, _receive\n"
        f"decided = DecideInChild({pg_url!r}, busy_timeout_s=5, write=WriteInChild('s', 0, 100))\n"
        "assert decided.writes and _receive(decided._out) == ('ready',)\n"
        "print(decided.process.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the child {pid} still waits for a serve that is gone")

    assert set(statuses(pg_store).values()) == {"order"}
    assert stock_of(pg_store, "A") == (10, 0) and stock_of(pg_store, "B") == (2, 0)
    assert moved_by_events(pg_store) == {}
