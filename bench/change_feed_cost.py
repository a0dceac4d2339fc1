"""Benchmark: what central's change feed (migration 0006) costs the pack script's big UPDATE.

Builds the pack-script benchmark's shop (100,000 open orders) in a scratch PostgreSQL database
(`--url`; refused if it holds orders, emptied when done), then times, `--rounds` times and
alternating, the pack script's own `UPDATE orders … FROM unnest(…)` moving 85,000 orders to
packing and its stock UPDATE — once with the feed's triggers on, once with them off (as before
0006) — each in a transaction that is rolled back and then vacuumed away, so every try
starts from the same rows. Each runs under EXPLAIN ANALYZE, which times the feed's
triggers inside the statement: their share is measured where the noise of a shared machine
is the same for both.
The triggers are switched within the transaction (`ALTER TABLE … DISABLE TRIGGER USER`), so
nothing else ever sees them off. The last line is one JSON object: {"orders_moved",
"with_feed_s", "without_feed_s", "trigger_s", "trigger_share", "feed_rows", "feed_keys"}
(times are medians).

    python bench/change_feed_cost.py --url postgresql+psycopg://…/scratch [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
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
    timings: dict[bool, list[float]] = {True: [], False: []}
    trigger_s: list[float] = []
    feed_rows = feed_keys = 0
    statements = (
        (
            "UPDATE orders o SET status = 'packing', updated_at = now(), "
            "packscript_run_id = 1 FROM unnest(%s::bigint[]) AS m(id) "
            "WHERE o.id = m.id AND o.status = 'order'",
            (moved,),
        ),
        (
            "UPDATE stock SET reserved = stock.reserved + r.qty "
            "FROM unnest(%s::text[], %s::int[]) AS r(sku, qty) WHERE stock.sku = r.sku",
            (skus, [1] * len(skus)),
        ),
    )
    try:
        vacuum = store.engine.execution_options(isolation_level="AUTOCOMMIT")
        for _ in range(args.rounds):
            for with_feed in (True, False):
                # Each try starts from a table without the last one's dead rows.
                with vacuum.connect() as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE orders, stock, sync_changes")
                with store.engine.connect() as conn, conn.begin() as tx:
                    cur = conn.connection.dbapi_connection.cursor()
                    if not with_feed:
                        for table in FEED_TABLES:
                            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                    cur.execute(
                        "SELECT count(*), coalesce(sum(cardinality(entity_ids)), 0) "
                        "FROM sync_changes"
                    )
                    before, before_keys = cur.fetchone()
                    spent = triggers = 0.0
                    for sql, params in statements:
                        # EXPLAIN ANALYZE runs the statement and times its triggers apart:
                        # the feed's share, measured inside the one statement.
                        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                        plan = cur.fetchone()[0][0]
                        spent += plan["Execution Time"] / 1000
                        for trigger in plan.get("Triggers", []):
                            if trigger["Trigger Name"].startswith("sync_changes"):
                                triggers += trigger["Time"] / 1000
                    timings[with_feed].append(spent)
                    if with_feed:
                        trigger_s.append(triggers)
                        cur.execute(
                            "SELECT count(*), sum(cardinality(entity_ids)) FROM sync_changes"
                        )
                        rows, keys = cur.fetchone()
                        feed_rows, feed_keys = rows - before, keys - before_keys
                    tx.rollback()
            print(
                f"with the feed {timings[True][-1]:.3f} s (its triggers {trigger_s[-1]:.3f} s), "
                f"without {timings[False][-1]:.3f} s",
                flush=True,
            )
    finally:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with store.write() as conn:
            conn.execute(text(f"TRUNCATE {names}, sync_changes RESTART IDENTITY CASCADE"))
        store.dispose()
    with_s, without_s = statistics.median(timings[True]), statistics.median(timings[False])
    feed_s = statistics.median(trigger_s)
    print(
        json.dumps(
            {
                "orders_moved": len(moved),
                "with_feed_s": round(with_s, 3),
                "without_feed_s": round(without_s, 3),
                "trigger_s": round(feed_s, 3),
                "trigger_share": round(feed_s / with_s, 3),
                "feed_rows": feed_rows,
                "feed_keys": feed_keys,
            }
        )
    )


if __name__ == "__main__":
    main()
