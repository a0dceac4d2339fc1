"""What the ship-out page shows (R13–R15): the packed orders with the parcel ids kept for
their next delivery, and whether they changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stationd.core.orders import Order
from stationd.store.database import Store
from stationd.store.deliveries import (
    count_ready_to_ship,
    pending_parcel_ids,
    ready_to_ship,
    ready_to_ship_mark,
)
from stationd.store.orders import load_order
from stationd.store.reads.paging import page_window


@dataclass(frozen=True)
class ShipOutPage:
    """One page of the orders ready to ship, with each one's kept parcel ids by order id."""

    orders: list[Order]
    kept: dict[int, list[str]]
    total: int
    page: int
    pages: int


def ship_out_page(store: Store, *, size: int, choose: Callable[[int], int]) -> ShipOutPage:
    """The page `choose(pages)` of the orders ready to ship, `size` orders a page."""
    with store.read() as conn:
        total = count_ready_to_ship(conn)
        window = page_window(total, size, choose)
        orders = [
            order
            for order_id in ready_to_ship(conn, limit=size, offset=window.offset)
            if (order := load_order(conn, order_id)) is not None
        ]
        kept = pending_parcel_ids(conn, [order.id for order in orders])
    return ShipOutPage(orders, kept, total, window.page, window.pages)


def kept_parcel_ids(store: Store, order_id: int) -> list[str]:
    """R13: the parcel ids kept for the order's next delivery."""
    with store.read() as conn:
        return pending_parcel_ids(conn, [order_id])[order_id]


def order_with_kept_parcel_ids(store: Store, order_id: int) -> tuple[Order | None, list[str]]:
    with store.read() as conn:
        return load_order(conn, order_id), pending_parcel_ids(conn, [order_id])[order_id]


def ship_out_changes(store: Store) -> tuple[object, ...]:
    """A value that changes whenever the orders ready to ship do."""
    with store.read() as conn:
        return ready_to_ship_mark(conn)
