"""Benchmark: pull (issue 11, docs/sync.md) — a full resync of a 100,000-order central into a
fresh station copy, and the lag from a commit at central to the copy.

Builds the shop with `stationd.demo` (the pack-script benchmark's shape: 100,000 open orders,
≈300,000 lines, 20,000 SKUs) into the central database given by `--url` (a scratch PostgreSQL
database: the benchmark refuses one that holds orders, and empties its stationd tables when
done), then:

- full resync: `pull_once` into a new SQLite copy (migrated, empty), timed end to end: the
  snapshot, the images in batches, a local transaction per batch, the cursor saved;
- lag: a `PullWorker` follows central (woken by NOTIFY, polling every 5 s); `--samples` times
  one order's comment is changed at central and the time from that commit's return to the copy
  showing it is taken (the copy read every millisecond).

The window of a pull ends at the oldest transaction still writing anywhere on central's
cluster, so other sessions writing on that server (other benchmarks) add to the lag: run it on
a quiet one to measure pull alone. The last line of the output is one JSON object:
{"orders", "lines", "full_resync_s", "orders_per_s", "copy_mb", "lag_p50_ms", "lag_p99_ms",
"samples"}.

    python bench/sync_pull.py --url postgresql+psycopg://…/scratch [--orders N] [--samples N]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from percentiles import percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a scratch PostgreSQL database (central)")
    parser.add_argument("--orders", type=int, default=100_000, help="open orders (100000)")
    parser.add_argument("--samples", type=int, default=200, help="lag samples (200)")
    args = parser.parse_args()

    from sqlalchemy import func, select, text, update

    from stationd.demo import ShopShape, build_shop, insert_shop
    from stationd.store.central_link import central_engine
    from stationd.store.database import Store
    from stationd.store.tables import metadata, order_lines, orders
    from stationd.sync.pull import PullWorker, pull_once

    central = Store(args.url)
    central.upgrade()
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with central.read() as conn:
        held = conn.execute(select(func.count()).select_from(orders)).scalar_one()
    if held:
        raise SystemExit(f"{args.url}: the database holds {held} orders; give a scratch database")
    print(f"building {args.orders} orders at central …", flush=True)
    shape = ShopShape(
        products=max(1, args.orders // 5),
        orders=args.orders,
        seed=7,
        lines_min=1,
        lines_max=5,
        unpaid_share=0.05,
        preorder_share=0.0,
        scarce_share=0.057,
        now=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    )
    shop = build_shop(shape)
    insert_shop(central, shop)
    try:
        with tempfile.TemporaryDirectory(prefix="sync-pull-") as folder:
            path = Path(folder) / "copy.sqlite"
            copy = Store(f"sqlite:///{path}")
            copy.upgrade()
            engine = central_engine(args.url, timeout_s=5, server_timeouts=False)
            started = time.perf_counter()
            result = pull_once(copy, engine)
            full_s = time.perf_counter() - started
            with copy.read() as conn:
                copied = conn.execute(select(func.count()).select_from(orders)).scalar_one()
                lines = conn.execute(select(func.count()).select_from(order_lines)).scalar_one()
            assert result.full and copied == len(shop.orders) and lines == len(shop.lines)
            copy_mb = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
            print(
                f"full resync: {copied} orders, {lines} lines in {full_s:.2f} s "
                f"({copied / full_s:.0f} orders/s); the copy {copy_mb:.0f} MB",
                flush=True,
            )

            worker = PullWorker(copy, args.url, poll_interval_s=5.0)
            worker.start()
            while worker.pulls < 1:
                time.sleep(0.01)
            rnd = random.Random(7)
            ids = [o["id"] for o in shop.orders]
            lags: list[float] = []
            for n in range(args.samples):
                order_id = rnd.choice(ids)
                mark = f"lag {n}"
                with central.write() as conn:
                    conn.execute(update(orders).where(orders.c.id == order_id).values(comment=mark))
                committed = time.perf_counter()
                query = select(orders.c.comment).where(orders.c.id == order_id)
                while True:
                    with copy.read() as conn:
                        if conn.execute(query).scalar() == mark:
                            break
                    time.sleep(0.001)
                lags.append((time.perf_counter() - committed) * 1000)
                time.sleep(rnd.uniform(0.0, 0.05))
            worker.stop()
            engine.dispose()
            copy.dispose()
    finally:
        with central.write() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(text("TRUNCATE sync_changes"))
        central.dispose()
    p50, p99 = percentile(lags, 50), percentile(lags, 99)
    print(f"lag commit → copy over {len(lags)} changes: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(
        json.dumps(
            {
                "orders": copied,
                "lines": lines,
                "full_resync_s": round(full_s, 3),
                "orders_per_s": round(copied / full_s),
                "copy_mb": round(copy_mb, 1),
                "lag_p50_ms": round(p50, 1),
                "lag_p99_ms": round(p99, 1),
                "samples": len(lags),
            }
        )
    )


if __name__ == "__main__":
    main()
