"""Benchmark: the pack script over 100,000 open orders, against the obvious ORM way.

Builds a shop with `stationd.demo` (100,000 open orders, ≈300,000 lines, 20,000 SKUs, stock short
for about 10 % of the orders, about 5 % unpaid) into a SQLite file, copies the file so that both
runs start from the same data, and times, each in a fresh process:

- the pack script: `run_once(store, station="bench", trigger="bench")`, end to end (lock,
  load, decide, write, record the run with its trace, commit), with the time of each phase;
- the baseline, written the obvious way: SQLAlchemy ORM classes over the same tables, one
  Session; per order, oldest first: query its lines, check stock row by row with
  `session.get(Stock, sku)`, update the order and the stock, add an audit event;
  commit at the end.

Then it checks that both moved the same orders and reserved the same stock. The last line of
the output is one JSON object:
{"orders", "seconds", "baseline_seconds", "speedup", "same_decisions", "peak_rss_mb",
"child_peak_rss_mb", "server_cpu_s", "client_cpu_s", "child_cpu_s"}; `client_cpu_s` is the
processor time of the process that ran it, `child_cpu_s` its decide's child's (`--in-child`).
`peak_rss_mb` is the peak resident memory of the process that ran the pack script. (The
parent stays small and builds nothing itself: Linux carries a parent's peak RSS over into the
`ru_maxrss` of a child it starts.)

    python bench/packscript.py [--orders N] [--url postgresql+psycopg://…/scratch] [--profile]
                               [--no-baseline] [--in-child [--cold-child]]

`--in-child` reads and decides in a child process, the way `serve` runs it
(`services.packscript_child`): on SQLite the moves are streamed back and written here; on
PostgreSQL the child writes them itself. The child is started ahead and waits ready, as `serve`
keeps one when it runs central's pack script on a schedule (`ReadyChild`); `--cold-child`
starts it with the run instead, as a run by hand elsewhere does (~0.4 s more).

`--url` runs against that PostgreSQL database instead: it must be a scratch database (the
benchmark refuses one that holds orders, and empties its stationd tables when done); the data is
rebuilt from the same seed for each run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SEED = 7
SCARCE_SKU_SHARE = 0.057  # share of SKUs stocked at 30 % of demand: ≈10 % of orders short
#: `--in-child`: how long the child started ahead has for its imports before the run (serve's
#: has the minutes between two runs).
READY_AFTER_S = 2.0


# -- the children: build, pack script, baseline ---------------------------------------------


def build(orders: int, targets: list[str], *, scratch_check: bool) -> dict[str, Any]:
    """Build the shop (same seed, same data every time) and write it into each target."""
    from datetime import UTC, datetime

    from stationd.demo import ShopShape, build_shop

    started = time.perf_counter()
    shape = ShopShape(
        products=max(1, orders // 5),
        orders=orders,
        seed=SEED,
        lines_min=1,
        lines_max=5,
        unpaid_share=0.05,
        preorder_share=0.0,  # every order open: the pack script looks at all of them
        scarce_share=SCARCE_SKU_SHARE,
        now=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    )
    shop = build_shop(shape)
    first, *copies = targets
    if scratch_check:
        _refuse_unless_scratch(first)
    _fill(first, shop)
    if first.startswith("sqlite:///"):
        import sqlite3

        source = first.removeprefix("sqlite:///")
        with sqlite3.connect(source) as db:  # fold the WAL in: one file to copy
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for copy in copies:
            shutil.copyfile(source, copy.removeprefix("sqlite:///"))
    return {
        "orders": len(shop.orders),
        "lines": len(shop.lines),
        "skus": len(shop.products),
        "unpaid": sum(not o["paid"] for o in shop.orders),
        "seconds": time.perf_counter() - started,
    }


def run_packscript(
    url: str, profile: bool, in_child: bool = False, cold_child: bool = False
) -> dict[str, Any]:
    """The pack script end to end, with the time of each phase (`in_child`: read and decided
    in a child process, as `serve` runs it; its peak RSS is reported on its own)."""
    import stationd.services.packscript_central_writer as central_writer
    import stationd.services.packscript_child as packscript_child
    import stationd.services.packscript_run as packscript_run
    import stationd.store.packscript as pack_store
    import stationd.store.packscript_chunks as pack_chunks
    from stationd.store.database import Store

    phases: dict[str, float] = {}

    def timed(module: Any, name: str, phase: str) -> None:
        fn = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[phase] = phases.get(phase, 0.0) + time.perf_counter() - start

        setattr(module, name, wrapper)

    here = (
        [(packscript_run, "_decide", "read and decide (child)")]
        if in_child
        else [
            (pack_store, "load_candidates", "load"),
            (pack_store, "load_available", "load"),
            (packscript_run, "run_pack_script", "decide"),
        ]
    )
    # PostgreSQL writes while it decides, on a thread (`CentralWriter`), unless in a child:
    # there "write" is what is left to write after the decide.
    # In a child on PostgreSQL the child writes while it decides; "write" is then what is
    # left to write after its decide, and the commit (`DecideInChild.commit`).
    writes = (
        [(central_writer.CentralWriter, "wait", "write")]
        if not url.startswith("sqlite") and not in_child
        else [
            (packscript_child.DecideInChild, "commit", "write"),
            (pack_chunks, "move_orders", "write"),
            (pack_chunks, "record_moves", "write"),
        ]
    )
    for module, name, phase in (
        *here,
        *writes,
        (pack_store, "encode_trace", "record trace"),
    ):
        timed(module, name, phase)
    store = Store(url)
    ready = None
    if in_child and not cold_child:  # started ahead, as serve keeps it: waits with its imports
        ready = packscript_child.ReadyChild()
        ready.prepare()
        time.sleep(READY_AFTER_S)
    server = _ServerCpu(store)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start, start_cpu = time.perf_counter(), time.process_time()
    _run_id, result = packscript_run.run_once(
        store, station="bench", trigger="bench", in_child=in_child, ready=ready
    )
    seconds = time.perf_counter() - start
    client_cpu = time.process_time() - start_cpu
    server_cpu = server.seconds()
    client_cpu -= server.own_cpu_s  # the thread that looked at the server's processes
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(20)
    phases["lock, record run, commits"] = seconds - sum(phases.values())
    peak = _peak_rss_mb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the decide's child, ended
    child_peak = children.ru_maxrss / 1024
    decided = _decisions(store)
    store.dispose()
    return {
        "seconds": seconds,
        "child_peak_rss_mb": child_peak if in_child else None,
        "child_cpu_s": children.ru_utime + children.ru_stime if in_child else None,
        "phases": phases,
        "summary": result.summary(),
        "looked_at": result.looked_at,
        "short": result.short,
        "peak_rss_mb": peak,
        "decisions": decided,
        "client_cpu_s": client_cpu,
        "server_cpu_s": server_cpu,
    }


class _ServerCpu:
    """PostgreSQL: the processor time the server processes of the run's database spent (from
    /proc), a figure that a busy machine's other work doesn't inflate as the wall clock does.
    The run uses several connections (its run lock's, its reads', its writes', its child's):
    every backend on the database but the one asking is counted, those the pool keeps from
    before and any opened during the run (counted from 0). A thread looks every
    `EVERY_S` while the run goes, so a backend that ends before the run (the decide's child's)
    is counted up to its last look; the thread's own processor time is `own_cpu_s`."""

    EVERY_S = 0.01

    def __init__(self, store: Any) -> None:
        self.store = store
        self.conn = None
        self.own_cpu_s = 0.0
        if not store.is_sqlite:
            import psycopg

            from stationd.store.change_feed import libpq_url

            self.conn = psycopg.connect(libpq_url(store.url), autocommit=True)
            if not Path(f"/proc/{self.conn.info.backend_pid}").exists():
                self.conn.close()  # the server runs on another machine
                self.conn = None
        self.start = self._now()
        self.latest = dict(self.start or {})
        self._done = threading.Event()
        self._thread = None
        if self.start is not None:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(self.EVERY_S):
            self.latest.update(self._now() or {})
        self.own_cpu_s = time.thread_time()

    def _now(self) -> dict[int, float] | None:
        if self.conn is None:
            return None
        pids = self.conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        ticks = os.sysconf("SC_CLK_TCK")
        seen = {}
        for (pid,) in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the backend ended meanwhile
                continue
            seen[pid] = (int(fields[11]) + int(fields[12])) / ticks
        return seen

    def seconds(self) -> float | None:
        if self._thread is not None:
            self._done.set()
            self._thread.join()
        end = self._now()
        if self.conn is not None:
            self.conn.close()
        if end is None or self.start is None:
            return None
        self.latest.update(end)
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.latest.items())


def run_baseline(url: str) -> dict[str, Any]:
    """The obvious way: the ORM, one order at a time, one stock row at a time."""
    import uuid

    from sqlalchemy import select
    from sqlalchemy.orm import Session, registry

    from stationd.store import tables
    from stationd.store.database import Store
    from stationd.store.orders import utcnow

    class Order:
        pass

    class Line:
        pass

    class Stock:
        pass

    class Event:
        pass

    mapper = registry()
    mapper.map_imperatively(Order, tables.orders)
    mapper.map_imperatively(Line, tables.order_lines)
    mapper.map_imperatively(Stock, tables.stock)
    mapper.map_imperatively(Event, tables.events)
    store = Store(url)

    start = time.perf_counter()
    with Session(store.engine) as session:
        now = utcnow()
        orders = session.scalars(
            select(Order).where(Order.status == "order").order_by(Order.placed_at, Order.id)
        ).all()
        for order in orders:
            if not order.paid:
                continue
            lines = session.scalars(
                select(Line).where(Line.order_id == order.id).order_by(Line.id)
            ).all()
            need: dict[str, int] = {}
            for line in lines:
                need[line.sku] = need.get(line.sku, 0) + line.quantity
            covered = bool(lines)
            for line in lines:
                stock = session.get(Stock, line.sku)
                if (
                    stock is None
                    or line.quantity < 1
                    or stock.on_hand - stock.reserved < need[line.sku]
                ):
                    covered = False
                    break
            if not covered:
                continue
            order.status = "packing"
            order.updated_at = now
            for sku, qty in need.items():
                session.get(Stock, sku).reserved += qty
            session.add(
                Event(
                    key=str(uuid.uuid4()),
                    at=now,
                    station="baseline",
                    kind="order.packing",
                    order_id=order.id,
                    payload='{"by": "packscript"}',
                )
            )
        session.commit()
    seconds = time.perf_counter() - start
    peak = _peak_rss_mb()
    decided = _decisions(store)
    store.dispose()
    return {"seconds": seconds, "peak_rss_mb": peak, "decisions": decided}


def wipe(url: str) -> dict[str, Any]:
    _fill(url, None)
    return {}


def _decisions(store: Any) -> dict[str, Any]:
    """What a run decided, in short: the orders in packing and the stock reserved per SKU."""
    from sqlalchemy import select

    from stationd.store.tables import orders, stock

    with store.read() as conn:
        packing = sorted(
            conn.execute(select(orders.c.id).where(orders.c.status == "packing")).scalars()
        )
        reserved = sorted(tuple(row) for row in conn.execute(select(stock.c.sku, stock.c.reserved)))
    digest = hashlib.sha256(json.dumps([packing, reserved]).encode()).hexdigest()
    return {"packing": len(packing), "reserved": sum(n for _, n in reserved), "digest": digest}


def _fill(url: str, shop: Any | None) -> None:
    """Empty the stationd tables (PostgreSQL) and write the shop, if one is given."""
    from sqlalchemy import text

    from stationd.demo import insert_shop
    from stationd.store.database import Store
    from stationd.store.tables import metadata

    store = Store(url)
    store.upgrade()
    if not store.is_sqlite:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with store.write() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    if shop is not None:
        insert_shop(store, shop)
    store.dispose()


def _refuse_unless_scratch(url: str) -> None:
    from sqlalchemy import inspect, text

    from stationd.store.database import Store

    store = Store(url)
    with store.read() as conn:
        if inspect(conn).has_table("orders"):
            n = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
            if n:
                raise SystemExit(f"{url}: the database holds {n} orders; give a scratch database")
    store.dispose()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- the parent ------------------------------------------------------------------------------


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True
    )
    if done.returncode:
        sys.exit(done.returncode)
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_main(args: list[str]) -> None:
    kind, *rest = args
    if kind == "build":
        orders, scratch, *targets = rest
        out = build(int(orders), targets, scratch_check=scratch == "check")
    elif kind == "packscript":
        out = run_packscript(
            rest[0],
            profile="profile" in rest,
            in_child="in-child" in rest,
            cold_child="cold-child" in rest,
        )
    elif kind == "baseline":
        out = run_baseline(rest[0])
    else:
        out = wipe(rest[0])
    print(json.dumps(out))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000, help="open orders (100000)")
    parser.add_argument("--url", help="a scratch PostgreSQL database instead of SQLite")
    parser.add_argument("--profile", action="store_true", help="cProfile the pack script run")
    parser.add_argument("--no-baseline", action="store_true", help="time the pack script only")
    parser.add_argument(
        "--in-child", action="store_true", help="read and decide in a child process, as serve does"
    )
    parser.add_argument(
        "--cold-child", action="store_true", help="with --in-child: start the child with the run"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-packscript-"))
    if args.url:
        data = _child("build", str(args.orders), "check", args.url)
    try:
        if args.url:
            fast_url = base_url = args.url
        else:
            fast_url, base_url = (f"sqlite:///{workdir / n}" for n in ("fast.db", "base.db"))
            shop_url = f"sqlite:///{workdir / 'shop.db'}"
            data = _child("build", str(args.orders), "-", shop_url, fast_url, base_url)
        print(
            f"data: {data['orders']:,} open orders, {data['lines']:,} lines, {data['skus']:,} "
            f"SKUs on {'PostgreSQL' if args.url else 'SQLite'}; built in {data['seconds']:.1f} s",
            flush=True,
        )

        options = (
            ["profile"] * args.profile
            + ["in-child"] * args.in_child
            + ["cold-child"] * args.cold_child
        )
        fast = _child("packscript", fast_url, *options)
        print(f"pack script: {fast['seconds']:.3f} s — {fast['summary']}")
        for phase, seconds in fast["phases"].items():
            print(f"  {phase:<26}{seconds:8.3f} s")
        if fast["server_cpu_s"] is not None:
            print(
                f"  processor time: server {fast['server_cpu_s']:.2f} s, "
                f"client {fast['client_cpu_s']:.2f} s"
            )
        print(
            f"  short of stock: {fast['short'] / max(1, fast['looked_at']):.1%} of orders, "
            f"unpaid: {data['unpaid'] / max(1, data['orders']):.1%}; "
            f"peak RSS {fast['peak_rss_mb']:.0f} MB"
            + (
                f" (the decide's child: {fast['child_peak_rss_mb']:.0f} MB)"
                if fast["child_peak_rss_mb"] is not None
                else ""
            ),
            flush=True,
        )

        baseline_seconds = speedup = same = None
        if not args.no_baseline:
            if args.url:  # the same data again
                _child("build", str(args.orders), "-", args.url)
            print("baseline (ORM, order by order) …", flush=True)
            base = _child("baseline", base_url)
            baseline_seconds = base["seconds"]
            speedup = baseline_seconds / fast["seconds"]
            same = base["decisions"] == fast["decisions"]
            print(
                f"baseline: {baseline_seconds:.3f} s (peak RSS {base['peak_rss_mb']:.0f} MB); "
                f"speedup {speedup:.1f}×; same decisions: {same} "
                f"({fast['decisions']['packing']:,} orders to packing, "
                f"{fast['decisions']['reserved']:,} items reserved)"
            )
    finally:
        if args.url:
            _child("wipe", args.url)  # leave the scratch database empty
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        json.dumps(
            {
                "orders": data["orders"],
                "seconds": round(fast["seconds"], 4),
                "baseline_seconds": None
                if baseline_seconds is None
                else round(baseline_seconds, 3),
                "speedup": None if speedup is None else round(speedup, 1),
                "same_decisions": same,
                "peak_rss_mb": round(fast["peak_rss_mb"], 1),
                "child_peak_rss_mb": fast["child_peak_rss_mb"] and round(fast["child_peak_rss_mb"]),
                "child_cpu_s": fast["child_cpu_s"] and round(fast["child_cpu_s"], 3),
                "server_cpu_s": fast["server_cpu_s"] and round(fast["server_cpu_s"], 3),
                "client_cpu_s": round(fast["client_cpu_s"], 3),
            }
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))
    main()
