"""The order page's use cases (R2, R3, R5) on SQLite and PostgreSQL: each change is one
transaction with its audit event and the stock it gives back; a refusal writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from stationd.core.orders import OrderRuleError
from stationd.core.search import parse_query
from stationd.events import OrderChanged
from stationd.services.orders import NoSuchOrder, OrderEditor
from stationd.services.own_statuses import (
    create_own_status,
    delete_unused_own_status,
    rename_own_status,
)
from stationd.store.orders import load_order
from stationd.store.search import search_orders
from stationd.store.tables import events, order_lines, stock


def count(store, table, *where) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def reserved(store, sku: str) -> int:
    with store.read() as conn:
        return conn.execute(select(stock.c.reserved).where(stock.c.sku == sku)).scalar_one()


@pytest.fixture
def editor(store, bus) -> OrderEditor:
    return OrderEditor(store, bus, "bench-1")


def test_r2_quantity_and_removal_give_a_packing_order_s_stock_back(store, shop, editor):
    shop.product("A", on_hand=10)
    shop.product("B", on_hand=10)
    order_id = shop.order([("A", 3), ("B", 2)], status="packing", reserve=True)
    with store.read() as conn:
        a, b = (line.id for line in load_order(conn, order_id).lines)
    with editor.bus.queue(OrderChanged) as changes:
        editor.set_quantity(order_id, a, 1)
        assert changes.get(timeout=1) == OrderChanged(order_id, "contents")
    editor.remove_line(order_id, b)
    assert (reserved(store, "A"), reserved(store, "B")) == (1, 0)
    with store.read() as conn:
        order = load_order(conn, order_id)
    assert [(line.sku, line.quantity) for line in order.lines] == [("A", 1)]
    assert count(store, events, events.c.order_id == order_id) == 2


def test_r2_a_refused_change_writes_nothing(store, shop, editor):
    shop.product("A", on_hand=10)
    order_id = shop.order([("A", 2)], status="shipped")
    with store.read() as conn:
        line = load_order(conn, order_id).lines[0].id
    with pytest.raises(OrderRuleError, match="its contents can only be changed"):
        editor.set_quantity(order_id, line, 1)
    with pytest.raises(OrderRuleError, match="contents can only be changed"):
        editor.add_line(order_id, "A", 1)
    with pytest.raises(NoSuchOrder):
        editor.set_waiting(424242, True)
    assert count(store, events) == 0
    assert count(store, order_lines, order_lines.c.order_id == order_id) == 1


def test_r2_added_line_takes_the_product_s_name_and_price(store, shop, editor):
    ean = shop.product("C", on_hand=10, name="Kaffemugg")
    order_id = shop.order([("C", 1)], status="order")
    editor.add_line(order_id, ean, 4)
    with store.read() as conn:
        order = load_order(conn, order_id)
    assert [(line.name, line.quantity, line.unit_price_minor) for line in order.lines][-1] == (
        "Kaffemugg",
        4,
        9900,
    )
    assert reserved(store, "C") == 0


def test_r3_waiting_takes_the_order_out_of_the_queue_on_both_engines(store, shop, editor):
    from stationd.store.orders import outbound_queue

    shop.product("A")
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    editor.set_waiting(order_id, True)
    with store.read() as conn:
        assert [row.id for row in outbound_queue(conn)] == []
    editor.set_waiting(order_id, False)
    with store.read() as conn:
        assert [row.id for row in outbound_queue(conn)] == [order_id]


def test_r5_rename_reaches_old_orders_and_delete_waits_until_none_carry_it(store, shop, editor):
    shop.product("A")
    order_id = shop.order([("A", 1)], status="shipped")
    status = create_own_status(store, "gift", "Present", station="s")
    editor.set_own_status(order_id, status.id)
    rename_own_status(store, status.id, "GIFT", "Gåva", station="s")
    with store.read() as conn:
        rows = search_orders(conn, parse_query({"own_status_id": str(status.id)})).rows
    assert [(r.id, r.own_status) for r in rows] == [(order_id, "Gåva")]
    with pytest.raises(OrderRuleError, match="GIFT is on 1 order"):
        delete_unused_own_status(store, status.id, station="s")
    editor.set_own_status(order_id, None)
    delete_unused_own_status(store, status.id, station="s")
    with store.read() as conn:
        kinds = list(conn.execute(select(events.c.kind).order_by(events.c.id)).scalars())
    assert kinds == [
        "own_status.created",
        "order.own_status",
        "own_status.renamed",
        "order.own_status",
        "own_status.deleted",
    ]
