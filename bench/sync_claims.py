"""Benchmark: benches racing to claim orders at one central PostgreSQL (R17, docs/sync.md).

For 2, 4 and 8 bench processes (each its own `CentralLink`, as a station has): every round all
benches claim the same packing order at once (a barrier starts them), so each claim meets the
others on the same row. A claim is what a packer waits for when opening an order at a synced
bench: one transaction at central through the link (`store.central_claims.claim`). Per bench
count it reports claim p50/p99 (ms, over every claim of every bench) and the double claims —
rounds in which more than one bench was told it won (must be 0); it also checks central's
`order_claims` names the round's one winner.

In a race on a new claim row the losers' statement waits for the winner's insert and cannot
see it in its own snapshot, so a loser reads the winner in a second round trip: the figures
are a worst case (in a warehouse two benches rarely scan one pick list in the same instant).

As a baseline measured in the same run, the same processes time `SELECT 1` through the same
link (one round trip, no claim) in a round of its own before each claim's: what the link and
the machine cost before any claim logic, under the same load.

    python bench/sync_claims.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                [--rounds 200] [--benches 2,4,8]

`--url` names a server database to connect to for creating a scratch database
(`stationd_bench_claims_…`, migrated, dropped at the end). The last line is one JSON object:
{"rounds", "runs": [{"benches", "claim_p50_ms", "claim_p99_ms", "baseline_p50_ms",
"baseline_p99_ms", "double_claims", "wrong_holder"}], "claim_p99_ms" (the worst run),
"double_claims" (all runs)}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from percentiles import percentile

DEFAULT_URL = os.environ.get(
    "STATIOND_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _bench(url: str, name: str, orders: list[int], barrier, out) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from stationd.store import central_claims
    from stationd.store.central_link import CentralLink

    link = CentralLink(url, timeout_s=5.0)
    link.run(lambda conn: conn.execute(text("SELECT 1")))  # connected before the clock runs
    baseline: list[float] = []
    claims: list[tuple[int, bool, float]] = []
    # Baseline and claim alternate round by round: both meet the same load on a shared machine.
    for order_id in orders:
        barrier.wait()
        started = time.perf_counter()
        link.run(lambda conn: conn.execute(text("SELECT 1")).scalar(), autocommit=True)
        baseline.append((time.perf_counter() - started) * 1000)
        barrier.wait()
        started = time.perf_counter()
        answer = link.run(
            lambda conn, order_id=order_id: central_claims.claim(conn, order_id, name, lease_s=300),
            autocommit=True,  # as CentralClaims.holder claims
        )
        claims.append((order_id, answer.won, (time.perf_counter() - started) * 1000))
    link.dispose()
    out.put((name, baseline, claims))


def _scratch(admin_url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from stationd.store.database import Store

    name = f"stationd_bench_claims_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    store.upgrade()
    store.dispose()
    return url


def _drop(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def _orders(url: str, first: int, count: int) -> list[int]:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from stationd.store.database import Store
    from stationd.store.tables import orders

    store = Store(url)
    ids = list(range(first, first + count))
    placed = datetime(2026, 11, 1, tzinfo=UTC)
    with store.write() as conn:
        conn.execute(
            insert(orders),
            [
                {
                    "id": order_id,
                    "status": "packing",
                    "placed_at": placed + timedelta(minutes=order_id),
                    "customer_name": "Anna Andersson",
                    "customer_key": "anna andersson",
                    "street": "Storgatan 12",
                    "postcode": "411 38",
                    "city": "Göteborg",
                    "paid": True,
                    "payment_method": "card",
                    "value_minor": 0,
                }
                for order_id in ids
            ],
        )
    store.dispose()
    return ids


def _holders(url: str, ids: list[int]) -> dict[int, str]:
    from stationd.store import central_claims
    from stationd.store.database import Store

    store = Store(url)
    with store.read() as conn:
        found = {k: c.station for k, c in central_claims.holders(conn, ids).items()}
    store.dispose()
    return found


def run(url: str, benches: int, rounds: int, first: int) -> dict[str, object]:
    ids = _orders(url, first, rounds)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(benches)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_bench, args=(url, f"bench-{n}", ids, barrier, out))
        for n in range(benches)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    baseline = [ms for _, b, _ in results for ms in b]
    claim_ms = [ms for _, _, c in results for *_, ms in c]
    winners: dict[int, list[str]] = {order_id: [] for order_id in ids}
    for name, _, claims in results:
        for order_id, won, _ms in claims:
            if won:
                winners[order_id].append(name)
    holders = _holders(url, ids)
    return {
        "benches": benches,
        "claims": len(claim_ms),
        "claim_p50_ms": round(percentile(claim_ms, 50), 2),
        "claim_p99_ms": round(percentile(claim_ms, 99), 2),
        "baseline_p50_ms": round(percentile(baseline, 50), 2),
        "baseline_p99_ms": round(percentile(baseline, 99), 2),
        "double_claims": sum(1 for w in winners.values() if len(w) > 1),
        "no_winner": sum(1 for w in winners.values() if not w),
        "wrong_holder": sum(
            1 for order_id, w in winners.items() if len(w) == 1 and holders.get(order_id) != w[0]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--benches", default="2,4,8")
    args = parser.parse_args()
    url = _scratch(args.url)
    runs = []
    try:
        for n, benches in enumerate(int(b) for b in args.benches.split(",")):
            result = run(url, benches, args.rounds, first=100_000 * (n + 1))
            print(
                f"{benches} benches: claim p50 {result['claim_p50_ms']} ms, "
                f"p99 {result['claim_p99_ms']} ms (baseline SELECT 1: "
                f"p50 {result['baseline_p50_ms']} ms, p99 {result['baseline_p99_ms']} ms); "
                f"double claims {result['double_claims']}, no winner {result['no_winner']}, "
                f"wrong holder {result['wrong_holder']}",
                flush=True,
            )
            runs.append(result)
    finally:
        _drop(args.url, url)
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "runs": runs,
                "claim_p99_ms": max(r["claim_p99_ms"] for r in runs),
                "double_claims": sum(r["double_claims"] for r in runs),
            }
        )
    )


if __name__ == "__main__":
    main()
