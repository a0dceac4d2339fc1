"""Benchmark: the randomized history check of sync (issue 11) — N runs of random packing on
synced benches under random faults, then quiesce and compare.

Each run: a fresh central database on a cluster of this script's own (bench/sync.py's
`OwnCluster`), a small shop (--orders packing orders on few SKUs, so benches meet on orders),
2 or 3 bench processes (bench/sync.py's child: a station's copy, `CentralClaims`, push, pull,
`BenchService` and `ReportIn`) behind one TCP proxy, each doing random packer's work (open
orders, scan items, take some back, report in what is packed) for --seconds while faults are
thrown at random: the network cut (the proxy) for 0.5-3 s, a bench SIGKILLed and started again
on its copy, central stopped at once (pg_ctl -m immediate) for 1-3 s and started again. Then
the network and central come back, and the run waits (--quiesce s at most) until every
outbox is empty and every copy agrees with central on every order.

Counted over all runs: ops (acknowledged by central), lost (an acknowledged op central does not
hold with that outcome, or a line whose packed + delivered at central is below its accepted item
ops), duplicated (above them; unmatched where a report-in shipped items whose scans central
refused and central left the admin a task: bench/sync.py's `check`), double_reserved (one
order and epoch with accepted ops from two stations: two benches packing one order at once)
and diverged (copies that never agreed with
central). A copy that never agreed is named on stderr: each order, field, central's value and
the copy's, every bench's ops on that order by kind, answer and epoch, and — if its outbox is
not empty — its push notes and every thread's stack (SIGUSR1: faulthandler); a line counted
lost or duplicated is named with central's ops on its order. Central's database is a copy of a
template migrated once, each bench's SQLite a copy of a migrated file. Last line:
{"runs", "ops", "lost", "duplicated", "unmatched", "double_reserved", "diverged"}.

    python bench/sync_chaos.py --runs 200 [--seconds 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import (
    FIRST_ORDER,
    Bench,
    OwnCluster,
    Proxy,
    acknowledged,
    check,
    differences,
    fill_central,
    image,
    outcomes_of,
    tear_down,
    unsent,
)

#: Central's migrated, empty database that each run's central is created from.
TEMPLATE = "chaos_template"


def make_templates(cluster: OwnCluster) -> Path:
    """Migrate once: central's database `TEMPLATE` (each run's central is a copy of it) and a
    station's SQLite copy (each bench's file starts as a copy of it); the copy's path."""
    from sqlalchemy import create_engine, text

    from stationd.store.database import Store

    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{TEMPLATE}"'))
    admin.dispose()
    central = Store(cluster.url(TEMPLATE))
    central.upgrade()
    central.dispose()
    path = cluster.folder / "copy-template.sqlite"
    copy = Store(f"sqlite:///{path}")
    copy.upgrade()
    copy.dispose()
    return path


def push_notes(path: Path) -> dict:
    from stationd.store.database import Store
    from stationd.store.outbox import read_notes

    store = Store(f"sqlite:///{path}")
    try:
        with store.read() as conn:
            return read_notes(conn)
    finally:
        store.dispose()


def one_run(
    cluster: OwnCluster, n: int, rng: random.Random, args: argparse.Namespace, copy_template: Path
) -> dict:
    from sqlalchemy import create_engine, text

    from stationd.store.central_link import central_engine
    from stationd.store.database import Store
    from stationd.sync.pull import pull_once
    from stationd.sync.push import Pusher

    benches = rng.choice((2, 3))
    db = f"chaos_{n}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # migrated already: the template (main)
        conn.execute(text(f'CREATE DATABASE "{db}" TEMPLATE "{TEMPLATE}"'))
    admin.dispose()
    central = cluster.url(db)
    fill_central(central, args.orders, benches, rng)
    proxy = Proxy(cluster.port)
    via = cluster.url(db, proxy.port)
    folder = Path(tempfile.mkdtemp(prefix="stationd-chaos-"))
    pool = list(range(FIRST_ORDER, FIRST_ORDER + args.orders))
    paths = []
    procs: list[Bench] = []
    faults = {"cut": 0, "kill_bench": 0, "kill_central": 0}
    try:
        engine = central_engine(central, timeout_s=10, server_timeouts=False)
        for b in range(benches):
            path = folder / f"bench-{b}.sqlite"
            shutil.copyfile(copy_template, path)  # migrated already (main)
            copy = Store(f"sqlite:///{path}")
            Pusher(copy, central, timeout_s=10).begin()
            pull_once(copy, engine)
            copy.dispose()
            paths.append(path)
        engine.dispose()
        with ThreadPoolExecutor(benches) as starting:  # their imports overlap
            procs = list(
                starting.map(lambda b: Bench(via, paths[b], f"bench-{b}", 0, pool), range(benches))
            )
        end = time.monotonic() + args.seconds
        for p in procs:
            p.send(f"chaos {rng.randrange(10**9)} {args.seconds}")
        while time.monotonic() < end - 1:
            time.sleep(rng.uniform(0.3, 1.5))
            fault = rng.choice(tuple(faults))
            faults[fault] += 1
            if fault == "cut":
                proxy.cut()
                time.sleep(rng.uniform(0.5, 3))
                proxy.heal()
            elif fault == "kill_central":
                cluster.stop()
                time.sleep(rng.uniform(1, 3))
                cluster.start()
            else:
                b = rng.randrange(benches)
                procs[b].proc.send_signal(signal.SIGKILL)
                procs[b].proc.wait()
                procs[b] = Bench(via, paths[b], f"bench-{b}", 0, pool)
                left = max(0.5, end - time.monotonic())
                procs[b].send(f"chaos {rng.randrange(10**9)} {left:.1f}")
        proxy.heal()
        if not cluster.running():
            cluster.start()
        for p in procs:
            p.answer()
        started = time.monotonic()
        agreed = set()
        while time.monotonic() - started < args.quiesce:
            if not any(unsent(path) for path in paths):
                truth = image(central)
                agreed = {i for i, path in enumerate(paths) if image(f"sqlite:///{path}") == truth}
                if len(agreed) == benches:
                    break
            time.sleep(0.2)
        if len(agreed) < benches:  # why: which order, which field, central against the copy
            truth = image(central)
            for i, path in enumerate(paths):
                copy = image(f"sqlite:///{path}")
                for said in differences(truth, copy):
                    print(f"run {n} bench-{i} ({unsent(path)} unsent): {said}", file=sys.stderr)
                if unsent(path):  # what its push is doing: its notes and its threads
                    print(f"run {n} bench-{i} push: {push_notes(path)}", file=sys.stderr)
                    procs[i].proc.send_signal(signal.SIGUSR1)
                    time.sleep(1)
                for order_id in sorted(o for o in truth if truth[o] != copy.get(o)):
                    for j, other in enumerate(paths):
                        print(
                            f"run {n}   order {order_id} at bench-{j}: "
                            f"{outcomes_of(other, order_id)}",
                            file=sys.stderr,
                        )
        for p in procs:
            p.send("stop")
        for p in procs:
            p.proc.stdout.readline()
            p.proc.wait(timeout=60)
        checked = check(central, paths, [])
        ops = sum(len(acknowledged(path)) for path in paths)
        return {
            "benches": benches,
            "ops": ops,
            "faults": faults,
            "lost": checked["lost"],
            "duplicated": checked["duplicated"],
            "unmatched": checked["unmatched"],
            "double_reserved": checked["double_claims"],
            "diverged": benches - len(agreed),
            "quiesce_s": round(time.monotonic() - started, 1),
        }
    finally:
        tear_down(procs, proxy, folder)
        if cluster.running():
            admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0, help="work and faults a run")
    parser.add_argument("--orders", type=int, default=12, help="packing orders a run")
    parser.add_argument("--quiesce", type=float, default=90.0, help="longest wait to agree")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cluster = OwnCluster()
    copy_template = make_templates(cluster)
    totals = {"runs": 0, "ops": 0, "lost": 0, "duplicated": 0, "unmatched": 0}
    totals["double_reserved"] = 0
    totals["diverged"] = 0
    try:
        for n in range(args.runs):
            result = one_run(cluster, n, rng, args, copy_template)
            print(json.dumps({"run": n, **result}), flush=True)
            totals["runs"] += 1
            for key in ("ops", "lost", "duplicated", "unmatched", "double_reserved", "diverged"):
                totals[key] += result[key]
    finally:
        cluster.close()
    print(json.dumps(totals))


if __name__ == "__main__":
    main()
