"""Benchmark: what central's change feed (migration 0006) costs the pack script's big UPDATE.

Builds the pack-script benchmark's shop (100,000 open orders) in a scratch PostgreSQL database
(`--url`; refused if it holds orders, emptied when done), then times, `--rounds` times and in
turn, the pack script's own `UPDATE orders … FROM unnest(…)` moving 85,000 orders to packing
and its stock UPDATE, three ways:

- `kept`: as the pack script should run it — inside `store.change_feed.feed_kept`, which
  writes one feed row with the moved ids and makes `orders`' row trigger skip;
- `rows`: the feed's triggers on and nothing kept: the row trigger writes a feed row per order;
- `off`: the feed's triggers off (as before 0006), switched off inside the transaction
  (`ALTER TABLE … DISABLE TRIGGER USER`), so nothing else ever sees them off.

Each try is a transaction that is rolled back and then vacuumed away, so every try starts from
the same rows; the time is the two statements' with their AFTER triggers (which run at each
statement's end) and, for `kept`, the feed's own row. The last line is one JSON object:
{"orders_moved", "kept_s", "rows_s", "off_s", "kept_cost_s", "wal_mb_kept", "wal_mb_rows",
"wal_mb_off", "feed_rows_kept", "feed_rows_rows"} (medians). The WAL each way writes is the
figure a busy machine does not blur.

    python bench/change_feed_cost.py --url postgresql+psycopg://…/scratch [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime

FEED_TABLES = ("products", "stock", "own_statuses", "orders", "order_lines", "order_claims")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a scratch PostgreSQL database")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from sqlalchemy import func, select, text

    from stationd.demo import ShopShape, build_shop, insert_shop
    from stationd.store.change_feed import feed_kept
    from stationd.store.database import Store
    from stationd.store.tables import metadata, orders

    store = Store(args.url)
    store.upgrade()
    with store.read() as conn:
        held = conn.execute(select(func.count()).select_from(orders)).scalar_one()
    if held:
        raise SystemExit(f"{args.url}: the database holds {held} orders; give a scratch database")
    shop = build_shop(
        ShopShape(
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
    )
    insert_shop(store, shop)
    rnd = random.Random(7)
    moved = sorted(o["id"] for o in shop.orders if rnd.random() < 0.85)
    skus = [p["sku"] for p in shop.products]
    modes = ("kept", "rows", "off")
    timings: dict[str, list[float]] = {mode: [] for mode in modes}
    feed_rows: dict[str, int] = {}
    wal: dict[str, list[int]] = {mode: [] for mode in modes}
    orders_sql = (
        "UPDATE orders o SET status = 'packing', updated_at = now(), "
        "packscript_run_id = 1 FROM unnest(%s::bigint[]) AS m(id) "
        "WHERE o.id = m.id AND o.status = 'order'"
    )
    stock_sql = (
        "UPDATE stock SET reserved = stock.reserved + r.qty "
        "FROM unnest(%s::text[], %s::int[]) AS r(sku, qty) WHERE stock.sku = r.sku"
    )

    try:
        vacuum = store.engine.execution_options(isolation_level="AUTOCOMMIT")
        for _ in range(args.rounds):
            for mode in modes:
                # Each try starts from a table without the last one's dead rows, right after a
                # checkpoint: each writes a full image of every page it touches first, alike.
                with vacuum.connect() as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE orders, stock, sync_changes")
                    conn.exec_driver_sql("CHECKPOINT")
                with store.engine.connect() as conn, conn.begin() as tx:
                    cur = conn.connection.dbapi_connection.cursor()
                    if mode == "off":
                        for table in FEED_TABLES:
                            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                    cur.execute("SELECT count(*), pg_current_wal_insert_lsn() FROM sync_changes")
                    before, lsn = cur.fetchone()
                    started = time.perf_counter()
                    if mode == "kept":
                        with feed_kept(conn, "order", moved):
                            cur.execute(orders_sql, (moved,))
                    else:
                        cur.execute(orders_sql, (moved,))
                    cur.execute(stock_sql, (skus, [1] * len(skus)))
                    # AFTER triggers run at the statement's end: inside this time.
                    timings[mode].append(time.perf_counter() - started)
                    # What the machine's load does not change: the WAL the try wrote.
                    cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (lsn,))
                    wal[mode].append(int(cur.fetchone()[0]))
                    cur.execute("SELECT count(*) FROM sync_changes")
                    feed_rows[mode] = cur.fetchone()[0] - before
                    tx.rollback()
            print(", ".join(f"{mode} {timings[mode][-1]:.3f} s" for mode in modes), flush=True)
    finally:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with store.write() as conn:
            conn.execute(text(f"TRUNCATE {names}, sync_changes RESTART IDENTITY CASCADE"))
        store.dispose()
    median = {mode: statistics.median(timings[mode]) for mode in modes}
    print(
        json.dumps(
            {
                "orders_moved": len(moved),
                "kept_s": round(median["kept"], 3),
                "rows_s": round(median["rows"], 3),
                "off_s": round(median["off"], 3),
                "kept_cost_s": round(median["kept"] - median["off"], 3),
                **{f"wal_mb_{m}": round(statistics.median(wal[m]) / 2**20, 2) for m in modes},
                "feed_rows_kept": feed_rows["kept"],
                "feed_rows_rows": feed_rows["rows"],
            }
        )
    )


if __name__ == "__main__":
    main()
