"""Benchmark: `stationd import orders` of 100,000 orders into SQLite, twice (issue 13 §1).

Builds a shop with `stationd.demo` (same seed every run: 100,000 orders of 1–5 lines), writes
its orders as the README's JSON Lines file, then imports that file into a fresh, migrated
SQLite database twice with the import's own code (`services.intake.import_orders`, as the CLI
calls it), timing each run (wall clock and this process's CPU). The second run must change
nothing: its summary is printed, and the database's orders and lines are counted and hashed
after each run to show it. The last line is one JSON object:
{"orders", "file_mb", "first_s", "first_cpu_s", "second_s", "second_cpu_s", "second_summary",
"unchanged_db"}.

    python bench/import_orders.py [--orders N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

SEED = 7


def write_file(path: Path, orders: int) -> None:
    from stationd.demo import ShopShape, build_shop

    shop = build_shop(ShopShape(products=max(1, orders // 5), orders=orders, seed=SEED))
    lines: dict[int, list[dict]] = {}
    for line in shop.lines:
        lines.setdefault(line["order_id"], []).append(
            {
                "sku": line["sku"],
                "ean": line["gtin"][1:],
                "name": line["name"],
                "quantity": line["quantity"],
                "price": f"{line['unit_price_minor'] / 100:.2f}",
                "vat_rate": "25",
            }
        )
    with path.open("w", encoding="utf-8") as out:
        for order in shop.orders:
            record = {
                "ref": f"WEB-{order['id']}",
                "placed_at": order["placed_at"].isoformat(),
                "status": order["status"],
                "customer_name": order["customer_name"],
                "customer_email": order["customer_email"],
                "street": order["street"],
                "postcode": order["postcode"],
                "city": order["city"],
                "country": order["country"],
                "currency": order["currency"],
                "payment_method": order["payment_method"].value,
                "paid": order["paid"],
                "comment": order["comment"],
                "lines": lines[order["id"]],
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def database_digest(store) -> str:  # type: ignore[no-untyped-def]
    """A hash of every order and line row: equal before and after a run that changed nothing."""
    from sqlalchemy import select

    from stationd.store.tables import order_lines, orders

    digest = hashlib.sha256()
    with store.read() as conn:
        for table in (orders, order_lines):
            for row in conn.execute(select(table).order_by(table.c.id)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def run(store, path: Path):  # type: ignore[no-untyped-def]
    from stationd.core.intake_formats import read_records
    from stationd.services.intake import import_orders

    wall, cpu = time.perf_counter(), time.process_time()
    with path.open(encoding="utf-8") as lines:
        summary = import_orders(store, "shop", read_records("orders", "jsonl", lines))
    return summary, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--keep", help="a folder to keep the file and database in")
    args = parser.parse_args()

    from stationd.store.database import Store

    folder = Path(args.keep or tempfile.mkdtemp(prefix="stationd-import-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "orders.jsonl"
    started = time.perf_counter()
    write_file(path, args.orders)
    print(
        f"file: {path} ({path.stat().st_size / 1e6:.1f} MB), {time.perf_counter() - started:.1f} s"
    )
    database = folder / "stationd.sqlite"
    database.unlink(missing_ok=True)
    store = Store(f"sqlite:///{database}")
    store.upgrade()
    first, first_s, first_cpu = run(store, path)
    print(f"first run:  {first_s:.1f} s ({first_cpu:.1f} s CPU): {first.headline()}")
    before = database_digest(store)
    second, second_s, second_cpu = run(store, path)
    print(f"second run: {second_s:.1f} s ({second_cpu:.1f} s CPU): {second.headline()}")
    unchanged = database_digest(store) == before
    print(f"orders and lines after the second run as after the first: {unchanged}")
    store.dispose()
    print(
        json.dumps(
            {
                "orders": args.orders,
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "first_s": round(first_s, 2),
                "first_cpu_s": round(first_cpu, 2),
                "second_s": round(second_s, 2),
                "second_cpu_s": round(second_cpu, 2),
                "second_summary": {
                    "new": second.new,
                    "updated": second.updated,
                    "unchanged": second.unchanged,
                    "refused": len(second.refused),
                },
                "unchanged_db": unchanged,
            }
        )
    )
    if first.refused or second.new or second.updated or not unchanged:
        sys.exit(1)


if __name__ == "__main__":
    main()
