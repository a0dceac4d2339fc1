"""A pack-script run read and decided in a child process (issue 10, item 11), on SQLite and
PostgreSQL: the child decides exactly as a run in `serve`'s own process would (R6–R8); a child
killed mid-run (a real SIGKILL) or a Stop from Tools ends the run with stock and orders
agreeing, the child gone, and the next run does the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

import stationd.services.packscript_child as packscript_child
import stationd.services.packscript_run as packscript_run
from stationd.core.packscript import run_pack_script
from stationd.core.packscript_reasons import NegativeStock
from stationd.services.packscript import PackScriptRunner
from stationd.services.packscript_run import (
    STOPPED_BY_HAND,
    PackScriptRunFailed,
    read_snapshot,
    run_once,
)
from stationd.store.packscript import recent_runs
from stationd.store.packscript_activity import trace_steps
from stationd.store.tables import stock
from tests.services.test_packscript_chunks import (
    assert_stock_matches_lines,
    between_transactions,
    moved_by_events,
    statuses,
)

CHILD_MODULE = "stationd.services.packscript_child"


def decide_children() -> list[int]:
    """The pids of this process's children that read and decide a run, as /proc says."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:  # a thread (or a child) may end while we look
            pids = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for pid in pids:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if CHILD_MODULE.encode() in command:
                found.append(int(pid))
    return found


def started_child() -> list[int]:
    """`decide_children()` once a child just started shows its command (empty while it execs)."""
    deadline = time.monotonic() + 10
    while not (found := decide_children()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def reserved(store) -> dict[str, int]:
    with store.read() as conn:
        return dict(conn.execute(select(stock.c.sku, stock.c.reserved)).all())


def test_r6_r8_a_child_decides_as_a_run_in_this_process_does(store, shop):
    shop.product("A", on_hand=5)
    shop.product("B", on_hand=2)
    shop.product("C", on_hand=0)
    shop.product("D", on_hand=1)
    shop.order([("A", 1)])  # moves
    shop.order([("A", 1)], paid=False)  # waits: unpaid
    shop.order([("B", 3)])  # short
    shop.order([("NOPE", 1)])  # no stock record
    shop.order([("A", 0)])  # skipped: quantity below one
    shop.order([("A", 1), ("B", 1), ("A", 1)])  # the same SKU twice: moves
    shop.order([])  # skipped: no lines
    shop.order([("C", 1)])  # short
    shop.order([("B", 1)])  # the last B: moves
    shop.order([("D", 3)], status="packing", reserve=True)  # D: 1 on hand, 3 reserved
    last = shop.order([("A", 1), ("D", 1)])  # negative stock: the run stops here (R8)
    candidates, _, available = read_snapshot(store)
    here = run_pack_script(candidates, available)
    assert here.stopped is not None and here.stopped.order_id == last  # the shop is as meant

    steps = []
    run_id, result = run_once(
        store, station="s", trigger="manual", on_step=steps.append, in_child=True
    )

    assert result.moved_ids == here.moved_ids and len(here.moved_ids) == 3
    assert result.trace == here.trace  # every step, its reason typed
    assert steps == list(here.trace)  # what the Tools page watched
    assert isinstance(result.stopped.detail, NegativeStock)
    with store.read() as conn:
        assert list(trace_steps(conn, run_id)) == list(here.trace)
        [run] = recent_runs(conn)
    assert (run.status, run.moved, run.looked_at, run.stopped_order_id) == (
        "stopped",
        3,
        here.looked_at,
        last,
    )
    assert reserved(store) == {"A": 3, "B": 2, "C": 0, "D": 3}  # D as it was: corrupt
    assert decide_children() == []


@pytest.fixture
def big_orders(store, shop, monkeypatch) -> list[int]:
    """80 orders of 50 long lines each (~200 KB of moves: more than a pipe holds), which the
    run writes one order a transaction and the child sends one order a message: the child is
    still sending while the run writes its first orders."""
    monkeypatch.setattr(packscript_run, "FIRST_CHUNK", 1)
    monkeypatch.setattr(packscript_run, "SMALLEST_CHUNK", 1)
    monkeypatch.setattr(packscript_run, "LARGEST_CHUNK", 1)
    monkeypatch.setattr(packscript_run, "CENTRAL_CHUNK", 1)
    monkeypatch.setattr(packscript_run, "HOLD_S", 0.0)
    monkeypatch.setattr(packscript_child, "MOVES_PER_BATCH", 1)
    skus = [f"SKU-{n:03d}-" + "x" * 32 for n in range(50)]  # 40 characters, the most
    for sku in skus:
        shop.product(sku, on_hand=1000)
    return [shop.order([(sku, 1) for sku in skus]) for _ in range(80)]


def test_r7_a_child_killed_mid_run_leaves_stock_and_orders_agreeing(store, monkeypatch, big_orders):
    killed = []

    def kill_the_child() -> None:
        [pid] = decide_children()
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    between_transactions(monkeypatch, store, 2, kill_the_child)
    with pytest.raises(PackScriptRunFailed) as failed:
        run_once(store, station="s", trigger="manual", in_child=True)

    assert killed and decide_children() == []
    packing = [n for n, status in statuses(store).items() if status == "packing"]
    assert 2 <= len(packing) < len(big_orders)  # what came before the kill, and no more
    assert packing == big_orders[: len(packing)]
    assert_stock_matches_lines(store)
    with store.read() as conn:
        [dead] = recent_runs(conn)
    assert (dead.id, dead.status, dead.moved) == (failed.value.run_id, "failed", len(packing))
    assert "ended" in dead.error  # the child ended before it had sent everything
    assert set(moved_by_events(store).values()) == {dead.id}

    run_id, result = run_once(store, station="s", trigger="manual", in_child=True)

    assert result.moved_ids == big_orders[len(packing) :]
    assert set(statuses(store).values()) == {"packing"}
    assert_stock_matches_lines(store)
    assert set(moved_by_events(store).values()) == {dead.id, run_id}


def test_r8_stop_from_tools_ends_the_run_and_its_child(store, monkeypatch, big_orders):
    runner = PackScriptRunner(store, station="s")
    children = []

    def stop() -> None:
        children.extend(decide_children())
        assert runner.cancel()

    between_transactions(monkeypatch, store, 2, stop)
    runner.start("manual")
    runner.stop()  # waits for the run to end

    assert len(children) == 1 and decide_children() == []
    assert not Path(f"/proc/{children[0]}").exists()  # ended and reaped
    live = runner.live()
    assert not live.running and live.failed is None
    assert live.stopped.detail == STOPPED_BY_HAND
    assert [n for n, s in statuses(store).items() if s == "packing"] == big_orders[:2]
    assert_stock_matches_lines(store)
    with store.read() as conn:
        [run] = recent_runs(conn)
        steps = list(trace_steps(conn, run.id))
    assert (run.status, run.moved, run.looked_at, run.error) == ("stopped", 2, 2, STOPPED_BY_HAND)
    assert steps[-1].detail == STOPPED_BY_HAND
    assert not runner.cancel()  # nothing going on now

    runner.run("manual")  # the next run does the rest
    assert set(statuses(store).values()) == {"packing"}
    assert_stock_matches_lines(store)


def test_r6_a_run_takes_the_child_started_ahead_and_the_next_is_started(store, shop):
    shop.product("A", on_hand=2)
    first, second = shop.order([("A", 1)]), shop.order([("A", 1)])
    runner = PackScriptRunner(store, station="s")
    runner.keep_child_ready()
    [waiting] = started_child()

    _, result = runner.run("auto")

    assert result.moved_ids == [first, second]
    assert set(statuses(store).values()) == {"packing"}
    assert_stock_matches_lines(store)
    [next_one] = started_child()  # the run's child ended; the next run's waits
    assert next_one != waiting and not Path(f"/proc/{waiting}").exists()
    runner.stop()
    assert decide_children() == [] and not Path(f"/proc/{next_one}").exists()


def test_a_child_started_ahead_ends_when_serve_does(tmp_path):
    # serve killed (no stop): the child waiting for its request reads the end of its stdin.
    script = (
        "import os, sys\n"
        "from stationd.services.packscript_child import ReadyChild\n"
        "ready = ReadyChild(); ready.prepare()\n"
        "print(ready._process.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    pid = int(done.stdout)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return  # ended and reaped
        if state == "Z":
            return  # ended; the reaper of orphans here is not quick to reap
        time.sleep(0.05)
    pytest.fail(f"the child {pid} still waits for a request from a serve that is gone")
