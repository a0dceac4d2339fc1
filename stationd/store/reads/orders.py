"""What the orders pages and the settings page show: search results, one order with its
header, deliveries, scans and audit trail, and the own statuses (R4, R5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from stationd.core.orders import Order, OwnStatus
from stationd.core.search import OrderQuery
from stationd.store.audit import StoredEvent
from stationd.store.database import Store
from stationd.store.operators import ScanRow, scan_history
from stationd.store.order_details import (
    DeliveryRecord,
    OrderHeader,
    order_deliveries,
    order_events,
    order_header,
)
from stationd.store.orders import load_order
from stationd.store.own_statuses import OwnStatusInUse, list_own_statuses, own_statuses_in_use
from stationd.store.search import OrderPage, search_orders


def order_exists(store: Store, order_id: int) -> bool:
    with store.read() as conn:
        return load_order(conn, order_id) is not None


def found_orders(store: Store, query: OrderQuery, tz: tzinfo) -> OrderPage:
    """R4: the page of orders `query` finds (dates read in the station's zone `tz`)."""
    with store.read() as conn:
        return search_orders(conn, query, tz)


def own_statuses(store: Store) -> list[OwnStatus]:
    with store.read() as conn:
        return list_own_statuses(conn)


def own_statuses_with_use(store: Store) -> list[OwnStatusInUse]:
    """R5: each own status with how many orders carry it."""
    with store.read() as conn:
        return own_statuses_in_use(conn)


@dataclass(frozen=True)
class OrderView:
    """One order as its page shows it; `scans` and `history` newest first."""

    order: Order
    header: OrderHeader | None
    deliveries: list[DeliveryRecord]
    scans: list[ScanRow]
    history: list[StoredEvent]
    own_statuses: list[OwnStatus]


def order_view(store: Store, order_id: int, *, history_rows: int) -> OrderView | None:
    """The order page's order, or None if there is no such order."""
    with store.read() as conn:
        order = load_order(conn, order_id)
        if order is None:
            return None
        return OrderView(
            order,
            order_header(conn, order_id),
            order_deliveries(conn, order_id),
            scan_history(conn, order_id=order_id, limit=history_rows),
            order_events(conn, order_id, limit=history_rows),
            list_own_statuses(conn),
        )


def order_known(store: Store, order_id: int) -> bool:
    """Whether the order is there to be watched (its header reads)."""
    with store.read() as conn:
        return order_header(conn, order_id) is not None
