"""Writing an order's contents (R2): a line's quantity, lines added and removed, and the stock
reservation a packing order lets go of when its lines shrink (R7)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from stationd.core.check_digits import normalize_gtin
from stationd.core.orders import OrderLine
from stationd.store.local_copy import CENTRAL
from stationd.store.outbox import START_NOTE
from stationd.store.tables import order_lines, products, stock, sync_state


def shelf_locations(conn: Connection, skus: Iterable[str]) -> dict[str, str]:
    """Each SKU's stock location (R11: a pick list walks the shelves in that order)."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = conn.execute(
        select(products.c.sku, products.c.location).where(products.c.sku.in_(wanted))
    )
    return dict(rows.all())


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    gtin: str | None
    location: str
    price_minor: int


def find_product(conn: Connection, code: str) -> Product | None:
    """The product with this SKU, or with this EAN/GTIN (any length, normalised to 14)."""
    match = [products.c.sku == code.strip()]
    with contextlib.suppress(ValueError):  # not a GTIN: the SKU alone
        match.append(products.c.gtin == normalize_gtin(code.strip()))
    row = conn.execute(
        select(
            products.c.sku,
            products.c.name,
            products.c.gtin,
            products.c.location,
            products.c.price_minor,
        ).where(or_(*match))
    ).first()
    return None if row is None else Product(*row)


def save_line_quantity(conn: Connection, order_id: int, line: OrderLine) -> None:
    conn.execute(
        update(order_lines)
        .where(order_lines.c.id == line.id, order_lines.c.order_id == order_id)
        .values(quantity=line.quantity)
    )


def delete_line(conn: Connection, order_id: int, line_id: int) -> None:
    conn.execute(
        delete(order_lines).where(order_lines.c.id == line_id, order_lines.c.order_id == order_id)
    )


def insert_line(conn: Connection, order_id: int, line: OrderLine) -> int:
    """Add `line` after the order's other lines; returns its id.

    In a station's copy of a central (docs/sync.md, "Lines added at a bench") the id is below
    zero, one less than the lowest there: central numbers its lines from its own sequence, so
    the copy's next id would be one central gives another line too — and the pull, writing
    central's line by its id, would move this one onto that line's order."""
    last = conn.execute(
        select(func.max(order_lines.c.position)).where(order_lines.c.order_id == order_id)
    ).scalar_one()
    own_id = {}
    if follows_central(conn):
        lowest = conn.execute(select(func.min(order_lines.c.id))).scalar()
        own_id["id"] = min(lowest or 0, 0) - 1
    return conn.execute(
        insert(order_lines)
        .values(
            **own_id,
            order_id=order_id,
            position=0 if last is None else last + 1,
            sku=line.sku,
            name=line.name,
            gtin=line.gtin,
            quantity=line.quantity,
            unit_price_minor=line.unit_price_minor,
        )
        .returning(order_lines.c.id)
    ).scalar_one()


#: The `sync_state` notes that make a store a copy of a central: the central its pull follows
#: and where its push started.
_COPY_NOTES = (CENTRAL, START_NOTE)


def follows_central(conn: Connection) -> bool:
    """Whether this store is a station's copy of a central (it has pulled, or pushed)."""
    found = conn.execute(select(sync_state.c.name).where(sync_state.c.name.in_(_COPY_NOTES)))
    return found.first() is not None


def release_stock(conn: Connection, sku: str, quantity: int) -> None:
    """Give `quantity` of `sku` that an order held back to the stock the pack script shares."""
    if quantity:
        conn.execute(
            update(stock).where(stock.c.sku == sku).values(reserved=stock.c.reserved - quantity)
        )


def product_weights(conn: Connection, skus: Iterable[str]) -> dict[str, int]:
    """The weight in grams of each product of `skus` that has been weighed (0 g means never)."""
    rows = conn.execute(
        select(products.c.sku, products.c.weight_g).where(products.c.sku.in_(list(skus)))
    ).all()
    return {sku: weight for sku, weight in rows if weight}
