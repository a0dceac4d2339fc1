"""Order search (R4) in SQL: the list's columns, plain text and the extended criteria.

The list runs newest order (highest id) first, and a page must come back in a few
milliseconds at 200,000 orders. What costs time is the number of orders read, so:

- Pages are keyed by order id (`OrderQuery.after` / `.before`): page 4,000 reads what page 1
  does, where OFFSET would read the 200,000 orders before it.
- The total is counted only while that is cheap: up to `COUNT_CAP` matches, within
  `COUNT_BUDGET_MS` of processor time. Otherwise the page says only that there are more.
- A piece of a name or e-mail is found through the order-text index (SQLite FTS5 trigrams,
  PostgreSQL pg_trgm on `orders_text`; migrations 0001, 0006) and then checked with LIKE,
  which alone decides: both engines find the same orders, with or without the index.
- SQLite's planner does not know how common a value is, and would walk 150,000 shipped
  orders to find 50 waiting ones. On SQLite the search chooses what leads (`_lead`): each
  criterion is counted in its own index up to `PROBE` entries (well under a millisecond), the
  rarest leads if rare enough, the others are checked row by row (`_RowByRow`); when all are
  common, the orders are read newest first, as the list shows them. PostgreSQL keeps
  statistics and plans for itself, except for a date range far back (`_date_span`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from time import thread_time
from typing import Any

from sqlalchemy import (
    Connection,
    column,
    func,
    literal,
    or_,
    select,
    table,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from stationd.core.check_digits import normalize_gtin
from stationd.core.search import MIN_TEXT, OrderQuery
from stationd.store.postgres_tables import has_orders_text, in_status, text_holders
from stationd.store.tables import (
    ORDER_TEXT_INDEX,
    deliveries,
    order_lines,
    orders,
    own_statuses,
    parcel_ids,
)

#: The most matches counted; beyond it the page says "more than 1,000".
COUNT_CAP = 1000
#: How long counting the matches may take before the page goes without the total.
COUNT_BUDGET_MS = 5
#: A criterion matching fewer orders than this (counted in its own index) may lead.
PROBE = 2000


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


@dataclass(frozen=True)
class OrderPage:
    """One page of the list, and what is known of the rest.

    `total` is how many orders match, or None when counting them would take too long;
    `more` says there are more than `total` (which is then `COUNT_CAP`). `older` / `newer` are
    the keys of the next and previous page (`OrderQuery.after` / `.before`), None where the
    list ends."""

    rows: list[OrderRow]
    total: int | None
    more: bool
    older: int | None
    newer: int | None


class _RowByRow(FunctionElement):
    """A column SQLite must check row by row, not look up in its index: `+column` there."""

    inherit_cache = True

    def __init__(self, col: Any) -> None:
        super().__init__(col)
        self.type = col.type


@compiles(_RowByRow)
def _as_is(element: _RowByRow, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_RowByRow, "sqlite")
def _unary_plus(element: _RowByRow, compiler: Any, **kw: Any) -> str:
    # Unary + is a no-op on the value but hides the column from SQLite's index choice.
    return "+" + compiler.process(element.clauses, **kw)


_text_index = table(ORDER_TEXT_INDEX, column("rowid"), column(ORDER_TEXT_INDEX))
_LIST_COLUMNS = (
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
#: The criteria on a range of values; their indexes must be read whole and sorted.
_RANGES = frozenset({"value", "placed"})
#: An equality index leads while at most this share of all orders carry its value: reading
#: the orders in turn costs a few times less per order than looking each one up.
LEAD_SHARE = 0.2
#: The most trigrams of a text looked up in the text index.
MAX_TRIGRAMS = 4


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name_text(q: OrderQuery) -> str:
    """The piece of a name or e-mail to look for ('' when the text is an order number)."""
    return "" if not q.text or q.order_id is not None else q.text.casefold()


def _day_start(day: Any, tz: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tz)


def _plain_conditions(
    q: OrderQuery, tz: tzinfo, indexed: frozenset[str] | None, conn: Connection | None = None
) -> dict:
    """The plain criteria of `q` by name; those not in `indexed` are checked row by row.
    (`conn` on PostgreSQL: the status is found through `order_states`.)"""

    def col(name: str, c: Any) -> Any:
        return c if indexed is None or name in indexed else _RowByRow(c)

    found: dict[str, list] = {}
    if q.status is not None:
        found["status"] = [
            in_status(conn, q.status.value)
            if conn is not None and conn.dialect.name == "postgresql"
            else col("status", orders.c.status) == q.status.value
        ]
    if q.own_status_id is not None:
        found["own_status"] = [col("own_status", orders.c.own_status_id) == q.own_status_id]
    if q.waiting is not None:
        found["waiting"] = [col("waiting", orders.c.waiting).is_(q.waiting)]
    if q.payment_method is not None:
        found["payment"] = [col("payment", orders.c.payment_method) == q.payment_method.value]
    value = col("value", orders.c.value_minor)
    if q.value_min_minor is not None:
        found.setdefault("value", []).append(value >= q.value_min_minor)
    if q.value_max_minor is not None:
        found.setdefault("value", []).append(value <= q.value_max_minor)
    placed = col("placed", orders.c.placed_at)
    if q.placed_from is not None:
        found.setdefault("placed", []).append(placed >= _day_start(q.placed_from, tz))
    if q.placed_to is not None:
        found.setdefault("placed", []).append(
            placed < _day_start(q.placed_to + timedelta(days=1), tz)
        )
    return found


def _conditions(
    conn: Connection, q: OrderQuery, tz: tzinfo, indexed: frozenset[str] | None
) -> list:
    plain = _plain_conditions(q, tz, indexed, conn)
    where: list = [c for group in plain.values() for c in group]
    if q.order_id is not None:
        where.append(orders.c.id == q.order_id)
    elif text := _name_text(q):
        pattern = f"%{_like_escape(text)}%"
        where.append(
            or_(
                orders.c.customer_key.like(pattern, escape="\\"),
                func.lower(orders.c.customer_email).like(pattern, escape="\\"),
            )
        )
        if conn.dialect.name == "postgresql" and has_orders_text(conn):
            where.append(text_holders(pattern))
    if q.has_comment is not None:
        where.append(orders.c.comment != "" if q.has_comment else orders.c.comment == "")
    if q.sku_or_ean:
        codes = [order_lines.c.sku == q.sku_or_ean]
        with contextlib.suppress(ValueError):  # not a GTIN: the SKU alone
            codes.append(order_lines.c.gtin == normalize_gtin(q.sku_or_ean))
        where.append(orders.c.id.in_(select(order_lines.c.order_id).where(or_(*codes))))
    if q.tracking_id:
        where.append(
            orders.c.id.in_(
                select(deliveries.c.order_id)
                .join(parcel_ids, parcel_ids.c.delivery_id == deliveries.c.id)
                .where(parcel_ids.c.parcel_id == q.tracking_id.strip().upper())
            )
        )
    return where


def _has_text_index(conn: Connection) -> bool:
    if conn.dialect.name != "sqlite":
        return False  # PostgreSQL's trigram index serves the LIKE itself
    return (
        conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (ORDER_TEXT_INDEX,)
        ).first()
        is not None
    )


def _text_match(text: str) -> str:
    """An FTS5 query finding every order whose text holds `text` (and rarely a few more).

    A few of the text's trigrams: each order holding `text` holds them all, and a few
    intersect far quicker than every overlapping one — the more so the rarer they are. So
    first those across a word break ("a k" of "märta karlsson", "n.n" of "johan.nilsson":
    as rare as the pair of words), then the first, then from the middle. Of an e-mail
    address only the part before the @ counts: the domain (gmail.com) is shared by many,
    and a trigram across the @ ("n@g") by every name ending alike. LIKE then drops any order
    holding the trigrams but not the text.
    """
    at = text.find("@", 1)
    if at >= MIN_TEXT:
        text = text[:at]
    last = len(text) - 3
    breaks = [
        i
        for i in range(last + 1)
        if text[i].isalnum() and not text[i + 1].isalnum() and text[i + 2].isalnum()
    ]
    middle = sorted(range(0, last + 1, 3), key=lambda i: abs(i - last / 2))
    chosen: list[int] = []
    for i in (*breaks, 0, *middle, last):
        if i not in chosen and len(chosen) < MAX_TRIGRAMS:
            chosen.append(i)
    return " AND ".join('"' + text[i : i + 3].replace('"', '""') + '"' for i in sorted(chosen))


@dataclass(frozen=True)
class _Plan:
    indexed: frozenset[str] | None  # criteria that may use their index (None: all of them)
    # SQLite FTS5 for the text: "leads" streams the orders holding it newest first; "ids"
    # reads their ids once, for another criterion's index to check each order against
    # (or, when none leads, for those ids to be looked up newest first).
    text: str | None = None
    dates_lead: bool = False  # PostgreSQL: read the date range and sort it

    @property
    def by_range(self) -> bool:
        return self.dates_lead or bool(self.indexed and self.indexed & _RANGES)


def _probe(
    conn: Connection,
    where: list,
    ids: tuple[int, int],
    *,
    in_id_order: bool,
    q_after: int | None = None,
) -> float:
    """About how many orders match `where`: counted up to PROBE, estimated beyond.

    An equality index lists its orders in id order: past PROBE, the span of ids its newest
    PROBE orders cover tells how densely the value falls among all orders.
    """
    oldest, newest = ids
    if in_id_order and q_after is not None:
        # A later page: how densely the value falls below where the page starts.
        where = [*where, orders.c.id < q_after]
        newest = q_after - 1
    if not in_id_order:
        found = select(literal(1)).select_from(orders).where(*where).limit(PROBE).subquery()
        return conn.execute(select(func.count()).select_from(found)).scalar_one()
    found = select(orders.c.id).where(*where).order_by(orders.c.id.desc()).limit(PROBE).subquery()
    count, lowest = conn.execute(select(func.count(), func.min(found.c.id))).one()
    if count < PROBE:
        return count
    return count * (ids[1] - oldest + 1) / max(1, newest - lowest + 1)


def _lead(conn: Connection, q: OrderQuery, tz: tzinfo) -> _Plan | None:
    """SQLite: choose what leads the search (see the module docstring); None: nothing matches.

    An equality index lists its orders in id order, as the page wants them, but each entry
    costs a look-up of the order elsewhere in the file: it leads when its value is rare enough
    (`LEAD_SHARE`). A range (value, date) must be read whole and sorted, so it leads only when
    small — or, for dates, when reading the orders newest first would pass over more orders
    placed after the range than the range holds.
    """
    needles = q.order_id is not None or q.tracking_id or q.sku_or_ean
    if conn.dialect.name != "sqlite":
        # PostgreSQL plans for itself, but can't know that orders are numbered in date order:
        # for a range far back it would read every newer order, newest first, to reach it.
        if q.placed_to is not None and not needles and not _name_text(q):
            inside, after = _date_span(conn, q, tz)
            return _Plan(None, dates_lead=inside < after)
        return _Plan(None)
    if needles:
        return _Plan(frozenset())  # an order id, a parcel id or an item: a few ids lead
    plain = _plain_conditions(q, tz, None)
    if not plain and not _name_text(q):
        return _Plan(frozenset())
    # Two statements: SQLite finds min() or max() of the key at once, both together by a scan.
    ids = (
        conn.execute(select(func.min(orders.c.id))).scalar_one(),
        conn.execute(select(func.max(orders.c.id))).scalar_one(),
    )
    if ids[0] is None:
        return None
    counts = {
        name: _probe(conn, where, ids, in_id_order=name not in _RANGES, q_after=q.after)
        for name, where in plain.items()
    }
    if 0 in counts.values() and q.after is None:
        return None  # (below a page's start, none may match and yet the count is not 0)
    text = "ids" if len(_name_text(q)) >= MIN_TEXT and _has_text_index(conn) else None
    if text and not plain:
        return _Plan(frozenset(), text="leads")
    everyone = ids[1] - ids[0] + 1
    leads = {
        name: n
        for name, n in counts.items()
        if (n < PROBE if name in _RANGES else n <= LEAD_SHARE * everyone)
    }
    if not leads and "placed" in counts:
        inside, after = _date_span(conn, q, tz)
        if inside < after:
            leads["placed"] = inside
    if not leads:
        return _Plan(frozenset(), text=text)  # all common: newest first, row by row
    return _Plan(frozenset({min(leads, key=leads.__getitem__)}), text=text)


def _date_span(conn: Connection, q: OrderQuery, tz: tzinfo) -> tuple[int, int]:
    """About how many orders were placed in `q`'s date range, and after it.

    Read from the ids of the orders placed first and last in the range, two index look-ups:
    orders are numbered as they come in. Only the choice of plan relies on that; were the
    numbers out of order, the search would be slower, never wrong.
    """
    placed = orders.c.placed_at
    newest = conn.execute(select(func.max(orders.c.id))).scalar_one() or 0
    first, last = 0, newest
    if q.placed_from is not None:
        start = _day_start(q.placed_from, tz)
        first = conn.execute(
            select(orders.c.id).where(placed >= start).order_by(placed).limit(1)
        ).scalar_one_or_none()
        first = newest if first is None else first
    if q.placed_to is not None:
        end = _day_start(q.placed_to + timedelta(days=1), tz)
        last = conn.execute(
            select(orders.c.id).where(placed < end).order_by(placed.desc()).limit(1)
        ).scalar_one_or_none()
        last = 0 if last is None else last
    return max(0, last - first), newest - last


def search_orders(conn: Connection, q: OrderQuery, tz: tzinfo = UTC) -> OrderPage:
    """The page of orders `q` asks for, newest first, and how many match (see `OrderPage`).

    `q`'s dates are days in `tz`, the station's time zone: an order placed at 00:30 in
    Stockholm is found under that day, not the day before in UTC.
    """
    plan = _lead(conn, q, tz)
    if plan is None:
        return OrderPage([], 0, False, None, None)
    where = _conditions(conn, q, tz, plan.indexed)
    key: Any = orders.c.id
    source: Any = orders
    if plan.text is not None:
        match = _text_index.c[ORDER_TEXT_INDEX].match(_text_match(_name_text(q)))
        if plan.text == "leads":
            # The text index leads, in its own id order: the first page is read, not sorted.
            source = _text_index.join(orders, orders.c.id == _text_index.c.rowid)
            key = _text_index.c.rowid
            where.append(match)
        else:
            holding = select(_text_index.c.rowid).where(match)
            led = bool(plan.indexed)  # another index leads: only check each order's id
            where.append((_RowByRow(orders.c.id) if led else orders.c.id).in_(holding))
    # Sorting by `id + 0` leaves the planner nothing to gain from walking the ids, so it
    # takes the range's index that leads.
    sort_key = key + 0 if plan.by_range else key
    matching = select(key).select_from(source).where(*where)
    size = q.page_size
    if q.before is not None:
        page = matching.where(key > q.before).order_by(sort_key.asc())
    elif q.after is not None:
        page = matching.where(key < q.after).order_by(sort_key.desc())
    else:
        page = matching.order_by(sort_key.desc()).offset((q.page - 1) * size)
    found = list(conn.execute(page.limit(size + 1)).scalars())
    beyond = len(found) > size
    rows = _rows(conn, sorted(found[:size], reverse=True))
    first_page = q.after is None and q.before is None and q.page == 1
    if q.before is not None:
        older = rows[-1].id if rows else None
        newer = rows[0].id if rows and beyond else None
    else:
        older = rows[-1].id if rows and beyond else None
        newer = rows[0].id if rows and not first_page else None
    if first_page and not beyond:
        return OrderPage(rows, len(rows), False, older, newer)
    # Newest first, like the list: where the matches are recent, the count stops soonest.
    counted = matching.order_by(sort_key.desc()).limit(COUNT_CAP + 1).subquery()
    total = _count_within_budget(conn, select(func.count()).select_from(counted))
    if total is None:
        return OrderPage(rows, None, True, older, newer)
    return OrderPage(rows, min(total, COUNT_CAP), total > COUNT_CAP, older, newer)


def _count_within_budget(conn: Connection, query: Any) -> int | None:
    """The count `query` gives, or None if it takes longer than COUNT_BUDGET_MS.

    On SQLite the budget is this thread's processor time, so a busy machine (other threads,
    other programs) doesn't take the total away from a search that is cheap in itself.
    """
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        deadline = thread_time() + COUNT_BUDGET_MS / 1000
        # SQLite calls this every 1,000 steps of the query; a true answer interrupts it.
        raw.set_progress_handler(lambda: thread_time() > deadline, 1000)  # type: ignore[union-attr]
        try:
            return conn.execute(query).scalar_one()
        except OperationalError as err:
            if "interrupted" not in str(err.orig):
                raise
            return None
        finally:
            raw.set_progress_handler(None, 0)  # type: ignore[union-attr]
    try:
        with conn.begin_nested():
            # Cancelled by the server after the budget; the savepoint keeps the transaction.
            conn.execute(select(func.set_config("statement_timeout", str(COUNT_BUDGET_MS), True)))
            total = conn.execute(query).scalar_one()
            conn.execute(select(func.set_config("statement_timeout", "0", True)))
            return total
    except OperationalError as err:
        if "statement timeout" not in str(err.orig):
            raise
        return None


def _rows(conn: Connection, ids: list[int]) -> list[OrderRow]:
    if not ids:
        return []
    found = {
        r[0]: OrderRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))
        for r in conn.execute(
            select(*_LIST_COLUMNS)
            .select_from(
                orders.outerjoin(own_statuses, own_statuses.c.id == orders.c.own_status_id)
            )
            .where(orders.c.id.in_(ids))
        )
    }
    return [found[i] for i in ids if i in found]


__all__ = ["COUNT_BUDGET_MS", "COUNT_CAP", "PROBE", "OrderPage", "OrderRow", "search_orders"]
