"""Deliveries of an order: parcel ids, partial delivery and report-in (SPEC R13–R15)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from stationd.core.orders import Order, OrderRuleError, OrderStatus

#: R13: one delivery carries at most this many parcel ids.
MAX_PARCEL_IDS = 4


@dataclass
class Delivery:
    """One shipment of (part of) an order: quantities per line id and its parcel ids."""

    order_id: int
    quantities: dict[int, int]
    parcel_ids: list[str] = field(default_factory=list)
    id: int | None = None
    reported_at: datetime | None = None
    weight_g: int | None = None

    @property
    def reported(self) -> bool:
        return self.reported_at is not None


def plan_delivery(order: Order, quantities: Mapping[int, int] | None = None) -> Delivery:
    """R14: a delivery of `quantities` (line id → items), or of everything still undelivered.

    A partial delivery names fewer items than are left; each quantity is 0 or more and never
    more than what is left undelivered on its line.
    """
    if order.status is not OrderStatus.PACKING:
        raise OrderRuleError(f"Order {order.id} is {order.status.value}; only packing orders ship.")
    by_id = {line.id: line for line in order.lines}
    if quantities is None:
        chosen = {line.id: line.undelivered for line in order.lines if line.undelivered > 0}
    else:
        chosen = {}
        for line_id, qty in quantities.items():
            line = by_id.get(line_id)
            if line is None:
                raise OrderRuleError(f"Order {order.id} has no line {line_id}.")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
                raise OrderRuleError(f"The quantity for {line.sku} must be 0 or more.")
            if qty > line.undelivered:
                raise OrderRuleError(
                    f"{line.sku}: {qty} is more than the {line.undelivered} left to deliver."
                )
            if qty:
                chosen[line_id] = qty
    if not chosen:
        raise OrderRuleError(f"Order {order.id}: the delivery holds no items.")
    return Delivery(order_id=order.id, quantities=chosen)  # type: ignore[arg-type]


def add_parcel_id(delivery: Delivery, parcel_id: str, used_elsewhere: Collection[str] = ()) -> str:
    """R13: put a parcel id on a delivery; returns it cleaned.

    Refuses a fifth id, an id already on this delivery, and one that `used_elsewhere` says
    belongs to another order.
    """
    if delivery.reported:
        raise OrderRuleError("This delivery is already reported; its parcel ids are final.")
    clean = parcel_id.strip().upper()
    if not clean:
        raise OrderRuleError("A parcel id can't be empty.")
    if len(clean) > 40 or not all(c.isalnum() or c in "-_./" for c in clean):
        raise OrderRuleError(f"{parcel_id!r} doesn't look like a parcel id.")
    if clean in delivery.parcel_ids:
        raise OrderRuleError(f"Parcel id {clean} is already on this delivery.")
    if clean in used_elsewhere:
        raise OrderRuleError(f"Parcel id {clean} is already used on another order.")
    if len(delivery.parcel_ids) >= MAX_PARCEL_IDS:
        raise OrderRuleError(f"A delivery carries at most {MAX_PARCEL_IDS} parcel ids.")
    delivery.parcel_ids.append(clean)
    return clean


@dataclass(frozen=True)
class ReportResult:
    """What a report-in did to one order."""

    order_id: int
    shipped: bool
    stock_out: dict[str, int]  # SKU → items that left the warehouse
    released: dict[str, int]  # SKU → reserved items no longer held (≤ stock_out)


def report_in(order: Order, delivery: Delivery, at: datetime) -> ReportResult:
    """R15: record a delivery; the order becomes shipped only when every line is delivered.

    Packed counts and stock reservations fall by what was delivered; a partial delivery (R14)
    leaves the order packing.
    """
    if delivery.order_id != order.id:
        raise OrderRuleError(f"That delivery belongs to order {delivery.order_id}, not {order.id}.")
    if delivery.reported:
        raise OrderRuleError(f"Order {order.id}: this delivery is already reported.")
    if not delivery.parcel_ids:
        raise OrderRuleError(f"Order {order.id}: add at least one parcel id before reporting in.")
    if order.status is not OrderStatus.PACKING:
        raise OrderRuleError(f"Order {order.id} is {order.status.value}; only packing orders ship.")
    by_id = {line.id: line for line in order.lines}
    stock_out: dict[str, int] = {}
    released: dict[str, int] = {}
    for line_id, qty in delivery.quantities.items():
        line = by_id.get(line_id)
        if line is None or qty > line.undelivered:
            # The order changed since the delivery was planned; refuse rather than over-ship.
            raise OrderRuleError(f"Order {order.id} changed; plan this delivery again.")
    for line_id, qty in delivery.quantities.items():
        line = by_id[line_id]
        line.delivered += qty
        line.packed = max(0, line.packed - qty)
        freed = min(line.reserved, qty)
        line.reserved -= freed
        stock_out[line.sku] = stock_out.get(line.sku, 0) + qty
        released[line.sku] = released.get(line.sku, 0) + freed
    delivery.reported_at = at
    shipped = order.fully_delivered
    if shipped:
        # Nothing is left to ship: whatever is still held for the order goes back to stock.
        for line in order.lines:
            if line.reserved:
                released[line.sku] = released.get(line.sku, 0) + line.reserved
                line.reserved = 0
        order.move_to(OrderStatus.SHIPPED)
        order.waiting = False
    return ReportResult(order.id, shipped, stock_out, released)
