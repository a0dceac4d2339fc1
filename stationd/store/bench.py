"""What the bench reads and writes besides the order itself: the station's row (its open order
and signed-in operator), its record of the delivery being packed (`bench_packing`), the scan
journal with the undo stack kept in it, and which other packing orders hold an item."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Update,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from stationd.clock import utcnow
from stationd.core.bench_outcome import BenchOutcome, Packing, Sound
from stationd.core.bench_screen import AtBench
from stationd.core.orders import Order, OrderStatus
from stationd.core.text import text_from_data
from stationd.store.database import Store
from stationd.store.deliveries import pending_parcel_ids
from stationd.store.tables import (
    bench_packing,
    deliveries,
    order_lines,
    orders,
    scan_journal,
    stations,
)
from stationd.store.unavailable import database_unavailable, first_line

#: How many other orders an "item of another order" message names at most.
ELSEWHERE_LIMIT = 3


@dataclass(frozen=True)
class _Statements:
    station: Select
    journal: Insert
    touch_station: Update


@functools.cache
def _statements() -> _Statements:
    # The statements of every scan, built once with bound parameters: building them cost
    # SQLAlchemy more CPU than running them (see print_queue._statements).
    return _Statements(
        station=select(stations.c.current_order_id, stations.c.current_operator_id).where(
            stations.c.name == bindparam("station_")
        ),
        journal=insert(scan_journal).returning(scan_journal.c.id),
        # SET: the columns the parameters name besides station_.
        touch_station=update(stations).where(stations.c.name == bindparam("station_")),
    )


def bench_station(
    conn: Connection, station: str, create: bool = True
) -> tuple[int | None, int | None]:
    """The station's open order and signed-in operator (None, None for a new station, whose
    row is made when `create`)."""
    row = conn.execute(_statements().station, {"station_": station}).first()
    if row is None:
        if create:
            conn.execute(insert(stations).values(name=station))
        return None, None
    return row[0], row[1]


def touch_station(conn: Connection, station: str, **values: object) -> None:
    """Set the station row's `values` (open order, last seen) in one statement."""
    conn.execute(_statements().touch_station, {"station_": station, **values})


#: Codes longer than this are not stored whole in the journal.
MAX_CODE_CHARS = 200


def journal_text(code: str) -> str:
    """The code as the journal keeps it: control characters escaped (PostgreSQL refuses NUL,
    and an admin reading the journal must see them), cut to MAX_CODE_CHARS."""
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in code[:MAX_CODE_CHARS])
    return text[:MAX_CODE_CHARS]


def journal_scan(conn: Connection, row: dict[str, object]) -> int:
    """Write one row of the scan journal (the columns of `scan_journal`); returns its id."""
    return conn.execute(_statements().journal, row).scalar_one()


def saved_outcome(conn: Connection, station: str, source: str, at: datetime) -> BenchOutcome | None:
    """What the journal kept of the read of `station`'s `source` at `at` (source cut as the
    journal keeps it), if that scan's transaction committed — though its answer may have been
    cut off, so that the bench, trying it again, would count it twice (issue 10's soak)."""
    row = conn.execute(
        select(
            scan_journal.c.ok,
            scan_journal.c.message,
            scan_journal.c.message_data,
            scan_journal.c.order_id,
            scan_journal.c.line_id,
            scan_journal.c.delta,
        )
        .where(
            scan_journal.c.station == station,
            scan_journal.c.at == at,
            scan_journal.c.source == source[:100],
        )
        .order_by(scan_journal.c.id.desc())  # the scan's own row is its last (after CANCEL's)
        .limit(1)
    ).first()
    if row is None:
        return None
    ok, english, data, order_id, line_id, delta = row
    sound = Sound.OK if ok else Sound.ERROR
    return BenchOutcome(ok, text_from_data(data, english), sound, order_id, line_id, delta)


def set_journal_message(conn: Connection, journal_id: int, message: str, data: object) -> None:
    """Tell in a journal row what became of its scan after all (the labels printed when
    packed are booked after the scan's own transaction)."""
    conn.execute(
        update(scan_journal)
        .where(scan_journal.c.id == journal_id)
        .values(message=message, message_data=data)
    )


@functools.cache
def _packing_query() -> Select:
    # Built once: every scan at the bench reads it (see print_queue._statements).
    return select(
        bench_packing.c.parcels,
        bench_packing.c.parcel_start,
        bench_packing.c.partial,
        bench_packing.c.labels,
    ).where(bench_packing.c.order_id == bindparam("order"))


def load_packing(conn: Connection, order_id: int) -> Packing:
    """The bench's record of `order_id`'s delivery being packed (an empty one if none)."""
    row = conn.execute(_packing_query(), {"order": order_id}).first()
    return Packing(*row) if row is not None else Packing()


def save_packing(conn: Connection, order_id: int, packing: Packing) -> None:
    """Write the record; the caller holds the order's row lock, so insert-or-update is safe."""
    values = {
        "parcels": packing.parcels,
        "parcel_start": packing.parcel_start,
        "partial": packing.partial,
        "labels": packing.labels,
        "updated_at": utcnow(),
    }
    changed = conn.execute(
        update(bench_packing).where(bench_packing.c.order_id == order_id).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(bench_packing).values(order_id=order_id, **values))


def end_packing(conn: Connection, order_id: int) -> Packing:
    """Remove the record (its delivery was reported) and return what it held."""
    packing = load_packing(conn, order_id)
    conn.execute(delete(bench_packing).where(bench_packing.c.order_id == order_id))
    return packing


def undo_candidate(
    conn: Connection, order_id: int, line_id: int | None = None
) -> tuple[int, int] | None:
    """The top of the order's undo stack: (journal id, line id) of the newest item count not
    undone yet — on `line_id` if given. Counts before the order's last reported delivery are
    off the stack: their items have left the building."""
    j = scan_journal
    undone = select(j.c.undoes_id).where(j.c.order_id == order_id, j.c.undoes_id.is_not(None))
    query = select(j.c.id, j.c.line_id).where(
        j.c.order_id == order_id,
        j.c.ok.is_(True),
        j.c.delta > 0,
        j.c.line_id.is_not(None),
        j.c.id.not_in(undone),
    )
    shipped_at = conn.execute(
        select(func.max(deliveries.c.reported_at)).where(deliveries.c.order_id == order_id)
    ).scalar()
    if shipped_at is not None:
        query = query.where(j.c.at > shipped_at)
    if line_id is not None:
        query = query.where(j.c.line_id == line_id)
    row = conn.execute(query.order_by(j.c.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row is not None else None


def _last_opened(conn: Connection, station: str, order_id: int) -> int | None:
    # The journal id of the newest good scan of the order's pick list at `station`: where the
    # bench's session on it began.
    j = scan_journal
    return conn.execute(
        select(func.max(j.c.id)).where(
            j.c.station == station, j.c.order_id == order_id, j.c.kind == "order", j.c.ok.is_(True)
        )
    ).scalar()


def session_counts(conn: Connection, station: str, order_id: int) -> list[tuple[int, int]]:
    """The item counts of `order_id` not undone since `station` last opened it (the newest
    good scan of its pick list there), oldest first, as (journal id, line id): what CANCEL
    takes back (core.bench_commands.cancel)."""
    j = scan_journal
    opened = _last_opened(conn, station, order_id)
    if opened is None:
        return []
    undone = select(j.c.undoes_id).where(j.c.order_id == order_id, j.c.undoes_id.is_not(None))
    rows = conn.execute(
        select(j.c.id, j.c.line_id)
        .where(
            j.c.order_id == order_id,
            j.c.station == station,
            j.c.id > opened,
            j.c.ok.is_(True),
            j.c.delta > 0,
            j.c.line_id.is_not(None),
            j.c.id.not_in(undone),
        )
        .order_by(j.c.id)
    )
    return [(journal_id, line_id) for journal_id, line_id in rows]


def session_parcel_scans(conn: Connection, station: str, order_id: int) -> list[str]:
    """The parcel ids `station` put on `order_id`'s delivery since it last opened the order,
    as scanned (the journal's codes), oldest first: CANCEL takes them off again."""
    j = scan_journal
    opened = _last_opened(conn, station, order_id)
    if opened is None:
        return []
    rows = conn.execute(
        select(j.c.code)
        .where(
            j.c.order_id == order_id,
            j.c.station == station,
            j.c.id > opened,
            j.c.ok.is_(True),
            j.c.kind == "parcel",
        )
        .order_by(j.c.id)
    )
    return list(rows.scalars())


def orders_holding_item(conn: Connection, gtin: str, besides: int) -> dict[int, str]:
    """Other packing orders with `gtin` left to deliver, oldest first: order id → item name."""
    rows = conn.execute(
        select(order_lines.c.order_id, order_lines.c.name)
        .join(orders, orders.c.id == order_lines.c.order_id)
        .where(
            order_lines.c.gtin == gtin,
            order_lines.c.order_id != besides,
            order_lines.c.quantity > order_lines.c.delivered,
            orders.c.status == OrderStatus.PACKING.value,
        )
        .order_by(orders.c.placed_at, orders.c.id)
        .limit(ELSEWHERE_LIMIT)
    )
    return {order_id: name for order_id, name in rows}


def journaled_scans(
    conn: Connection, station: str, read_since: datetime
) -> set[tuple[str, datetime]]:
    """The scans the journal has of `station` read since `read_since`, as (source, read
    time): what the scan inbox knows a scan by."""
    rows = conn.execute(
        select(scan_journal.c.source, scan_journal.c.at).where(
            scan_journal.c.station == station, scan_journal.c.at >= read_since
        )
    )
    return {(source, at) for source, at in rows}


class ScanNotSaved(Exception):
    """A scan's transaction did not commit — the database was locked, busy, away, or its disk
    refused — so nothing of it was saved and it can be handled again as it is."""


@contextmanager
def scan_transaction(store: Store) -> Iterator[Connection]:
    """The transaction of one scan; `ScanNotSaved` when the database could not take it
    (`store.unavailable.database_unavailable`)."""
    try:
        with store.write() as conn:
            yield conn
    except Exception as err:
        if database_unavailable(err):
            raise ScanNotSaved(first_line(err)) from err
        raise


def at_bench_of(conn: Connection, order: Order | None, packing: Packing | None = None) -> AtBench:
    """What the bench shows of `order`: its packing record and the parcel ids kept for its next
    delivery, read together. `packing`: the record as this transaction has it, if the caller
    holds it already."""
    if order is None:
        return AtBench(None, None)
    kept = pending_parcel_ids(conn, [order.id])[order.id]
    if packing is None:
        packing = load_packing(conn, order.id)
    return AtBench(order, packing, tuple(kept))
