"""Where push, pull and claims meet (issue 11, docs/sync.md): a station's copy pulled from a
real central PostgreSQL, edited at the bench, and pulled again."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from stationd.services.orders import OrderEditor
from stationd.store.central_link import central_engine
from stationd.store.database import Store
from stationd.store.tables import order_lines
from stationd.sync.pull import pull_once
from stationd.sync.push import Pusher

pytestmark = pytest.mark.postgres


def lines_of(store, order_id: int) -> list[tuple[str, int]]:
    with store.read() as conn:
        rows = conn.execute(
            select(order_lines.c.sku, order_lines.c.quantity)
            .where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.position)
        )
        return [tuple(row) for row in rows]


def test_r2_a_line_added_at_a_bench_is_not_taken_over_by_a_central_line_of_the_same_id(
    central, sqlite_store, make_shop
):
    # The bench adds a line to order `mine` on its copy; before its op is pushed, central gets
    # a line of its own on another order (a second bench's add, an import). Both were the next
    # id of the same table: the pull must not move the bench's line onto the other order.
    shop = make_shop(central)
    shop.product("A", on_hand=100)
    shop.product("B", on_hand=100)
    shop.product("C", on_hand=100)
    mine, other = shop.order([("A", 1)]), shop.order([("A", 2)])
    engine = central_engine(central.url, timeout_s=5, server_timeouts=False)
    pull_once(sqlite_store, engine)
    OrderEditor(sqlite_store, None, "bench-1").add_line(mine, "B", 3)
    with central.write() as conn:
        conn.execute(
            insert(order_lines).values(
                order_id=other, position=1, sku="C", name="C", quantity=5, unit_price_minor=0
            )
        )
    pull_once(sqlite_store, engine)  # brings `other`; `mine` has an op central lacks
    assert lines_of(sqlite_store, mine) == [("A", 1), ("B", 3)]
    assert lines_of(sqlite_store, other) == [("A", 2), ("C", 5)]
    engine.dispose()


def test_an_edit_made_after_the_first_pull_and_before_the_first_push_reaches_central(
    central, sqlite_store, make_shop
):
    shop = make_shop(central)
    shop.product("A", on_hand=100)
    shop.product("B", on_hand=100)
    mine = shop.order([("A", 1)])
    engine = central_engine(central.url, timeout_s=5, server_timeouts=False)
    pull_once(sqlite_store, engine)  # the copy follows central from here: sync has begun
    OrderEditor(sqlite_store, None, "bench-1").add_line(mine, "B", 3)
    # The push's first round (serve's worker started late, `stationd sync now`) must not take
    # the edit for the bench's history from before sync and keep it home.
    pusher = Pusher(sqlite_store, central.url)
    assert pusher.push_all().refused == 0
    pull_once(sqlite_store, engine)
    assert lines_of(sqlite_store, mine) == lines_of(central, mine) == [("A", 1), ("B", 3)]
    with sqlite_store.read() as conn:
        here = set(conn.execute(select(order_lines.c.id)).scalars())
    with central.read() as conn:
        assert here == set(conn.execute(select(order_lines.c.id)).scalars())
    pusher.dispose()
    engine.dispose()


def test_a_restored_central_gets_again_what_the_old_one_accepted_and_the_resync_keeps_it(
    own_postgres, second_postgres, sqlite_store, make_shop
):
    # Central dies and comes back from a backup taken before the bench's edit reached it: the
    # full resync must not wipe the edit from the copy, and the restored central must get it.
    def shop_on(store):
        shop = make_shop(store)
        shop.product("A", on_hand=100)
        shop.product("B", on_hand=100)
        return shop.order([("A", 1)])

    old = Store(own_postgres.fresh_database())
    old.upgrade()
    mine = shop_on(old)
    restored = Store(second_postgres.fresh_database())
    restored.upgrade()
    assert shop_on(restored) == mine  # the backup: as the old central was before the edit
    old_feed = central_engine(old.url, timeout_s=5, server_timeouts=False)
    pull_once(sqlite_store, old_feed)
    OrderEditor(sqlite_store, None, "bench-1").add_line(mine, "B", 3)
    to_old = Pusher(sqlite_store, old.url)
    assert to_old.push_all().sent == 1
    to_old.dispose()
    assert lines_of(old, mine) == [("A", 1), ("B", 3)]

    new_feed = central_engine(restored.url, timeout_s=5, server_timeouts=False)
    result = pull_once(sqlite_store, new_feed)
    assert result.full and mine in result.skipped
    assert lines_of(sqlite_store, mine) == [("A", 1), ("B", 3)]
    to_restored = Pusher(sqlite_store, restored.url)
    assert to_restored.push_all().refused == 0
    to_restored.dispose()
    pull_once(sqlite_store, new_feed)
    assert lines_of(sqlite_store, mine) == lines_of(restored, mine) == [("A", 1), ("B", 3)]
    for engine in (old_feed, new_feed):
        engine.dispose()
    old.dispose()
    restored.dispose()
