"""The shop's orders, products and stock written in bulk (issue 13 §1), on both engines.

New orders go in with one multi-row INSERT per table per batch; an order the shop sent before
is found by (shop, shop_ref) with its `import_hash`, so a file sent again reads one narrow index
per batch and writes nothing. The order search's text index and PostgreSQL's `order_states` are
kept by the triggers on `orders` (migrations 0001, 0006), as for any order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, bindparam, delete, func, insert, select, update

from stationd.core.intake import IncomingOrder, IncomingProduct, IncomingStock
from stationd.core.order_import import OrderUpdate
from stationd.core.orders import Order
from stationd.store.order_contents import release_stock
from stationd.store.tables import order_lines, orders, products, stock


def known_orders(conn: Connection, shop: str, refs: Sequence[str]) -> dict[str, tuple[int, str]]:
    """The orders of `shop` with these references: ref → (order id, import hash)."""
    if not refs:
        return {}
    rows = conn.execute(
        select(orders.c.shop_ref, orders.c.id, orders.c.import_hash).where(
            orders.c.shop == shop, orders.c.shop_ref.in_(list(refs))
        )
    )
    return {ref: (order_id, digest or "") for ref, order_id, digest in rows}


def _header(shop: str, order: IncomingOrder) -> dict[str, Any]:
    return {
        "shop": shop,
        "shop_ref": order.ref,
        "import_hash": order.content_hash,
        "placed_at": order.placed_at,
        "customer_name": order.customer_name,
        "customer_key": order.customer_name.casefold(),
        "customer_email": order.customer_email,
        "street": order.street,
        "postcode": order.postcode,
        "city": order.city,
        "country": order.country,
        "language": order.language,
        "currency": order.currency,
        "payment_method": order.payment_method.value,
        "paid": order.paid,
        "comment": order.comment,
        "value_minor": order.value_minor,
    }


def insert_orders(
    conn: Connection, shop: str, new: Sequence[IncomingOrder], *, at: datetime
) -> list[int]:
    """Write new orders and their lines; returns their ids, in the order given."""
    if not new:
        return []
    rows = [{**_header(shop, o), "status": o.status.value, "updated_at": at} for o in new]
    if conn.dialect.name == "sqlite":
        # SQLite would take a RETURNING in parameter order one row per statement; the ids
        # are this transaction's to give (BEGIN IMMEDIATE: no other writer), so given here.
        top = conn.execute(select(func.max(orders.c.id))).scalar() or 0
        ids = list(range(top + 1, top + 1 + len(rows)))
        for order_id, row in zip(ids, rows, strict=True):
            row["id"] = order_id
        _insert_many(conn, orders, rows)
    else:
        returning = insert(orders).returning(orders.c.id, sort_by_parameter_order=True)
        ids = list(conn.execute(returning, rows).scalars())
    lines = [
        {
            "order_id": order_id,
            "position": position,
            "sku": line.sku,
            "name": line.name,
            "gtin": line.gtin,
            "quantity": line.quantity,
            "unit_price_minor": line.unit_price_minor,
            "vat_rate_bp": line.vat_rate_bp,
        }
        for order_id, order in zip(ids, new, strict=True)
        for position, line in enumerate(order.lines)
    ]
    if conn.dialect.name == "sqlite":
        _insert_many(conn, order_lines, lines)
    else:
        conn.execute(insert(order_lines), lines)
    return ids


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """SQLite: one prepared INSERT run over every row by the driver (executemany). What
    SQLAlchemy spends per row (its parameter processing) was a third of a 100,000-order
    import; each value still goes through its column type's own bind processor, so a time is
    written the one way the store writes times (UtcDateTime)."""
    names = list(rows[0])
    binds = [table.c[name].type.bind_processor(conn.dialect) for name in names]
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    typed = [(i, bind) for i, bind in enumerate(binds) if bind is not None]
    values = []
    for row in rows:
        line = [row[name] for name in names]
        for i, bind in typed:
            line[i] = bind(line[i])
        values.append(tuple(line))
    conn.exec_driver_sql(sql, values)


def line_vat(conn: Connection, order_ids: Iterable[int]) -> dict[int, int | None]:
    """Each line's VAT rate (basis points; None: the shop's standard rate), by line id."""
    rows = conn.execute(_line_vat_query(), {"ids": list(order_ids)})
    return dict(rows.all())


@functools.cache
def _line_vat_query() -> Select:
    # Built once: every report-in reads it (see print_queue._statements).
    return select(order_lines.c.id, order_lines.c.vat_rate_bp).where(
        order_lines.c.order_id.in_(bindparam("ids", expanding=True))
    )


def write_update(
    conn: Connection,
    shop: str,
    order: Order,
    incoming: IncomingOrder,
    plan: OrderUpdate,
    *,
    at: datetime,
) -> None:
    """Write a changed order as `plan` (core.order_import) says, and the stock it let go of."""
    conn.execute(
        update(orders)
        .where(orders.c.id == order.id)
        .values(**_header(shop, incoming), status=plan.status.value, updated_at=at)
    )
    if plan.changed:
        conn.execute(
            update(order_lines)
            .where(order_lines.c.id == bindparam("line_id"))
            .values(
                name=bindparam("name_"),
                gtin=bindparam("gtin_"),
                quantity=bindparam("quantity_"),
                unit_price_minor=bindparam("price_"),
                vat_rate_bp=bindparam("vat_"),
            ),
            [
                {
                    "line_id": line.id,
                    "name_": line.name,
                    "gtin_": line.gtin,
                    "quantity_": line.quantity,
                    "price_": line.unit_price_minor,
                    "vat_": vat,
                }
                for line, vat in plan.changed
            ],
        )
    if plan.removed:
        conn.execute(delete(order_lines).where(order_lines.c.id.in_(plan.removed)))
    if plan.added:
        # After the lines the order keeps (a line put in another's place goes last).
        last = conn.execute(
            select(func.max(order_lines.c.position)).where(order_lines.c.order_id == order.id)
        ).scalar()
        conn.execute(
            insert(order_lines),
            [
                {
                    "order_id": order.id,
                    "position": (last or 0) + 1 + i,
                    "sku": line.sku,
                    "name": line.name,
                    "gtin": line.gtin,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price_minor,
                    "vat_rate_bp": vat,
                }
                for i, (line, vat) in enumerate(plan.added)
            ],
        )
    for sku, quantity in plan.released.items():
        release_stock(conn, sku, quantity)


# --- products and stock ----------------------------------------------------------------------

_PRODUCT_COLUMNS = ("name", "ean", "gtin", "location", "weight_g", "price_minor")


def product_values(product: IncomingProduct) -> tuple[object, ...]:
    return tuple(getattr(product, name) for name in _PRODUCT_COLUMNS)


def known_products(conn: Connection, skus: Sequence[str]) -> dict[str, tuple[object, ...]]:
    """The products with these SKUs: sku → their values in `_PRODUCT_COLUMNS` order."""
    if not skus:
        return {}
    columns = [products.c[name] for name in _PRODUCT_COLUMNS]
    rows = conn.execute(select(products.c.sku, *columns).where(products.c.sku.in_(list(skus))))
    return {row[0]: tuple(row[1:]) for row in rows}


def gtin_holders(conn: Connection, gtins: Sequence[str]) -> dict[str, str]:
    """Which SKU holds each of these GTINs now (a GTIN is one product's: unique)."""
    if not gtins:
        return {}
    rows = conn.execute(
        select(products.c.gtin, products.c.sku).where(products.c.gtin.in_(list(gtins)))
    )
    return dict(rows.all())


def write_products(
    conn: Connection, new: Sequence[IncomingProduct], changed: Sequence[IncomingProduct]
) -> None:
    """Insert new products (with a stock row of 0, as the pack script expects one) and update
    changed ones."""
    if new:
        conn.execute(
            insert(products),
            [
                {"sku": p.sku, **dict(zip(_PRODUCT_COLUMNS, product_values(p), strict=True))}
                for p in new
            ],
        )
        conn.execute(insert(stock), [{"sku": p.sku, "on_hand": 0, "reserved": 0} for p in new])
    if changed:
        conn.execute(
            update(products)
            .where(products.c.sku == bindparam("sku_"))
            .values({name: bindparam(f"{name}_") for name in _PRODUCT_COLUMNS}),
            [
                {
                    "sku_": p.sku,
                    **{
                        f"{n}_": v for n, v in zip(_PRODUCT_COLUMNS, product_values(p), strict=True)
                    },
                }
                for p in changed
            ],
        )


def known_stock(conn: Connection, skus: Sequence[str]) -> dict[str, tuple[int, int] | None]:
    """For each SKU that is a product: (on hand, reserved), or None for no stock row yet."""
    if not skus:
        return {}
    rows = conn.execute(
        select(products.c.sku, stock.c.on_hand, stock.c.reserved)
        .select_from(products.outerjoin(stock, stock.c.sku == products.c.sku))
        .where(products.c.sku.in_(list(skus)))
    )
    return {
        sku: None if on_hand is None else (on_hand, reserved) for sku, on_hand, reserved in rows
    }


def write_stock(
    conn: Connection, new: Sequence[IncomingStock], changed: Sequence[IncomingStock]
) -> None:
    """Insert stock rows for products that had none; set `on_hand` of the others."""
    if new:
        conn.execute(
            insert(stock), [{"sku": s.sku, "on_hand": s.on_hand, "reserved": 0} for s in new]
        )
    if changed:
        conn.execute(
            update(stock)
            .where(stock.c.sku == bindparam("sku_"))
            .values(on_hand=bindparam("on_hand_")),
            [{"sku_": s.sku, "on_hand_": s.on_hand} for s in changed],
        )
