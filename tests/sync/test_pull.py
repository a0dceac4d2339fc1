"""Pull (issue 11, docs/sync.md): a station follows central's change feed into its SQLite copy.

Central is the real PostgreSQL (a database of its own per test); a central that dies or is
replaced is a cluster of the tests' own. Each test names what it holds to.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, delete, inspect, select, text, update
from sqlalchemy.exc import OperationalError
from sync.pull_fixtures import holding

from stationd.core.audit import ItemPacked
from stationd.core.search import parse_query
from stationd.services.packscript_run import run_once
from stationd.store import change_feed, local_copy
from stationd.store.audit import mark_sent, record_event
from stationd.store.central_link import central_engine
from stationd.store.database import Store
from stationd.store.orders import outbound_queue
from stationd.store.outbox import Answer, write_answers
from stationd.store.search import search_orders
from stationd.store.tables import (
    order_claims,
    order_lines,
    orders,
    own_statuses,
    stations,
    stock,
)
from stationd.sync.pull import PullWorker, pull_once

pytestmark = pytest.mark.postgres


def feed(central: Store):
    return central_engine(central.url, timeout_s=5, server_timeouts=False)


def stock_shop(shop, orders_count: int = 3) -> list[int]:
    shop.product("A", on_hand=100)
    shop.product("B", on_hand=100)
    return [shop.order([("A", 1), ("B", 2)]) for _ in range(orders_count)]


def copy_state(copy: Store) -> local_copy.PullState:
    with copy.read() as conn:
        return local_copy.read_state(conn)


def wait_until(predicate, *, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def test_the_feed_lives_on_central_only_a_stations_sqlite_keeps_none(sqlite_store, central):
    assert "sync_changes" not in inspect(sqlite_store.engine).get_table_names()
    assert {"sync_changes", "sync_changes_pruned"} <= set(inspect(central.engine).get_table_names())


def test_migration_0008_goes_down_and_up_again_on_central(central):
    from alembic import command
    from alembic.config import Config

    from stationd.store.database import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with central.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    assert "sync_changes" not in inspect(central.engine).get_table_names()
    central.upgrade()
    with central.write() as conn:  # the triggers are back: a change is in the feed
        conn.execute(own_statuses.insert().values(id=1, code="VIP", name="Stamkund"))
        feed_rows = conn.execute(text("SELECT entity, entity_ids FROM sync_changes")).all()
    assert feed_rows == [("own_status", ["1"])]


def test_the_feed_names_each_changed_order_once_per_statement_and_both_ends_of_a_move(
    central, make_shop
):
    first, second = stock_shop(make_shop(central), 2)
    engine = feed(central)
    with engine.connect() as conn, change_feed.snapshot(conn) as snap:
        start = snap.xmin
    with central.write() as conn:  # every line of both orders: one row, each order named
        conn.execute(update(order_lines).values(packed=0))
    with central.write() as conn:  # a line moved from the first order to the second
        conn.execute(
            update(order_lines)
            .where(order_lines.c.order_id == first, order_lines.c.sku == "A")
            .values(order_id=second)
        )
        conn.execute(update(orders).where(orders.c.id == 999_999).values(comment="none"))
    with central.read() as conn:
        rows = conn.execute(
            text("SELECT entity_ids FROM sync_changes ORDER BY id DESC LIMIT 3")
        ).scalars()
        assert [sorted(ids) for ids in rows] == [
            [str(first)],
            [str(second)],
            [str(first), str(first), str(second), str(second)],
        ]
    with engine.connect() as conn, change_feed.snapshot(conn) as snap:
        assert snap.changed(start)["order"] == [first, second]
    engine.dispose()


def note_rewrites(copy: Store) -> None:
    """Triggers on the copy that note every order and line row written into it."""
    with copy.write() as conn:
        conn.exec_driver_sql("CREATE TABLE rewritten (what TEXT, id INTEGER)")
        for table in ("orders", "order_lines"):
            for when, row in (("UPDATE", "new"), ("INSERT", "new"), ("DELETE", "old")):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER note_{table}_{when} AFTER {when} ON {table} BEGIN "
                    f"INSERT INTO rewritten VALUES ('{table}', {row}.id); END"
                )


def rewrites(copy: Store) -> list[tuple[str, int]]:
    with copy.write() as conn:
        found = conn.exec_driver_sql("SELECT what, id FROM rewritten ORDER BY what, id").all()
        conn.exec_driver_sql("DELETE FROM rewritten")
    return [tuple(row) for row in found]


def test_a_copy_that_already_matches_is_not_rewritten_and_a_changed_line_is_alone(
    central, sqlite_store, make_shop
):
    shop = make_shop(central)
    skus = [f"P{n}" for n in range(30)]
    for sku in skus:
        shop.product(sku, on_hand=100)
    big = shop.order([(sku, 5) for sku in skus])
    small = shop.order([("P0", 1)])
    engine = feed(central)
    pull_once(sqlite_store, engine)
    note_rewrites(sqlite_store)
    with central.read() as conn:
        line = (
            conn.execute(
                select(order_lines.c.id)
                .where(order_lines.c.order_id == big)
                .order_by(order_lines.c.id)
            )
            .scalars()
            .all()[7]
        )
    with central.write() as conn:
        # the big order's one line packed; the small order touched with nothing changed
        conn.execute(update(order_lines).where(order_lines.c.id == line).values(packed=2))
        conn.execute(update(orders).where(orders.c.id == small).values(status=orders.c.status))
    result = pull_once(sqlite_store, engine)
    assert result.written == 2  # both orders' images came
    assert rewrites(sqlite_store) == [("order_lines", line)]  # only the line that differs
    assert holding(sqlite_store) == holding(central)
    with central.write() as conn:  # a new line and one gone: written and deleted, nothing else
        conn.execute(delete(order_lines).where(order_lines.c.id == line))
        added = conn.execute(
            order_lines.insert()
            .values(order_id=small, sku="P1", name="P1", quantity=1)
            .returning(order_lines.c.id)
        ).scalar_one()
    pull_once(sqlite_store, engine)
    assert rewrites(sqlite_store) == [("order_lines", line), ("order_lines", added)]
    assert holding(sqlite_store) == holding(central)
    engine.dispose()


def test_a_change_at_central_reaches_the_copy(central, sqlite_store, make_shop):
    made = stock_shop(make_shop(central))
    engine = feed(central)
    first = pull_once(sqlite_store, engine)
    assert first.full and first.why == "first pull"
    assert holding(sqlite_store) == holding(central)

    with central.write() as conn:
        conn.execute(update(orders).where(orders.c.id == made[1]).values(customer_key="britt berg"))
        conn.execute(update(stock).where(stock.c.sku == "B").values(on_hand=7))
    second = pull_once(sqlite_store, engine)
    assert not second.full and second.written == 2  # order 1001 and product B, nothing else
    assert holding(sqlite_store) == holding(central)
    # The copy's order-text index follows (the orders page searches offline).
    with sqlite_store.read() as conn:
        found = search_orders(conn, parse_query({"text": "britt"})).rows
    assert [row.id for row in found] == [made[1]]
    engine.dispose()


def test_a_commit_at_central_wakes_the_worker_by_notify(central, sqlite_store, make_shop):
    made = stock_shop(make_shop(central))
    # Polling every 5 minutes: only the NOTIFY can bring the change within the test.
    worker = PullWorker(sqlite_store, central.url, poll_interval_s=300)
    worker.start()
    try:
        wait_until(lambda: worker.pulls >= 1)
        with central.write() as conn:
            conn.execute(update(orders).where(orders.c.id == made[0]).values(comment="fragile"))

        def comment() -> str:
            with sqlite_store.read() as conn:
                return conn.execute(select(orders.c.comment).where(orders.c.id == made[0])).scalar()

        wait_until(lambda: comment() == "fragile")
    finally:
        worker.stop()


def test_a_row_committed_late_is_not_skipped(central, sqlite_store, make_shop):
    first, second = stock_shop(make_shop(central), 2)
    engine = feed(central)
    pull_once(sqlite_store, engine)
    early = create_engine(central.url)
    later = create_engine(central.url)
    with early.connect() as slow, later.connect() as quick:
        # `slow` begins writing first and commits last; `quick` commits in between, and a
        # pull runs while `slow` is still open. A cursor on the feed's id (or a time) would
        # pass `slow`'s row there and never read it.
        slow.execute(update(orders).where(orders.c.id == first).values(comment="slow"))
        quick.execute(update(orders).where(orders.c.id == second).values(comment="quick"))
        quick.commit()
        during = pull_once(sqlite_store, engine)
        slow.commit()
    after = pull_once(sqlite_store, engine)
    assert during.cursor <= after.cursor
    with sqlite_store.read() as conn:
        comments = {i: c for i, c in conn.execute(select(orders.c.id, orders.c.comment))}
    assert comments == {first: "slow", second: "quick"}
    assert holding(sqlite_store) == holding(central)
    for made in (early, later, engine):
        made.dispose()


def test_an_order_with_unsent_ops_is_not_overwritten_until_central_has_them(
    central, sqlite_store, make_shop
):
    mine, other = stock_shop(make_shop(central), 2)
    engine = feed(central)
    pull_once(sqlite_store, engine)
    with sqlite_store.write() as conn:  # packed here, not yet pushed
        line = conn.execute(select(order_lines.c.id).where(order_lines.c.order_id == mine))
        line_id = line.scalars().first()
        conn.execute(update(order_lines).where(order_lines.c.id == line_id).values(packed=1))
        key = record_event(conn, ItemPacked(line_id), station="bench-1", order_id=mine)
    with central.write() as conn:
        conn.execute(
            update(orders).where(orders.c.id.in_([mine, other])).values(comment="call first")
        )
    result = pull_once(sqlite_store, engine)
    assert result.skipped == [mine]
    with sqlite_store.read() as conn:
        here = {i: c for i, c in conn.execute(select(orders.c.id, orders.c.comment))}
        packed = conn.execute(select(order_lines.c.packed).where(order_lines.c.id == line_id))
        assert packed.scalar() == 1
    assert here == {mine: "", other: "call first"}
    assert copy_state(sqlite_store).skipped == [mine]

    # Push delivered the op (its outcome stored): the next pull brings central's image, even
    # with nothing new in the feed — whether central applied the op or refused it.
    with sqlite_store.write() as conn:
        mark_sent(conn, [key])
    again = pull_once(sqlite_store, engine)
    assert again.skipped == []
    assert holding(sqlite_store) == holding(central)
    engine.dispose()


def test_the_pack_scripts_moves_at_central_reach_the_stations_outbound_queue(
    central, sqlite_store, make_shop
):
    made = stock_shop(make_shop(central), 4)
    engine = feed(central)
    pull_once(sqlite_store, engine)
    with sqlite_store.read() as conn:
        assert outbound_queue(conn) == []
    run_id, result = run_once(central, station="bench-9", trigger="manual")
    assert sorted(result.moved_ids) == made
    pulled = pull_once(sqlite_store, engine)
    assert not pulled.full
    with sqlite_store.read() as conn:
        assert [row.id for row in outbound_queue(conn)] == made
        moved_by = conn.execute(select(orders.c.packscript_run_id).distinct()).scalars().all()
    assert moved_by == [run_id]
    assert holding(sqlite_store) == holding(central)
    engine.dispose()


def test_a_bulk_move_that_writes_the_feed_itself_is_one_feed_row_and_reaches_the_copy(
    central, sqlite_store, make_shop
):
    made = stock_shop(make_shop(central), 4)
    engine = feed(central)
    pull_once(sqlite_store, engine)
    with central.read() as conn:
        before = conn.execute(text("SELECT count(*) FROM sync_changes")).scalar()
    with central.write() as conn, change_feed.feed_kept(conn, "order", made):
        conn.execute(update(orders).where(orders.c.id.in_(made)).values(status="packing"))
    with central.read() as conn:
        rows = conn.execute(text("SELECT entity, entity_ids FROM sync_changes ORDER BY id"))
        assert rows.all()[before:] == [("order", [str(n) for n in made])]
    pull_once(sqlite_store, engine)
    with sqlite_store.read() as conn:
        assert [row.id for row in outbound_queue(conn)] == made
    engine.dispose()


def test_a_restored_central_with_another_system_identifier_means_a_full_resync(
    own_postgres, second_postgres, sqlite_store, make_shop
):
    old = Store(own_postgres.fresh_database())
    old.upgrade()
    shop = make_shop(old)
    made = stock_shop(shop, 3)
    old_feed = feed(old)
    pull_once(sqlite_store, old_feed)
    for _ in range(50):  # old central runs on: its xids pass the restored one's
        shop.order([("A", 1)])
        pull_once(sqlite_store, old_feed)
    # Central comes back from a backup onto a new cluster: orders made since are missing,
    # and its xids are behind the cursor the copy holds.
    restored = Store(second_postgres.fresh_database())
    restored.upgrade()
    stock_shop(make_shop(restored), 3)
    with restored.write() as conn:
        conn.execute(update(orders).where(orders.c.id == made[0]).values(comment="restored"))
    new_feed = feed(restored)
    with new_feed.connect() as conn:
        assert copy_state(sqlite_store).cursor > int(
            conn.execute(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")).scalar()
        )
    result = pull_once(sqlite_store, new_feed)
    assert result.full and result.why.startswith("another central")
    assert holding(sqlite_store) == holding(restored)
    for engine in (old_feed, new_feed):
        engine.dispose()
    old.dispose()
    restored.dispose()


def test_a_copy_older_than_what_the_feed_keeps_resyncs_in_full(central, sqlite_store, make_shop):
    made = stock_shop(make_shop(central), 2)
    engine = feed(central)
    pull_once(sqlite_store, engine)
    with central.write() as conn:
        conn.execute(update(orders).where(orders.c.id == made[0]).values(comment="pruned"))
    with engine.connect() as conn:
        assert change_feed.prune(conn, keeps=change_feed.timedelta(0)) > 0
    result = pull_once(sqlite_store, engine)
    assert result.full and result.why == "the copy is older than central's change feed keeps"
    assert holding(sqlite_store) == holding(central)
    assert not pull_once(sqlite_store, engine).full
    engine.dispose()


def test_central_killed_mid_pull_and_the_pull_resumes_without_loss(
    own_postgres, own_pg_url, sqlite_store, make_shop
):
    central = Store(own_pg_url)
    central.upgrade()
    shop = make_shop(central)
    stock_shop(shop, 60)
    engine = feed(central)
    batches: list[int] = []

    def kill_after_the_second(written: int) -> None:
        batches.append(written)
        if len(batches) == 2:
            own_postgres.stop()

    with pytest.raises(OperationalError):
        pull_once(sqlite_store, engine, batch=10, after_batch=kill_after_the_second)
    with sqlite_store.read() as conn:
        assert 0 < len(conn.execute(select(orders.c.id)).all()) < 60  # half a pull is in
    assert copy_state(sqlite_store).cursor is None  # and is no cursor
    own_postgres.start()
    resumed = pull_once(sqlite_store, engine, batch=10)
    assert resumed.full
    assert holding(sqlite_store) == holding(central)
    engine.dispose()
    central.dispose()


def test_the_worker_keeps_trying_while_central_is_away_and_catches_up(
    own_postgres, own_pg_url, sqlite_store, make_shop, caplog
):
    central = Store(own_pg_url)
    central.upgrade()
    made = stock_shop(make_shop(central), 2)
    worker = PullWorker(sqlite_store, own_pg_url, poll_interval_s=0.2, timeout_s=1)
    caplog.set_level("INFO", logger="stationd.sync.pull")
    worker.start()
    try:
        wait_until(lambda: worker.pulls >= 1)
        own_postgres.stop()
        wait_until(lambda: copy_state(sqlite_store).last_error != "")
        own_postgres.start()
        with central.write() as conn:
            conn.execute(update(orders).where(orders.c.id == made[1]).values(comment="back"))
        wait_until(lambda: holding(sqlite_store) == holding(central))
    finally:
        worker.stop()
        central.dispose()
    lines = [r.getMessage() for r in caplog.records if r.name == "stationd.sync.pull"]
    # One line per change of state, not one per try.
    assert [line.split(":")[1].strip().split(" ")[0] for line in lines] == [
        "following",
        "central",
        "following",
    ]


def test_what_central_deletes_leaves_the_copy_but_an_order_open_at_a_bench_here_stays(
    central, sqlite_store, make_shop
):
    first, second, third = stock_shop(make_shop(central), 3)
    with central.write() as conn:
        conn.execute(
            order_claims.insert().values(
                order_id=first, station="bench-2", epoch=7, lease_until=datetime.now(UTC)
            )
        )
    engine = feed(central)
    pull_once(sqlite_store, engine)
    # Central's claims stay there: a station's order_claims holds only its own (docs/sync.md).
    assert holding(sqlite_store)["order_claims"] == []
    with sqlite_store.write() as conn:  # a bench of this copy has the third order open
        conn.execute(stations.insert().values(name="bench-1", current_order_id=third))
    with central.write() as conn:
        conn.execute(delete(order_claims))  # released
        conn.execute(
            delete(order_lines)
            .where(order_lines.c.order_id == first)
            .where(order_lines.c.sku == "B")
        )
        conn.execute(delete(orders).where(orders.c.id.in_([second, third])))
    result = pull_once(sqlite_store, engine)
    assert result.skipped == [third]
    here = holding(sqlite_store)
    assert here["order_claims"] == []
    assert [(r["order_id"], r["sku"]) for r in here["order_lines"]] == [
        (first, "A"),
        (third, "A"),
        (third, "B"),
    ]
    assert [r["id"] for r in here["orders"]] == [first, third]
    with sqlite_store.write() as conn:  # the bench lets it go: the next pull deletes it
        conn.execute(update(stations).values(current_order_id=None))
    pull_once(sqlite_store, engine)
    assert holding(sqlite_store) == holding(central)
    engine.dispose()


def test_a_synced_station_pulls_in_serve_and_a_single_bench_does_not(
    make_station, central, make_shop
):
    assert make_station().pull is None
    stock_shop(make_shop(central), 3)
    url = central.engine.url.render_as_string(hide_password=False)
    station = make_station(name="bench-a", served=True, sync={"central_url": url})
    station.start()
    try:
        wait_until(lambda: station.pull.pulls > 0)
        with station.store.read() as conn:  # the first pull brought central's orders in
            assert conn.execute(text("SELECT count(*) FROM orders")).scalar() == 3
    finally:
        station.stop()


def test_an_op_central_refused_between_two_pulls_still_brings_centrals_image_back(
    central, sqlite_store, make_shop
):
    """Central refused an op (a stale claim, say) and the answer came before any pull saw the
    op unsent: nothing changed at central, so nothing is in its feed — the order must still
    be asked for again, or the copy keeps the refused count for good."""
    mine, _ = stock_shop(make_shop(central), 2)
    engine = feed(central)
    pull_once(sqlite_store, engine)
    with sqlite_store.write() as conn:  # packed here, pushed and refused before a pull
        line = conn.execute(select(order_lines.c.id).where(order_lines.c.order_id == mine))
        line_id = line.scalars().first()
        conn.execute(update(order_lines).where(order_lines.c.id == line_id).values(packed=1))
        key = record_event(conn, ItemPacked(line_id), station="bench-1", order_id=mine)
    with sqlite_store.write() as conn:
        write_answers(conn, [Answer(key, "refused", "bench-2 holds order now")])
    pull_once(sqlite_store, engine)
    with sqlite_store.read() as conn:
        packed = conn.execute(select(order_lines.c.packed).where(order_lines.c.id == line_id))
        assert packed.scalar() == 0
    assert holding(sqlite_store) == holding(central)
    assert copy_state(sqlite_store).skipped == []
    engine.dispose()


def test_r6_a_synced_station_runs_the_pack_script_on_central_and_pulls_its_moves(
    make_station, central, make_shop
):
    first, second = stock_shop(make_shop(central), 2)
    url = central.engine.url.render_as_string(hide_password=False)
    station = make_station(name="bench-a", served=True, sync={"central_url": url})
    assert station.schedule.interval_s == 0  # only the station with run_packscript runs it
    station.start()
    try:
        wait_until(lambda: station.pull.pulls > 0)
        station.packscript.run("manual")  # Tools → Run now
        with central.read() as conn:  # moved at central, never on this copy first
            moved = conn.execute(select(orders.c.id).where(orders.c.status == "packing"))
            assert sorted(moved.scalars()) == [first, second]
        station.pull.wake()

        def queue() -> list[int]:
            with station.store.read() as conn:
                return [row.id for row in outbound_queue(conn)]

        wait_until(lambda: queue() == [first, second])
    finally:
        station.stop()
