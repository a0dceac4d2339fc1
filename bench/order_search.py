"""Benchmark: the order search (R4) in the store, on SQLite or PostgreSQL alike.

Builds a shop with `stationd.demo` (default 100,000 orders over a year) into a SQLite file, or
into a scratch PostgreSQL database with `--url`; runs the pack script over it, ships the
packing orders older than a fortnight, sets a few waiting and own statuses. Then it times
`store.search.search_orders` itself (no Flask: the database's part), over seeded queries in
groups: `text` (names, e-mails, pieces of them, misses), `status` (each status alone, a later
page now and then) and `status_text` (a status with a piece of a name). It prints p50 / p95
per group, and as the last line one JSON object:
{"engine", "orders", "text_p95_ms", "status_p95_ms", "status_text_p95_ms", "pages"};
`pages` is a digest of every page's order ids, the same for the same data whatever the code.

    python bench/order_search.py [--orders N] [--url postgresql+psycopg://…/scratch]

`--url` must name a scratch database: the benchmark refuses one that holds orders, and
empties its stationd tables when done.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from percentiles import percentile
from sqlalchemy import func, select, text, update

from stationd.core.search import parse_query
from stationd.demo import ShopShape, build_shop, insert_shop
from stationd.services.packscript_run import run_once
from stationd.store.database import Store
from stationd.store.search import search_orders
from stationd.store.tables import metadata, orders, own_statuses

SEED = 13
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def build(store: Store, n_orders: int) -> dict[str, int]:
    """A shop as it stands after a year: most orders shipped, some packing, a few waiting."""
    store.upgrade()
    with store.read() as conn:
        if conn.execute(select(func.count()).select_from(orders)).scalar_one():
            raise SystemExit(f"{store.engine.url}: the database holds orders; give a scratch one")
    shape = ShopShape(products=max(10, n_orders // 50), orders=n_orders, seed=SEED, now=NOW)
    insert_shop(store, build_shop(shape))
    run_once(store, station="bench", trigger="bench")
    with store.write() as conn:
        conn.execute(
            own_statuses.insert(),
            [{"code": c, "name": c.title()} for c in ("BACKORDER", "GIFT", "VIP")],
        )
        packing = orders.c.status == "packing"
        conn.execute(
            update(orders)
            .where(packing, orders.c.placed_at < NOW - timedelta(days=14))
            .values(status="shipped")
        )
        conn.execute(update(orders).where(packing, orders.c.id % 15 == 0).values(waiting=True))
        conn.execute(update(orders).where(orders.c.id % 20 == 3).values(own_status_id=2))
    if not store.is_sqlite:
        with store.write() as conn:
            conn.execute(text("ANALYZE"))
    with store.read() as conn:
        return dict(
            conn.execute(select(orders.c.status, func.count()).group_by(orders.c.status)).all()
        )


def queries(store: Store, rnd: random.Random, n: int) -> dict[str, list[dict[str, str]]]:
    with store.read() as conn:
        people = conn.execute(
            select(orders.c.id, orders.c.customer_name, orders.c.customer_email)
            .where(orders.c.customer_name != "")
            .order_by(orders.c.id)
        ).all()
        newest = conn.execute(select(func.max(orders.c.id))).scalar_one()
    people = rnd.sample(people, min(400, len(people)))

    def piece() -> str:
        _, name, email = rnd.choice(people)
        first, _, last = name.partition(" ")
        pieces = [name, last, first.lower(), email, email.split("@")[0], last[:-2]]
        misses = ["Zlatan Ibrahimović", "nobody@nowhere.example"]
        found = rnd.choice([*pieces, *misses])
        return found if len(found) >= 3 else name

    def status() -> dict[str, str]:
        found = {"status": rnd.choice(["preorder", "order", "packing", "shipped"])}
        if rnd.random() < 0.3:
            found["after"] = str(rnd.randint(newest // 2, newest))
        return found

    return {
        "text": [{"q": piece()} for _ in range(n)],
        "status": [status() for _ in range(n)],
        "status_text": [{**status(), "q": piece()} for _ in range(n)],
    }


def measure(store: Store, groups: dict[str, list[dict[str, str]]]) -> tuple[dict, str]:
    digest = hashlib.sha256()
    figures: dict[str, Any] = {}
    for name, asked in groups.items():
        times = []
        for criteria in asked[:10] + asked:  # the first ten again: warm the caches
            query = parse_query(criteria)
            with store.read() as conn:
                start = time.perf_counter()
                found = search_orders(conn, query)
                times.append((time.perf_counter() - start) * 1000)
            digest.update(json.dumps([r.id for r in found.rows]).encode())
        times = times[10:]
        figures[name] = {
            "p50_ms": round(percentile(times, 50), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "max_ms": round(max(times), 2),
        }
    return figures, digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders in the shop")
    parser.add_argument("--queries", type=int, default=200, help="queries per group")
    parser.add_argument("--url", help="a scratch PostgreSQL database instead of SQLite")
    args = parser.parse_args()
    workdir = tempfile.TemporaryDirectory(prefix="bench-search-")
    store = Store(args.url or f"sqlite:///{Path(workdir.name) / 'shop.db'}")
    try:
        started = time.perf_counter()
        counts = build(store, args.orders)
        print(
            f"data: {counts} on {store.engine.dialect.name}; built in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        figures, pages = measure(store, queries(store, random.Random(SEED), args.queries))
        for name, f in figures.items():
            print(
                f"  {name:<12} p50 {f['p50_ms']:7.2f} ms  p95 {f['p95_ms']:7.2f} ms  "
                f"max {f['max_ms']:7.2f} ms"
            )
    finally:
        if not store.is_sqlite:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            with store.write() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        store.dispose()
        workdir.cleanup()
    print(
        json.dumps(
            {
                "engine": store.engine.dialect.name,
                "orders": sum(counts.values()),
                **{f"{name}_p95_ms": f["p95_ms"] for name, f in figures.items()},
                "pages": pages,
            }
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
