"""Benchmark: synced benches packing through a sustained outage of central (issue 11, "Must
show": a bench keeps packing for ≥ 10 minutes with central out of reach, then converges).

Central is a PostgreSQL cluster of this script's own (bench/sync.py's `OwnCluster`) with a
shop of --orders small packing orders and one big order per bench. --benches bench processes
(bench/sync.py's child: a station's SQLite copy, `CentralClaims` claiming ahead, push, pull,
`BenchService` and `ReportIn`, wired as `serve` wires them) reach it through one TCP proxy.
Each does a packer's steady work at --rate actions/s (bench/sync.py's `steady`): the orders it
holds, packed whole and reported in, then its big order, reported in as a partial delivery
every 5 items.

Phases: --warm-up s online; then the outage for --minutes (--fault cut: the proxy refuses and
resets every connection; --fault stop: central stopped at once, pg_ctl -m immediate), the
benches packing on — scans and report-ins counted as done offline; then the network (or
central) returns and converge_s is the time until every outbox is empty and every copy agrees
with central on every order (status, each line's packed and delivered).

Checked by counting: lost (an op a bench has central's answer for that central does not hold
with that outcome; a line whose packed + delivered at central is below the bench's accepted
item ops; a parcel a bench reported in, its report accepted, that central lacks), duplicated
(above them), double_claims, and refused (ops central refused: e.g. claims whose lease ran
out during the outage and were taken by another bench — R17, not a loss). Last line JSON:
{"benches", "outage_s", "offline_scans", "offline_report_ins", "backlog_ops", "converge_s",
"replay_ops_per_s", "refused", "lost", "duplicated", "double_claims", ...}.

    python bench/sync_outage.py [--minutes 10] [--benches 2] [--rate 5] [--fault cut]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import (
    BIG_FIRST,
    FIRST_ORDER,
    Bench,
    OwnCluster,
    Proxy,
    acknowledged,
    check,
    converge,
    fill_central,
    tear_down,
    unsent,
)


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def parcels_at_central(central: str) -> dict[str, bool]:
    """Each parcel id central holds → whether its delivery is reported."""
    from sqlalchemy import select

    from stationd.store.database import Store
    from stationd.store.tables import deliveries, parcel_ids

    store = Store(central)
    try:
        with store.read() as conn:
            rows = conn.execute(
                select(parcel_ids.c.parcel_id, deliveries.c.reported_at).join(
                    deliveries, deliveries.c.id == parcel_ids.c.delivery_id
                )
            ).all()
    finally:
        store.dispose()
    return {parcel: reported is not None for parcel, reported in rows}


def reported_parcels(path: Path) -> dict[str, str | None]:
    """Each parcel id of a report-in this bench made → central's answer to the report."""
    from sqlalchemy import select

    from stationd.store.database import Store
    from stationd.store.tables import events

    store = Store(f"sqlite:///{path}")
    try:
        with store.read() as conn:
            rows = conn.execute(
                select(events.c.payload, events.c.outcome).where(
                    events.c.kind.in_(("order.shipped", "order.partial_delivery"))
                )
            ).all()
    finally:
        store.dispose()
    said: dict[str, str | None] = {}
    for payload, outcome in rows:
        for parcel in json.loads(payload or "{}").get("parcel_ids", []):
            said[parcel] = outcome
    return said


def main() -> None:
    from sqlalchemy import create_engine, text

    from stationd.store.central_link import central_engine
    from stationd.store.database import Store
    from stationd.sync.pull import pull_once
    from stationd.sync.push import Pusher

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="the outage (10)")
    parser.add_argument("--benches", type=int, default=2)
    parser.add_argument("--rate", type=float, default=5.0, help="a packer's actions/s (5)")
    parser.add_argument("--orders", type=int, default=200, help="small packing orders")
    parser.add_argument("--warm-up", type=float, default=20.0, help="online before, s")
    parser.add_argument("--fault", choices=("cut", "stop"), default="cut")
    parser.add_argument("--converge-limit", type=float, default=600.0)
    args = parser.parse_args()
    print(f"load average at start: {load()}", flush=True)
    cluster = OwnCluster()
    db = f"outage_{uuid.uuid4().hex[:6]}"
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    admin.dispose()
    central = cluster.url(db)
    fill_central(central, args.orders, args.benches, random.Random(7))
    proxy = Proxy(cluster.port)
    via = cluster.url(db, proxy.port)
    folder = Path(tempfile.mkdtemp(prefix="stationd-outage-"))
    pool = list(range(FIRST_ORDER, FIRST_ORDER + args.orders))
    paths: list[Path] = []
    procs: list[Bench] = []
    try:
        engine = central_engine(central, timeout_s=10, server_timeouts=False)
        for b in range(args.benches):
            path = folder / f"bench-{b}.sqlite"
            copy = Store(f"sqlite:///{path}")
            copy.upgrade()
            Pusher(copy, central, timeout_s=10).begin()  # synced from its first day
            pull_once(copy, engine)
            copy.dispose()
            paths.append(path)
        engine.dispose()
        procs = [
            Bench(via, paths[b], f"bench-{b}", BIG_FIRST + b, pool) for b in range(args.benches)
        ]
        for p in procs:
            p.send(f"steady {args.warm_up} {args.rate}")
        online = [p.answer() for p in procs]
        print(
            f"online {args.warm_up:.0f} s: {sum(r['scans'] for r in online)} scans, "
            f"{sum(r['report_ins'] for r in online)} report-ins, "
            f"{sum(unsent(path) for path in paths)} unsent",
            flush=True,
        )
        outage_s = args.minutes * 60
        if args.fault == "cut":
            proxy.cut()
        else:
            cluster.stop()
        cut_at = time.monotonic()
        for p in procs:
            p.send(f"steady {outage_s} {args.rate}")
        offline = [p.answer() for p in procs]
        offline_s = time.monotonic() - cut_at
        backlog = sum(unsent(path) for path in paths)
        print(
            f"offline {offline_s:.0f} s ({args.fault}): "
            f"{sum(r['scans'] for r in offline)} scans, "
            f"{sum(r['report_ins'] for r in offline)} report-ins, "
            f"{sum(r['refused'] for r in offline)} opens refused, "
            f"{sum(r['errors'] for r in offline)} errors, {backlog} ops waiting; "
            f"load {load()}",
            flush=True,
        )
        if args.fault == "cut":
            proxy.heal()
        else:
            cluster.start()
        replay_s, converge_s = converge(central, paths, time.monotonic(), args.converge_limit)
        for p in procs:
            p.send("stop")
        results = [p.answer() for p in procs]
        for p in procs:
            p.proc.wait(timeout=60)
        won = [(f"bench-{b}", o, e) for b, r in enumerate(results) for o, e in r["won"]]
        checked = check(central, paths, won)
        # Report-ins by counting: every parcel a bench reported in whose report central
        # accepted is at central, on a reported delivery, once (parcel ids are unique there).
        at_central = parcels_at_central(central)
        parcels_lost = 0
        for path in paths:
            for parcel, outcome in reported_parcels(path).items():
                if outcome == "accepted" and not at_central.get(parcel):
                    print(f"{path.stem}: parcel {parcel} accepted, not at central", file=sys.stderr)
                    parcels_lost += 1
        ops = [a for path in paths for a in acknowledged(path)]
        refused = sum(1 for _, outcome, _, _ in ops if outcome == "refused")
        out = {
            "benches": args.benches,
            "fault": args.fault,
            "outage_s": round(offline_s, 1),
            "offline_scans": sum(r["scans"] for r in offline),
            "offline_report_ins": sum(r["report_ins"] for r in offline),
            "offline_errors": sum(r["errors"] for r in offline),
            "backlog_ops": backlog,
            "replay_ops_per_s": round(backlog / replay_s, 1) if replay_s else None,
            "converge_s": round(converge_s, 2) if converge_s is not None else None,
            "ops_answered": len(ops),
            "refused": refused,
            "lost": checked["lost"] + parcels_lost,
            "duplicated": checked["duplicated"],
            "double_claims": checked["double_claims"],
            "load": load(),
        }
        print(json.dumps(out), flush=True)
    finally:
        tear_down(procs, proxy, folder)
        cluster.close()


if __name__ == "__main__":
    main()
