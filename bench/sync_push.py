"""Benchmark: how fast central applies pushed ops (issue 11: ≥ 300 ops/s with 8 benches).

Makes a scratch database on the PostgreSQL at --url (or STATIOND_TEST_PG_URL), migrated, with a
shop of packing orders, each bench's orders claimed by it; each bench gets a SQLite store with
the same shop and an outbox of ItemPacked ops on its orders under its claims (as the bench
writes them). Then, each run in fresh processes that import everything before the clock starts:

- per_op: --pushers (8) benches push their whole outbox at once, a central transaction per op
  (the baseline, measured in the same run on the same data);
- one, many: 1 and --pushers benches, --group (20) consecutive ops a transaction (as the push
  runs); central_ops_per_s = ops applied / (last bench done − first bench started);
- replay: one bench with a backlog of --backlog ops (1,000) pushes it all; replay_ops_per_s.

Every run checks what central holds against what was pushed (ops once, packed counts). The last
line is one JSON object: {"pushers", "group", "ops", "central_ops_per_s",
"one_pusher_ops_per_s", "per_op_transaction_ops_per_s", "replay_ops", "replay_ops_per_s",
"refused", "lost", "duplicated"}.

    python bench/sync_push.py [--url postgresql+psycopg://…] [--pushers 8] [--ops 500] [--group 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ORDERS_PER_BENCH = 20

_CHILD = """
import sys, time
from stationd.store.database import Store
from stationd.sync.push import Pusher
pusher = Pusher(Store(sys.argv[1]), sys.argv[2], timeout_s=30, group=int(sys.argv[3]))
with pusher.central.connect():  # connected before the clock starts, as a running bench is
    pass
print("ready", flush=True)
sys.stdin.readline()
start = time.monotonic()
done = pusher.push_all()
print(start, time.monotonic(), done.sent, done.refused, flush=True)
"""


def _shop(url: str, benches: int, *, claims: bool) -> None:
    from sqlalchemy import insert

    from stationd.store.database import Store
    from stationd.store.tables import order_claims, order_lines, orders, products, stock

    store = Store(url)
    store.upgrade()
    placed = datetime(2026, 11, 1, tzinfo=UTC)
    with store.write() as conn:
        conn.execute(insert(products).values(sku="SKU-1", name="Product", price_minor=100))
        conn.execute(insert(stock).values(sku="SKU-1", on_hand=10**6, reserved=10**6))
        ids = range(1000, 1000 + benches * ORDERS_PER_BENCH)
        conn.execute(
            insert(orders),
            [
                {"id": i, "status": "packing", "placed_at": placed, "customer_name": "Anna"}
                for i in ids
            ],
        )
        conn.execute(
            insert(order_lines),
            [
                {"id": i, "order_id": i, "sku": "SKU-1", "name": "Product", "quantity": 10**6}
                for i in ids
            ],
        )
        if not claims:  # a bench synced from its first day: all its events are pushed
            from stationd.store.outbox import start_pushing

            start_pushing(conn)
        if claims:
            until = datetime.now(UTC) + timedelta(hours=1)
            conn.execute(
                insert(order_claims),
                [
                    {
                        "order_id": i,
                        "station": f"bench-{(i - 1000) // ORDERS_PER_BENCH}",
                        "epoch": 1,
                        "lease_until": until,
                    }
                    for i in ids
                ],
            )
    store.dispose()


def _outbox(url: str, bench: int, ops: int) -> None:
    from sqlalchemy import update

    from stationd.core.audit import ItemPacked
    from stationd.store.audit import record_event
    from stationd.store.database import Store
    from stationd.store.tables import events

    store = Store(url)
    first = 1000 + bench * ORDERS_PER_BENCH
    with store.write() as conn:
        for n in range(ops):
            order = first + n % ORDERS_PER_BENCH
            record_event(
                conn,
                ItemPacked(order, "", "item"),  # each order has one line, of its own id
                station=f"bench-{bench}",
                order_id=order,
                operator_id=None,
            )
        conn.execute(update(events).values(epoch=1))
    store.dispose()


def _run(central: str, stations: list[str], group: int) -> tuple[float, int, int]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, s, central, str(group)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for s in stations
    ]
    for child in children:  # every child imported and connected before any starts
        if child.stdout.readline().strip() != "ready":
            raise SystemExit("a pusher did not start")
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode:
            raise SystemExit(f"a pusher failed ({child.returncode})")
        start, end, sent, refused = out.split()
        results.append((float(start), float(end), int(sent), int(refused)))
    wall = max(r[1] for r in results) - min(r[0] for r in results)
    return wall, sum(r[2] for r in results), sum(r[3] for r in results)


def _check(central: str, expected: int) -> tuple[int, int]:
    """(lost, duplicated): ops not applied and ops applied more than once, by central's rows."""
    from sqlalchemy import func, select

    from stationd.store.database import Store
    from stationd.store.tables import order_lines, sync_ops

    store = Store(central)
    with store.read() as conn:
        inbox = conn.execute(select(func.count()).select_from(sync_ops)).scalar_one()
        packed = conn.execute(select(func.sum(order_lines.c.packed))).scalar_one() or 0
    store.dispose()
    return max(0, expected - inbox) + max(0, expected - packed), max(0, packed - expected)


def _scenario(admin: str, folder: Path, benches: int, ops: int, group: int) -> dict[str, float]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"stationd_bench_push_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    central = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        _shop(central, benches, claims=True)
        template = folder / f"template-{uuid.uuid4().hex[:6]}.sqlite"
        _shop(f"sqlite:///{template}", benches, claims=False)
        stations = []
        for bench in range(benches):
            path = folder / f"bench-{uuid.uuid4().hex[:6]}-{bench}.sqlite"
            shutil.copy(template, path)
            _outbox(f"sqlite:///{path}", bench, ops)
            stations.append(f"sqlite:///{path}")
        wall, sent, refused = _run(central, stations, group)
        lost, duplicated = _check(central, benches * ops)
        return {
            "ops": sent,
            "refused": refused,
            "seconds": wall,
            "ops_per_s": sent / wall,
            "lost": lost,
            "duplicated": duplicated,
        }
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("STATIOND_TEST_PG_URL"))
    parser.add_argument("--pushers", type=int, default=8)
    parser.add_argument("--ops", type=int, default=500, help="ops per pusher")
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--group", type=int, default=20, help="ops a central transaction")
    args = parser.parse_args()
    if not args.url:
        raise SystemExit("name a PostgreSQL: --url or STATIOND_TEST_PG_URL")
    folder = Path(tempfile.mkdtemp(prefix="stationd-bench-push-"))
    runs = {}
    try:
        for label, benches, ops, group in (
            ("per_op", args.pushers, args.ops, 1),  # the baseline: a transaction per op
            ("one", 1, args.ops, args.group),
            ("many", args.pushers, args.ops, args.group),
            ("replay", 1, args.backlog, args.group),
        ):
            run = runs[label] = _scenario(args.url, folder, benches, ops, group)
            print(
                f"{label}: {benches} pusher(s), {ops} ops each, {group} op(s) a transaction: "
                f"{run['ops']} ops in {run['seconds']:.2f} s = {run['ops_per_s']:.0f}/s"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        json.dumps(
            {
                "pushers": args.pushers,
                "group": args.group,
                "ops": runs["many"]["ops"],
                "central_ops_per_s": round(runs["many"]["ops_per_s"], 1),
                "one_pusher_ops_per_s": round(runs["one"]["ops_per_s"], 1),
                "per_op_transaction_ops_per_s": round(runs["per_op"]["ops_per_s"], 1),
                "replay_ops": runs["replay"]["ops"],
                "replay_ops_per_s": round(runs["replay"]["ops_per_s"], 1),
                "refused": sum(r["refused"] for r in runs.values()),
                "lost": sum(r["lost"] for r in runs.values()),
                "duplicated": sum(r["duplicated"] for r in runs.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
