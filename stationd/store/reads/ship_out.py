"""What the ship-out page shows (R13–R15): the packed orders with the parcel ids kept for
their next delivery, and whether they changed."""

from __future__ import annotations

import threading
import time
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


class ShipOutChanges:
    """`ship_out_changes` shared by every open ship-out page (issue 10 item 13): a page asks for
    a mark no older than it can use, and gets the one another page had made since, or a fresh
    one — one query per interval for the station however many pages look, not one per page."""

    def __init__(self, store: Store, compute: Callable[[Store], tuple[object, ...]] | None = None):
        self._store = store
        self._compute = compute or ship_out_changes
        self._lock = threading.Lock()
        self._value: tuple[object, ...] = ()
        self._at: float | None = None

    def mark(self, *, not_before: float) -> tuple[object, ...]:
        """The mark, made at `not_before` (time.monotonic()) or later."""
        with self._lock:  # a page that waits here gets the mark being made, not one more query
            if self._at is None or self._at < not_before:
                started = time.monotonic()
                self._value = self._compute(self._store)
                self._at = started
            return self._value
