"""Order search (R4) in SQL: the list's columns, plain text and the extended criteria."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from sqlalchemy import Connection, and_, exists, func, or_, select

from stationd.core.barcodes import normalize_gtin
from stationd.core.search import OrderQuery
from stationd.store.tables import deliveries, order_lines, orders, own_statuses, parcel_ids


@dataclass(frozen=True)
class OrderRow:
    """One row of the order list: id, date, customer, status (and own status), value, comment."""

    id: int
    placed_at: datetime
    customer_name: str
    status: str
    own_status: str | None
    value_minor: int
    currency: str
    comment: str
    waiting: bool


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(q: OrderQuery, tz: tzinfo) -> list:
    where = []
    if q.text:
        pattern = f"%{_like_escape(q.text.casefold())}%"
        text_match = [
            orders.c.customer_key.like(pattern, escape="\\"),
            func.lower(orders.c.customer_email).like(pattern, escape="\\"),
        ]
        if q.text.isascii() and q.text.isdecimal() and len(q.text) <= 12:
            text_match.append(orders.c.id == int(q.text))
        where.append(or_(*text_match))
    if q.placed_from is not None:
        where.append(orders.c.placed_at >= datetime.combine(q.placed_from, time.min, tz))
    if q.placed_to is not None:
        end = datetime.combine(q.placed_to + timedelta(days=1), time.min, tz)
        where.append(orders.c.placed_at < end)
    if q.status is not None:
        where.append(orders.c.status == q.status.value)
    if q.own_status_id is not None:
        where.append(orders.c.own_status_id == q.own_status_id)
    if q.payment_method is not None:
        where.append(orders.c.payment_method == q.payment_method.value)
    if q.value_min_minor is not None:
        where.append(orders.c.value_minor >= q.value_min_minor)
    if q.value_max_minor is not None:
        where.append(orders.c.value_minor <= q.value_max_minor)
    if q.has_comment is not None:
        where.append(orders.c.comment != "" if q.has_comment else orders.c.comment == "")
    if q.waiting is not None:
        where.append(orders.c.waiting.is_(q.waiting))
    if q.sku_or_ean:
        codes = [order_lines.c.sku == q.sku_or_ean]
        with contextlib.suppress(ValueError):  # not a GTIN: the SKU alone
            codes.append(order_lines.c.gtin == normalize_gtin(q.sku_or_ean))
        where.append(exists().where(and_(order_lines.c.order_id == orders.c.id, or_(*codes))))
    if q.tracking_id:
        where.append(
            exists().where(
                and_(
                    deliveries.c.order_id == orders.c.id,
                    parcel_ids.c.delivery_id == deliveries.c.id,
                    parcel_ids.c.parcel_id == q.tracking_id.strip().upper(),
                )
            )
        )
    return where


def search_orders(conn: Connection, q: OrderQuery, tz: tzinfo = UTC) -> tuple[list[OrderRow], int]:
    """The page of orders `q` asks for, newest first, and how many match in all.

    `q`'s dates are days in `tz`, the station's time zone: an order placed at 00:30 in
    Stockholm is found under that day, not the day before in UTC.
    """
    where = _conditions(q, tz)
    total = conn.execute(select(func.count()).select_from(orders).where(*where)).scalar_one()
    rows = conn.execute(
        select(
            orders.c.id,
            orders.c.placed_at,
            orders.c.customer_name,
            orders.c.status,
            own_statuses.c.name,
            orders.c.value_minor,
            orders.c.currency,
            orders.c.comment,
            orders.c.waiting,
        )
        .select_from(orders.outerjoin(own_statuses, own_statuses.c.id == orders.c.own_status_id))
        .where(*where)
        .order_by(orders.c.placed_at.desc(), orders.c.id.desc())
        .limit(q.page_size)
        .offset((q.page - 1) * q.page_size)
    ).all()
    return [
        OrderRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8])) for r in rows
    ], total
