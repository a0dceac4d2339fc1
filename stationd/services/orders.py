"""Changing one order from the orders page: waiting (R3), own status (R5), contents (R2).

Each change is one transaction: the order is locked, core decides, the store writes the
order, the stock a packing order lets go of (R7) and the audit event; `OrderChanged` goes on
the bus after the commit, so the queue and the bench show it at once. A refusal raises core's
`OrderRuleError` with the sentence to show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from stationd.core.audit import (
    AuditEvent,
    LineAdded,
    LineQuantityChanged,
    LineRemoved,
    OwnStatusSet,
    WaitingSet,
)
from stationd.core.orders import Order, OrderLine, OrderRuleError
from stationd.core.text import sentence
from stationd.events import Bus, OrderChanged
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.order_contents import (
    delete_line,
    find_product,
    insert_line,
    release_stock,
    save_line_quantity,
)
from stationd.store.orders import load_order, save_order_header
from stationd.store.own_statuses import get_own_status
from stationd.store.packscript import packscript_lock

if TYPE_CHECKING:
    from sqlalchemy import Connection


class NoSuchOrder(OrderRuleError):
    """The order asked for isn't in the database."""

    def __init__(self, order_id: int) -> None:
        super().__init__(sentence("There is no order {id}.", id=order_id))
        self.order_id = order_id


#: A change: does it on the locked order and returns the audit event to write, or None
#: when the order already is as asked (nothing is saved, no event written).
Change = Callable[["Connection", Order], AuditEvent | None]


class OrderEditor:
    """The use cases of the order page, for one station."""

    def __init__(self, store: Store, bus: Bus | None, station: str) -> None:
        self.store = store
        self.bus = bus
        self.station = station

    def set_waiting(self, order_id: int, waiting: bool) -> Order:
        """R3: set or clear the waiting flag; a waiting order leaves the outbound queue."""

        def change(conn: Connection, order: Order) -> AuditEvent | None:
            if order.waiting == waiting:
                return None  # as it was: nothing to save, no event
            order.set_waiting(waiting)
            save_order_header(conn, order)
            return WaitingSet(waiting)

        return self._change(order_id, "waiting", change)

    def set_own_status(self, order_id: int, status_id: int | None) -> Order:
        """R5: put an own status on the order, or take it off (None)."""

        def change(conn: Connection, order: Order) -> AuditEvent | None:
            if order.own_status_id == status_id:
                return None
            event = OwnStatusSet(status_id)
            if status_id is not None:
                status = get_own_status(conn, status_id)
                if status is None:
                    raise OrderRuleError(
                        sentence("There is no own status {id}; reload the page.", id=status_id)
                    )
                event = OwnStatusSet(status_id, status.code, status.name)
            order.own_status_id = status_id
            save_order_header(conn, order)
            return event

        return self._change(order_id, "own_status", change)

    def set_quantity(self, order_id: int, line_id: int, quantity: int) -> Order:
        """R2: change a line's quantity; a packing order gives back the stock it no longer
        needs."""

        def change(conn: Connection, order: Order) -> AuditEvent:
            line = order.line(line_id)
            before = line.quantity
            released = order.set_quantity(line_id, quantity)
            save_line_quantity(conn, order.id, line)
            release_stock(conn, line.sku, released)
            save_order_header(conn, order)
            return LineQuantityChanged(line_id, line.sku, before, quantity, released)

        return self._change(order_id, "contents", change)

    def remove_line(self, order_id: int, line_id: int) -> Order:
        """R2: take a line off the order, with any stock it held."""

        def change(conn: Connection, order: Order) -> AuditEvent:
            line = order.line(line_id)
            released = order.remove_line(line_id)
            delete_line(conn, order.id, line_id)
            release_stock(conn, line.sku, released)
            save_order_header(conn, order)
            return LineRemoved(line_id, line.sku, line.quantity, released)

        return self._change(order_id, "contents", change)

    def add_line(self, order_id: int, code: str, quantity: int) -> Order:
        """R2: add a line of the product with this SKU or EAN, at its price.

        The new line holds no stock: the order is not packing (core refuses that), and the
        pack script reserves for it when it moves the order.
        """

        def change(conn: Connection, order: Order) -> AuditEvent:
            if why := order.add_refusal():
                raise OrderRuleError(why)
            product = find_product(conn, code)
            if product is None:
                raise OrderRuleError(
                    sentence("No product has the SKU or EAN {code}.", code=code.strip())
                )
            line = OrderLine(
                sku=product.sku,
                name=product.name,
                quantity=quantity,
                unit_price_minor=product.price_minor,
                gtin=product.gtin,
                location=product.location,
            )
            order.add_line(line)
            line.id = insert_line(conn, order.id, line)
            save_order_header(conn, order)
            assert line.id is not None  # insert_line gave it one
            return LineAdded(line.id, line.sku, quantity, line.unit_price_minor)

        return self._change(order_id, "contents", change)

    def _change(self, order_id: int, what: str, change: Change) -> Order:
        with self.store.write() as conn:
            # Shared with other edits, exclusive against a pack-script run: the run never
            # sees an order half changed (PostgreSQL; SQLite's write lock does this).
            packscript_lock(conn, shared=True)
            order = load_order(conn, order_id, for_update=True)
            if order is None:
                raise NoSuchOrder(order_id)
            changed = change(conn, order)
            if changed is None:
                return order
            record_event(conn, changed, station=self.station, order_id=order_id)
        if self.bus is not None:
            self.bus.publish(OrderChanged(order_id, what))
        return order
