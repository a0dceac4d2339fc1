"""Where push, pull and claims meet (issue 11, docs/sync.md): a station's copy pulled from a
real central PostgreSQL, edited at the bench, and pulled again."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from stationd.services.orders import OrderEditor
from stationd.store.central_link import central_engine
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
