"""The pack script on central PostgreSQL (issue 11, R7/R17): one run at a time by a
transaction-scoped advisory lock — a second runner is refused at once — and central's own
timeouts end a runner that stalls, so it holds neither the run lock nor any row for long.

The stalled runner is a real process that stops itself (SIGSTOP) at a chosen point; the
server's `idle_in_transaction_session_timeout` ends its transaction, as it would for a station
that froze or a network that went silent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgbouncer import pgbouncer_before
from sqlalchemy import func, select, update

from stationd.services.packscript_run import run_once
from stationd.store.database import Store
from stationd.store.packscript import recent_runs
from stationd.store.packscript_runlock import RunLockTaken, holding_run_lock, run_lock_held
from stationd.store.tables import order_lines, orders, packscript_runs, stock

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(pg_store: Store) -> Store:
    """Central: PostgreSQL only (SQLite's run lock is a file's flock, per bench)."""
    return pg_store


def statuses(store: Store) -> dict[int, str]:
    with store.read() as conn:
        return dict(conn.execute(select(orders.c.id, orders.c.status)).all())


def reserved(store: Store, sku: str) -> int:
    with store.read() as conn:
        return conn.execute(select(stock.c.reserved).where(stock.c.sku == sku)).scalar_one()


def packing_need(store: Store, sku: str) -> int:
    """R7: what the packing orders' lines hold of `sku` — what stock must say is reserved."""
    with store.read() as conn:
        return conn.execute(
            select(func.coalesce(func.sum(order_lines.c.quantity), 0))
            .join(orders, orders.c.id == order_lines.c.order_id)
            .where(orders.c.status == "packing", order_lines.c.sku == sku)
        ).scalar_one()


def lock_held(store: Store) -> bool:
    with store.read() as conn:
        return run_lock_held(conn)


def wait_for(what, *, within_s: float = 60.0, why: str) -> None:
    """Wait for `what()` to be true: the thing itself, polled; the bound only ends a hang."""
    deadline = time.monotonic() + within_s
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.02)


def stopped(process: subprocess.Popen) -> bool:
    """Whether `process` is stopped (SIGSTOP), as the kernel says."""
    state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert process.poll() is None, process.stderr.read() if process.stderr else ""
    return state in ("T", "t")


def test_r17_a_second_run_on_central_is_refused_at_once_and_records_nothing(store, shop):
    shop.product("A", on_hand=5)
    waiting = shop.order([("A", 2)])
    with store.read() as conn:
        runs_before = conn.execute(select(func.count()).select_from(packscript_runs)).scalar()

    with holding_run_lock(store):  # a run going elsewhere: its lock, on a session of its own
        assert lock_held(store)
        began = time.monotonic()
        with pytest.raises(RunLockTaken, match="Another pack-script run is going"):
            run_once(store, station="bench-2", trigger="manual")
        # Refused, not queued behind the other run (the old session lock waited for it).
        assert time.monotonic() - began < 30
        assert statuses(store) == {waiting: "order"} and reserved(store, "A") == 0
        with store.read() as conn:
            runs = conn.execute(select(func.count()).select_from(packscript_runs)).scalar()
        assert runs == runs_before  # a refused run is no run: nothing on the Tools page

    assert not lock_held(store)  # the lock went with its transaction
    _, result = run_once(store, station="bench-2", trigger="manual")
    assert result.moved_ids == [waiting]


def test_r17_the_run_lock_keeps_no_session_state(store, shop):
    # Behind a pooler in transaction mode a session outlives its client: nothing of a run may
    # stay on it. After a run, its connections hold no advisory lock and no setting of its own.
    shop.product("A", on_hand=5)
    shop.order([("A", 1)])
    run_once(store, station="bench-1", trigger="manual")
    with store.read() as conn:
        left = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).scalar()
        timeouts = conn.exec_driver_sql(
            "SELECT current_setting('statement_timeout'), "
            "current_setting('idle_in_transaction_session_timeout')"
        ).one()
    assert left == 0
    assert tuple(timeouts) == ("0", "0")


STALLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import stationd.services.packscript_run as run
    import stationd.store.packscript as pack_store
    import stationd.store.packscript_chunks as chunks
    import stationd.store.packscript_runlock as runlock
    from stationd.store.database import Store

    where = sys.argv[2]
    runlock.RUN_HOLD_S = 1.0
    pack_store.RUN_IDLE_S = 1.0

    stalls = []

    def stall():
        if not stalls:  # once: woken, it goes on
            stalls.append(1)
            os.kill(os.getpid(), signal.SIGSTOP)  # frozen, as a station whose power sags

    def on_step(step):
        if where == "deciding" and step.check == "decision":
            stall()

    real_move = chunks.move_orders

    def move_orders(*args, **kwargs):
        real_move(*args, **kwargs)  # its orders and stock rows written, not committed
        if where == "writing":
            stall()

    chunks.move_orders = move_orders
    real_central_move = chunks.CentralMoves.move  # the write while it decides

    def central_move(self, moves):
        real_central_move(self, moves)  # its orders written, not committed
        if where == "writing":
            stall()

    chunks.CentralMoves.move = central_move
    try:
        run_id, result = run.run_once(Store(sys.argv[1]), station="frozen", trigger="auto",
                                      on_step=on_step)
        print("moved", len(result.moves))
    except run.PackScriptRunFailed as err:
        print("failed", err.run_id)
    """
)


def stalled_runner(store: Store, where: str) -> subprocess.Popen:
    """A runner process that stops itself `where` ("deciding": the run lock held, no write
    transaction open; "writing": inside its write transaction, its rows locked)."""
    return subprocess.Popen(
        [sys.executable, "-c", STALLED_RUN, store.url, where],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_r17_a_stalled_runner_loses_the_run_lock_to_centrals_idle_timeout(store, shop):
    shop.product("A", on_hand=3)
    first, second = shop.order([("A", 2)]), shop.order([("A", 1)])
    frozen = stalled_runner(store, "deciding")
    try:
        wait_for(lambda: stopped(frozen), why="the runner never stalled")
        # Central ends the lock's idle transaction (RUN_HOLD_S, 1 s here), and the lock with it.
        wait_for(lambda: not lock_held(store), why="central never ended the stalled lock")

        _, result = run_once(store, station="bench-1", trigger="manual")
        assert result.moved_ids == [first, second]
    finally:
        frozen.send_signal(signal.SIGCONT)
        out, err = frozen.communicate(timeout=60)

    # Woken, the frozen run writes what it decided only if it still holds: nothing here.
    assert frozen.returncode == 0, err
    assert out.split() == ["moved", "0"], err
    assert statuses(store) == {first: "packing", second: "packing"}
    assert reserved(store, "A") == packing_need(store, "A") == 3  # never reserved twice (R7)


def test_r17_a_runner_stalled_inside_its_write_is_ended_and_holds_no_row(store, shop):
    shop.product("A", on_hand=3)
    waiting = shop.order([("A", 2)])
    frozen = stalled_runner(store, "writing")
    try:
        wait_for(lambda: stopped(frozen), why="the runner never stalled")
        # A write at central to the order the frozen run moved (its row locked: on PostgreSQL
        # a run moves its orders while it decides and reserves their stock last) and to the
        # stock of A waits for the frozen transaction's row lock only until central ends that
        # transaction (RUN_IDLE_S, 1 s here).
        with store.write() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '60s'")
            conn.execute(update(orders).where(orders.c.id == waiting).values(comment="called"))
            conn.execute(update(stock).where(stock.c.sku == "A").values(on_hand=4))
        # Nothing of the frozen transaction stayed.
        assert statuses(store) == {waiting: "order"} and reserved(store, "A") == 0
    finally:
        frozen.send_signal(signal.SIGCONT)
        out, err = frozen.communicate(timeout=60)

    # Woken, the runner finds its transaction gone: the run is recorded as failed, and says so.
    assert frozen.returncode == 0, err
    kind, run_id = out.split()
    assert kind == "failed"
    with store.read() as conn:
        (run,) = [r for r in recent_runs(conn) if r.id == int(run_id)]
    assert run.status == "failed" and run.moved == 0
    assert "idle" in (run.error or "") or "terminat" in (run.error or ""), run.error

    _, result = run_once(store, station="bench-1", trigger="manual")  # the next run does it
    assert result.moved_ids == [waiting]
    assert reserved(store, "A") == packing_need(store, "A") == 2


@pytest.fixture
def pooled_url(pg_url: str) -> Iterator[str]:
    """`pg_url` behind PgBouncer in transaction mode with two server sessions: a client's
    transactions land on either, and a session goes on to other clients between them."""
    with pgbouncer_before(pg_url) as url:
        yield url


def test_r17_runs_behind_a_pooler_in_transaction_mode_take_turns_and_reserve_once(
    store, shop, pooled_url
):
    # A session advisory lock would stay on the pooled server session after its client's
    # transaction, for whichever client gets that session next — which could then "take" it
    # again (advisory locks are re-entrant per session) and run at the same time.
    shop.product("A", on_hand=20)
    first = [shop.order([("A", 1)]) for _ in range(3)]
    one, other = Store(pooled_url), Store(pooled_url)
    try:
        with holding_run_lock(one):
            with pytest.raises(RunLockTaken):
                run_once(other, station="bench-2", trigger="manual")
            assert lock_held(store)  # seen from outside the pooler too
        assert not lock_held(store)
        _, result = run_once(other, station="bench-2", trigger="manual")
        assert result.moved_ids == first
        for _ in range(6):  # runs of two clients, one after the other, over the pooler
            shop.order([("A", 1)])
            for runner in (one, other):
                run_once(runner, station="bench-1", trigger="auto")
    finally:
        one.dispose()
        other.dispose()
    assert set(statuses(store).values()) == {"packing"}
    assert reserved(store, "A") == packing_need(store, "A") == 9


def test_r17_the_command_line_says_plainly_that_another_run_is_going(store, shop, tmp_path):
    from click.testing import CliRunner

    from stationd.cli import main

    shop.product("A", on_hand=5)
    waiting = shop.order([("A", 1)])
    cfg = tmp_path / "central.toml"
    cfg.write_text(f'[station]\nstate_dir = "{tmp_path}"\n[database]\nurl = "{store.url}"\n')
    with holding_run_lock(store):
        said = CliRunner().invoke(main, ["--config", str(cfg), "packscript"])
    assert said.exit_code == 1
    assert "Another pack-script run is going on this database now." in said.output
    assert "Traceback" not in said.output
    assert statuses(store) == {waiting: "order"}
