"""Ship-out in the store, on SQLite and PostgreSQL: which orders the page lists (R13), and the
unique parcel id that another station took meanwhile (R13: never on two orders)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from stationd.clock import utcnow
from stationd.core.deliveries import ParcelIdTaken
from stationd.core.orders import OrderRuleError
from stationd.services.parcel_ids import keep_parcel_id
from stationd.services.report_in import ship
from stationd.store.deliveries import (
    count_ready_to_ship,
    parcel_ids_in_use,
    pending_parcel_ids,
    ready_to_ship,
    ready_to_ship_mark,
)
from stationd.store.orders import load_order, load_orders
from stationd.store.tables import deliveries, order_lines, orders, parcel_ids, stock


def pack(store, order_id: int, packed: int) -> None:
    with store.write() as conn:
        conn.execute(
            update(order_lines).where(order_lines.c.order_id == order_id).values(packed=packed)
        )


def test_r13_ready_to_ship_lists_packing_orders_with_packed_items_oldest_first(store, shop):
    shop.product("A", on_hand=20)
    newer = shop.order([("A", 2)], status="packing", placed_at=datetime(2026, 11, 3, tzinfo=UTC))
    older = shop.order([("A", 2)], status="packing", placed_at=datetime(2026, 11, 2, tzinfo=UTC))
    shop.order([("A", 1)], status="packing")  # nothing packed yet
    waiting = shop.order([("A", 1)], status="packing", waiting=True)
    shipped = shop.order([("A", 1)], status="shipped")
    for order_id in (newer, older, waiting, shipped):
        pack(store, order_id, 1)
    with store.read() as conn:
        assert ready_to_ship(conn) == [older, newer]
        assert ready_to_ship(conn, limit=1, offset=1) == [newer]
        assert count_ready_to_ship(conn) == 2


def test_r13_an_id_another_station_took_meanwhile_is_refused_with_a_sentence(
    store, shop, monkeypatch
):
    shop.product("A", on_hand=5)
    first = shop.order([("A", 1)], status="packing", reserve=True)
    second = shop.order([("A", 1)], status="packing", reserve=True)
    ship(store, first, ["RR473124829SE"], station="bench-1")
    # The check found nothing (the other station had not committed yet); the insert collides.
    monkeypatch.setattr(
        "stationd.services.report_in.parcel_ids_in_use", lambda conn, ids, **_: set()
    )
    with pytest.raises(OrderRuleError, match=r"\(RR473124829SE\) is already used on another"):
        ship(store, second, ["RR473124829SE"], station="bench-2")
    with store.read() as conn:
        assert conn.execute(select(orders.c.status).where(orders.c.id == second)).scalar() == (
            "packing"
        )
        assert conn.execute(select(func.count()).select_from(parcel_ids)).scalar() == 1
        assert conn.execute(select(stock.c.on_hand)).scalar() == 4  # only the first left


# --- parcel ids kept before report-in (R13) -----------------------------------------------------


def keep(store, order_id: int, code: str, **kwargs) -> list[str]:
    with store.write() as conn:
        order = load_order(conn, order_id, for_update=True)
        return keep_parcel_id(conn, order, code, station="bench-1", how="typed", **kwargs)


def test_r13_kept_ids_are_never_on_two_orders_and_report_in_completes_their_delivery(store, shop):
    shop.product("A", on_hand=5)
    first = shop.order([("A", 1)], status="packing", reserve=True)
    second = shop.order([("A", 1)], status="packing", reserve=True)
    pack(store, first, 1)
    assert keep(store, first, "rr473124829se") == ["RR473124829SE"]
    assert keep(store, first, "PKG-0002") == ["RR473124829SE", "PKG-0002"]
    with pytest.raises(ParcelIdTaken, match="already used on another order"):
        keep(store, second, "RR473124829SE")
    with store.read() as conn:
        assert pending_parcel_ids(conn, [first, second]) == {
            first: ["RR473124829SE", "PKG-0002"],
            second: [],
        }
        # The order's own kept ids are no obstacle to its report-in; another's are.
        assert parcel_ids_in_use(conn, ["PKG-0002"], besides_order=first) == set()
        assert parcel_ids_in_use(conn, ["PKG-0002"], besides_order=second) == {"PKG-0002"}
    ship(store, first, ["RR473124829SE", "PKG-0002"], station="bench-1")
    with store.read() as conn:
        rows = conn.execute(select(deliveries.c.order_id, deliveries.c.reported_at)).all()
        assert len(rows) == 1 and rows[0].reported_at is not None  # completed, not a second
        assert pending_parcel_ids(conn, [first]) == {first: []}
        assert conn.execute(select(func.count()).select_from(parcel_ids)).scalar() == 2


def test_r13_an_id_kept_meanwhile_by_another_station_is_a_sentence_and_the_transaction_goes_on(
    store, shop, monkeypatch
):
    shop.product("A", on_hand=5)
    first = shop.order([("A", 1)], status="packing", reserve=True)
    second = shop.order([("A", 1)], status="packing", reserve=True)
    keep(store, first, "RR473124829SE")
    monkeypatch.setattr(
        "stationd.services.parcel_ids.parcel_ids_in_use", lambda conn, ids, **_: set()
    )
    with store.write() as conn:
        order = load_order(conn, second, for_update=True)
        with pytest.raises(ParcelIdTaken, match="already used on another order"):
            keep_parcel_id(conn, order, "RR473124829SE", station="bench-2", how="scanned")
        # The unique constraint caught it in a savepoint: on PostgreSQL too the transaction
        # still writes (the bench journals the refusal in it).
        conn.execute(update(orders).where(orders.c.id == second).values(comment="still here"))
    with store.read() as conn:
        assert conn.execute(select(orders.c.comment).where(orders.c.id == second)).scalar() == (
            "still here"
        )
        assert conn.execute(select(func.count()).select_from(deliveries)).scalar() == 1


def test_r13_an_order_has_one_pending_delivery(store, shop):
    shop.product("A", on_hand=5)
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    with pytest.raises(IntegrityError), store.write() as conn:
        for _ in range(2):
            conn.execute(insert(deliveries).values(order_id=order_id, created_at=utcnow()))


def test_r15_report_in_must_name_every_kept_id(store, shop):
    shop.product("A", on_hand=5)
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    keep(store, order_id, "PKG-0001")
    with pytest.raises(OrderRuleError, match="also has parcel id PKG-0001, which this report-in"):
        ship(store, order_id, ["PKG-0002"], station="bench-1")
    with store.read() as conn:
        assert pending_parcel_ids(conn, [order_id]) == {order_id: ["PKG-0001"]}


# --- issue 10 item 13: the list found from the packed lines is the list R13 defines -----------

STATUSES = ("order", "packing", "shipped")
#: Per order: status, waiting, and per line (packed, delivered).
order_states = st.tuples(
    st.sampled_from(STATUSES),
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=2),
)


def by_the_definition(conn) -> list[int]:
    """R13 computed the long way: every packing order, not waiting, read with all its lines."""
    orders_by_id = load_orders(conn, conn.execute(select(orders.c.id)).scalars())
    ready = [
        order
        for order in orders_by_id.values()
        if order.status.value == "packing"
        and not order.waiting
        and any(line.packed > 0 for line in order.lines)
    ]
    return [order.id for order in sorted(ready, key=lambda o: (o.placed_at, o.id))]


@pytest.fixture
def six_orders(store, shop) -> list[int]:
    shop.product("A", on_hand=100)
    shop.product("B", on_hand=100)
    return [
        shop.order([("A", 3), ("B", 3)], placed_at=datetime(2026, 11, day, tzinfo=UTC))
        for day in (5, 3, 3, 1, 4, 2)
    ]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(states=st.lists(order_states, min_size=6, max_size=6))
def test_r13_the_list_from_the_packed_lines_index_is_the_list_by_definition(
    store, six_orders, states
):
    with store.write() as conn:
        for order_id, (status, waiting, line_counts) in zip(six_orders, states, strict=True):
            conn.execute(
                update(orders).where(orders.c.id == order_id).values(status=status, waiting=waiting)
            )
            line_ids = conn.execute(
                select(order_lines.c.id)
                .where(order_lines.c.order_id == order_id)
                .order_by(order_lines.c.id)
            ).scalars()
            for line_id, (packed, delivered) in zip(line_ids, line_counts, strict=True):
                conn.execute(
                    update(order_lines)
                    .where(order_lines.c.id == line_id)
                    .values(packed=packed, delivered=delivered)
                )
    with store.read() as conn:
        expected = by_the_definition(conn)
        assert ready_to_ship(conn, limit=10) == expected
        assert ready_to_ship(conn, limit=2, offset=1) == expected[1:3]
        assert count_ready_to_ship(conn) == len(expected)


def test_r13_the_mark_changes_when_an_item_is_packed_or_a_delivery_reported(store, shop):
    shop.product("A", on_hand=20)
    order_id = shop.order([("A", 2)], status="packing")
    seen = []
    with store.read() as conn:
        seen.append(ready_to_ship_mark(conn))
    pack(store, order_id, 1)
    with store.read() as conn:
        seen.append(ready_to_ship_mark(conn))
    pack(store, order_id, 2)
    with store.read() as conn:
        seen.append(ready_to_ship_mark(conn))
    with store.write() as conn:  # reported: packed items become delivered, the order ships
        conn.execute(
            update(order_lines)
            .where(order_lines.c.order_id == order_id)
            .values(packed=0, delivered=2)
        )
    with store.read() as conn:
        seen.append(ready_to_ship_mark(conn))
        assert ready_to_ship(conn) == []
    assert all(before != after for before, after in itertools.pairwise(seen))
