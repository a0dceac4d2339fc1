"""An order the shop sends again, changed (issue 13 §1): what may change now (R1, R2).

The shop is the order's source, so its new version replaces the old — as far as the rules let
it. The order's customer, address, comment and payment follow the shop while the order is not
shipped; its lines follow only while the contents may change (R2: `order` or `packing`), and
then through `Order`'s own rules, so an import can do nothing the orders page could not: no
line added once packing, no quantity below what is packed or delivered, none above what the
pack script reserved. A refusal raises `OrderRuleError` with the reason; the order is left as
it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stationd.core.intake import IncomingLine, IncomingOrder
from stationd.core.orders import STATUS_WORDS, Order, OrderLine, OrderRuleError, OrderStatus
from stationd.core.text import sentence


@dataclass
class OrderUpdate:
    """What to write for a changed order: its new state, the lines changed in place and the
    lines added (each with its VAT rate), the lines removed, and the stock its lines let go of
    (R7), by SKU."""

    status: OrderStatus
    changed: list[tuple[OrderLine, int | None]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    added: list[tuple[OrderLine, int | None]] = field(default_factory=list)
    released: dict[str, int] = field(default_factory=dict)


def line_key(line: OrderLine | IncomingLine, vat_rate_bp: int | None) -> tuple[object, ...]:
    """What the shop says of a line: equal keys need no change."""
    return (line.sku, line.name, line.gtin, line.quantity, line.unit_price_minor, vat_rate_bp)


def plan_update(order: Order, vat: dict[int, int | None], incoming: IncomingOrder) -> OrderUpdate:
    """The changes that bring `order` (its lines' VAT rates in `vat`, by line id) to the shop's
    `incoming` version, checked by R1 and R2 on `order` itself; raises `OrderRuleError`."""
    if order.status is OrderStatus.SHIPPED:
        raise OrderRuleError(
            sentence(
                "Order {id} is shipped: the shop's changes can no longer be taken in.",
                id=order.id,
            )
        )
    update = OrderUpdate(order.status)
    if incoming.status is OrderStatus.PREORDER and order.status is not OrderStatus.PREORDER:
        raise OrderRuleError(
            sentence(
                "Order {id} is {status} and cannot become {new}.",
                id=order.id,
                status=STATUS_WORDS[order.status],
                new=STATUS_WORDS[OrderStatus.PREORDER],
            )
        )
    old = [line_key(line, vat.get(line.id or 0)) for line in order.lines]
    new = [line_key(line, line.vat_rate_bp) for line in incoming.lines]
    if old != new:
        order.require_editable()  # R2: a preorder's lines are the shop's until it is an order
        _plan_lines(order, incoming.lines, update)
    if incoming.status is OrderStatus.ORDER and order.status is OrderStatus.PREORDER:
        order.customer_name = incoming.customer_name
        order.move_to(OrderStatus.ORDER)  # R1: checkout completed
        update.status = order.status
    return update


def _plan_lines(order: Order, lines: tuple[IncomingLine, ...], update: OrderUpdate) -> None:
    """Line by line in position: the same SKU is changed in place, another is a line removed
    and one added. Additions go first: an order's last line can't be removed (R2)."""
    existing = list(order.lines)
    replaced: list[OrderLine] = []
    for i, wanted in enumerate(lines):
        have = existing[i] if i < len(existing) else None
        if have is not None and have.sku == wanted.sku:
            assert have.id is not None
            if wanted.quantity != have.quantity:
                released = order.set_quantity(have.id, wanted.quantity)
                if released:
                    update.released[have.sku] = update.released.get(have.sku, 0) + released
            if wanted.unit_price_minor != have.unit_price_minor:
                order.set_price(have.id, wanted.unit_price_minor)
            have.name, have.gtin = wanted.name, wanted.gtin
            update.changed.append((have, wanted.vat_rate_bp))
            continue
        if have is not None:
            replaced.append(have)
        line = OrderLine(
            sku=wanted.sku,
            name=wanted.name,
            quantity=wanted.quantity,
            unit_price_minor=wanted.unit_price_minor,
            gtin=wanted.gtin,
        )
        order.add_line(line)
        update.added.append((line, wanted.vat_rate_bp))
    replaced.extend(existing[len(lines) :])
    for line in replaced:
        assert line.id is not None
        released = order.remove_line(line.id)
        update.removed.append(line.id)
        if released:
            update.released[line.sku] = update.released.get(line.sku, 0) + released
