"""Orders for the receipt printer's tests: a pick-list order of n lines and its shelf places."""

from __future__ import annotations

from datetime import UTC, datetime

from stationd.core.documents import Shop
from stationd.core.orders import Order, OrderLine, OrderStatus

SHOP = Shop("Garnboden AB", ("Storgatan 1", "111 22 Stockholm"))
PLACED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def make_order(lines: int = 1, order_id: int = 1042, **kw) -> Order:
    defaults = dict(
        id=order_id,
        status=OrderStatus.PACKING,
        placed_at=PLACED,
        customer_name="Åsa Ødegård",
        paid=True,
        lines=[
            OrderLine(id=1, sku="CAP-1", name="Mössa", quantity=1, unit_price_minor=19900),
            *(
                OrderLine(
                    id=i + 2,
                    sku=f"SKU-{i}",
                    name=f"Ullsockor grå storlek {i} – extra varma",
                    quantity=1 + i % 3,
                    unit_price_minor=14900,
                )
                for i in range(lines - 1)
            ),
        ],
    )
    return Order(**(defaults | kw))


def locations(order: Order) -> dict[str, str]:
    return {"CAP-1": "A-02-1"} | {
        line.sku: f"B-{40 - i}-{i % 4}" for i, line in enumerate(order.lines[1:])
    }
