"""The ship-out list's queries at ~85k packing orders (issue 10 item 13), on SQLite and PostgreSQL.

A shop of `--orders` packing orders (two lines each, nothing packed) and `--packed` of them with
items packed and not delivered. Timed, each `--repeat` times (median and max, ms):

- ready_to_ship: the page's first 20 orders; count_ready_to_ship; ready_to_ship_mark (run every
  2 s per open ship-out page);
- before: the same three as they were before this change (every packing order's lines read:
  EXISTS per order, the mark's sums over all packing orders' lines), on the same database with
  ix_order_lines_packed dropped (and the statistics taken again), as the code before had it.

Both must list the same orders. PostgreSQL from STATIOND_TEST_PG_URL (a database made and dropped
here). The last line is one JSON object.

    STATIOND_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/shipout_list.py [--orders 85308] [--packed 40]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, exists, func, insert, select, text
from sqlalchemy.engine import Connection, make_url

from stationd.core.orders import OrderStatus
from stationd.store.database import Store
from stationd.store.deliveries import count_ready_to_ship, ready_to_ship, ready_to_ship_mark
from stationd.store.tables import deliveries, order_lines, orders, parcel_ids, products

BATCH = 5000


def build(store: Store, n_orders: int, n_packed: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with store.write() as conn:
        conn.execute(insert(products).values(sku="A", name="A", location="A-01"))
        conn.execute(insert(products).values(sku="B", name="B", location="A-02"))
    packed_every = max(1, n_orders // max(1, n_packed))
    for first in range(1, n_orders + 1, BATCH):
        ids = range(first, min(first + BATCH, n_orders + 1))
        with store.write() as conn:
            conn.execute(
                insert(orders),
                [
                    {
                        "id": i,
                        "status": OrderStatus.PACKING.value,
                        "placed_at": start + timedelta(minutes=i),
                        "customer_name": f"Kund {i}",
                        "customer_key": f"kund {i}",
                        "paid": True,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(order_lines),
                [
                    {
                        "order_id": i,
                        "position": pos,
                        "sku": sku,
                        "name": sku,
                        "quantity": 2,
                        "packed": 1 if pos == 0 and i % packed_every == 0 else 0,
                    }
                    for i in ids
                    for pos, sku in enumerate(("A", "B"))
                ],
            )


def _before_ready() -> tuple:
    packed = exists().where(order_lines.c.order_id == orders.c.id, order_lines.c.packed > 0)
    return (orders.c.status == OrderStatus.PACKING.value, orders.c.waiting.is_(False), packed)


def before_ready_to_ship(conn: Connection) -> list[int]:
    query = select(orders.c.id).where(*_before_ready()).order_by(orders.c.placed_at, orders.c.id)
    return list(conn.execute(query.limit(20)).scalars())


def before_count(conn: Connection) -> int:
    return conn.execute(
        select(func.count()).select_from(orders).where(*_before_ready())
    ).scalar_one()


def before_mark(conn: Connection) -> tuple[object, ...]:
    listed = conn.execute(
        select(func.count(), func.sum(orders.c.id), func.max(orders.c.updated_at)).where(
            *_before_ready()
        )
    ).one()
    packed = conn.execute(
        select(func.sum(order_lines.c.packed), func.sum(order_lines.c.delivered))
        .join(orders, orders.c.id == order_lines.c.order_id)
        .where(orders.c.status == OrderStatus.PACKING.value)
    ).one()
    kept = conn.execute(
        select(func.count(), func.max(parcel_ids.c.id))
        .select_from(deliveries)
        .join(parcel_ids, parcel_ids.c.delivery_id == deliveries.c.id)
        .where(deliveries.c.reported_at.is_(None))
    ).one()
    return (*listed, *packed, *kept)


def timed(store: Store, run: Callable[[Connection], object], repeat: int) -> dict[str, float]:
    took = []
    for _ in range(repeat):
        with store.read() as conn:
            start = time.perf_counter()
            run(conn)
            took.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(took), 2), "max_ms": round(max(took), 2)}


def analyze(store: Store) -> None:
    with store.write() as conn:
        conn.execute(text("ANALYZE"))


def measure(store: Store, repeat: int) -> dict[str, object]:
    analyze(store)
    with store.read() as conn:
        listed = ready_to_ship(conn)
    after = {
        "ready_to_ship": timed(store, lambda c: ready_to_ship(c), repeat),
        "count_ready_to_ship": timed(store, count_ready_to_ship, repeat),
        "ready_to_ship_mark": timed(store, ready_to_ship_mark, repeat),
    }
    with store.write() as conn:
        conn.execute(text("DROP INDEX ix_order_lines_packed"))
    analyze(store)
    with store.read() as conn:
        same = before_ready_to_ship(conn) == listed
    before = {
        "ready_to_ship": timed(store, before_ready_to_ship, repeat),
        "count_ready_to_ship": timed(store, before_count, repeat),
        "ready_to_ship_mark": timed(store, before_mark, repeat),
    }
    return {"before": before, "after": after, "same_list": same}


def built_and_measured(url: str, n_orders: int, n_packed: int, repeat: int) -> dict[str, object]:
    store = Store(url)
    try:
        store.upgrade()
        build(store, n_orders, n_packed)
        return measure(store, repeat)
    finally:
        store.dispose()


def on_sqlite(n_orders: int, n_packed: int, repeat: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="stationd-shipout-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'stationd.sqlite'}"
        return built_and_measured(url, n_orders, n_packed, repeat)


def on_postgresql(url: str, n_orders: int, n_packed: int, repeat: int) -> dict[str, object]:
    name = f"stationd_shipout_bench_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        own = make_url(url).set(database=name).render_as_string(hide_password=False)
        return built_and_measured(own, n_orders, n_packed, repeat)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=85_308)
    parser.add_argument("--packed", type=int, default=40, help="orders with items packed")
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()
    out: dict[str, object] = {"orders": args.orders, "packed": args.packed}
    out["sqlite"] = on_sqlite(args.orders, args.packed, args.repeat)
    url = os.environ.get("STATIOND_TEST_PG_URL")
    if url:
        out["postgresql"] = on_postgresql(url, args.orders, args.packed, args.repeat)
    for engine in ("sqlite", "postgresql"):
        if engine in out:
            print(engine)
            for when in ("before", "after"):
                for query, figures in out[engine][when].items():  # type: ignore[index]
                    print(f"  {when:>6} {query:>20}: {figures}")
            print(f"  same list: {out[engine]['same_list']}")  # type: ignore[index]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
