"""Benchmark: 2, 4 and 8 synced benches packing on one central PostgreSQL (issue 11).

Central is a PostgreSQL cluster of this script's own (initdb/pg_ctl as the postgres user, on a
free port, fsync off as the tests' `OwnPostgres`): other sessions of a shared server would hold
the pull's xid window back. Every bench is a real process: a station with its own SQLite copy
(migrated, filled by a full pull from central), `CentralClaims`, the push and pull workers, and
the station's own use cases — `BenchService.handle_scan` for the order and item scans,
`ReportIn.ship` for the report-in — packing as fast as it can. All benches reach central
through one TCP proxy in this script, which the converge phase cuts.

Per bench count (--benches 2,4,8), phases:

1. pack for --seconds: each bench walks the shared pool of packing orders (in an order of its
   own), opens one (a claim at central; held by another bench: next), scans every item and
   reports it in with one parcel. scans_per_s = every bench's scans / the phase's wall time;
   report_in_p99_ms = `ReportIn.ship` at the bench (what the packer waits for);
   cpu_1ms_wall_p99_ms = the floor under it at the phase's load: after each report-in the
   packer's thread spends 1 ms of its own CPU in plain Python and times it on the wall (with
   8 benches on 2 cores, the wait for a core is what most of a p99 is);
   claim_p99_ms = the claim at the open scan (`CentralClaims.holder`: what the packer waits
   for) in this phase (phase 2's opens of the big orders are not the packer's queue and are
   not counted), claims_asking_central / claim_asking_central_p99_ms = those opens that went
   to central (a round trip; when, into the phase, is printed on stderr). The packer takes
   the queue's head, as at a kiosk: the orders its bench claimed ahead (the oldest packing
   ones, which open without a round trip), else the next of the pool.
   central_ops_per_s_packing = rows central's sync_ops gained over the phase / its time —
   bounded by what the benches write, not by central.
2. backlog: each bench opens a big order of its own, the proxy is cut, and the benches scan
   --backlog ops between them offline; then the network returns. replay_ops_per_s = the
   backlog / time until every outbox is empty; central_ops_per_s = what central applied
   while the benches pushed it, per second of central's time applying it: the seconds in
   which at least one applying transaction was open, from its start to its commit timestamp
   (`applied_rate`; the pushes' back-off after the outage, central idle, is not counted —
   central_ops_per_s_wall, the old figure, counts from the first op until every outbox was
   seen empty, back-offs, answer writing and polling included);
   converge_s = time from the return until every
   outbox is empty and every bench's copy agrees with central on every order (status, each
   line's packed and delivered).

Checked: double_claims (one order and epoch won by two benches, or accepted ops of one order
and epoch from two stations at central), lost (an op a bench has central's answer for that
central does not hold, or a line's packed + delivered at central below its accepted item
scans), duplicated (above them, on an order where central left no task; where a report-in
shipped items whose scans central refused, accepted as a physical fact with a task for the
admin, the items are counted as unmatched instead). The last line is one JSON object for the
largest bench count: {"benches", "scans_per_s", "report_in_p99_ms", "claim_p99_ms",
"central_ops_per_s", "replay_ops_per_s", "converge_s", "double_claims", "lost", "duplicated",
"unmatched", "runs": [...]}.

    python bench/sync.py [--benches 2,4,8] [--seconds 20] [--orders 3000] [--backlog 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from percentiles import percentile

BIG_FIRST = 900_000  # the big orders of the backlog phase: one per bench
FIRST_ORDER = 1000
SKUS = 40


# --- central: a cluster of our own ----------------------------------------------------------
class OwnCluster:
    """initdb + pg_ctl as the postgres user on a free loopback port (as tests' OwnPostgres)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="stationd-sync-bench-", dir="/tmp"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c max_connections=200"
        # each transaction's commit time: central's apply rate counts the time it applied
        # (`applied_rate`); pg_stat_statements: what an op costs central (STATIOND_BENCH_PGSS=1)
        options += " -c track_commit_timestamp=on"
        if os.environ.get("STATIOND_BENCH_PGSS"):
            options += " -c shared_preload_libraries=pg_stat_statements"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        """At once, as a crash would: open connections break."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _run(self, program: str, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self.bin / program), *args]
        if os.geteuid() != 0:
            command = command[4:]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def url(self, database: str = "postgres", port: int | None = None) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port or self.port}/{database}"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class Proxy:
    """Loopback TCP proxy to central; `cut()` resets every connection and refuses new ones
    until `heal()` (the network gone and back)."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.down = False
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                if self.down:  # cut while this one connected
                    client.close()
                    upstream.close()
                    continue
                self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            self.down = True
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                # shutdown first: a close alone leaves the pump thread's recv() holding the
                # socket open — the connection lived on, and the next query through it was
                # dropped while the server waited (a pull's snapshot 'idle in transaction'
                # for good; the copy never converged)
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def heal(self) -> None:
        self.down = False


# --- the shop -----------------------------------------------------------------------------
def fill_central(url: str, orders: int, benches: int, rng: random.Random) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from stationd.demo import ean13
    from stationd.store.database import Store
    from stationd.store.tables import order_lines, products, stock
    from stationd.store.tables import orders as orders_t

    store = Store(url)
    store.upgrade()
    placed = datetime(2026, 11, 1, tzinfo=UTC)
    with store.write() as conn:
        conn.execute(
            insert(products),
            [
                {
                    "sku": f"SKU-{n}",
                    "name": f"Product {n}",
                    "ean": ean13(1000 + n),
                    "gtin": "0" + ean13(1000 + n),
                    "location": f"A-{n:02d}-1",
                    "weight_g": 250,
                    "price_minor": 9900,
                }
                for n in range(SKUS)
            ],
        )
        conn.execute(
            insert(stock),
            [{"sku": f"SKU-{n}", "on_hand": 10**8, "reserved": 10**7} for n in range(SKUS)],
        )
        ids = list(range(FIRST_ORDER, FIRST_ORDER + orders)) + [
            BIG_FIRST + b for b in range(benches)
        ]
        conn.execute(
            insert(orders_t),
            [
                {
                    "id": i,
                    "status": "packing",
                    "placed_at": placed + timedelta(seconds=i),
                    "customer_name": "Anna Andersson",
                    "customer_key": "anna andersson",
                    "street": "Storgatan 12",
                    "postcode": "411 38",
                    "city": "Göteborg",
                    "paid": True,
                    "payment_method": "card",
                    "value_minor": 0,
                }
                for i in ids
            ],
        )
        lines = []
        for i in ids:
            if i >= BIG_FIRST:
                lines.append((i, 0, 0, 10**6))
                continue
            for pos, n in enumerate(rng.sample(range(SKUS), rng.randint(1, 3))):
                lines.append((i, pos, n, rng.randint(1, 2)))
        conn.execute(
            insert(order_lines),
            [
                {
                    "order_id": i,
                    "position": pos,
                    "sku": f"SKU-{n}",
                    "name": f"Product {n}",
                    "gtin": "0" + ean13(1000 + n),
                    "quantity": qty,
                    "unit_price_minor": 9900,
                }
                for i, pos, n, qty in lines
            ],
        )
    store.dispose()


# --- a bench process ----------------------------------------------------------------------
def child(central: str, path: str, name: str, big: int, pool: list[int], seed: int) -> None:
    import faulthandler
    import signal

    # SIGUSR1: every thread's stack on stderr (bench/sync_chaos.py asks a bench that never
    # agreed what it is doing).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    from sqlalchemy import select

    from stationd.events import Bus, ScanRead
    from stationd.services.bench import BenchService
    from stationd.services.central_claims import CentralClaims
    from stationd.services.report_in import ReportIn, Weighing
    from stationd.services.sync_watch import SyncWatch
    from stationd.store.central_link import CentralLink
    from stationd.store.database import Store
    from stationd.store.tables import order_claims, order_lines
    from stationd.sync.answers import tell_each_other
    from stationd.sync.pull import PullWorker
    from stationd.sync.push import Pusher, PushWorker

    store = Store(f"sqlite:///{path}")
    claims = CentralClaims(CentralLink(central, timeout_s=5.0), store, name, lease_s=300)
    bench = BenchService(store, Bus(), name, claims=claims)
    report = ReportIn(
        store, None, name, weighing=Weighing(tolerance_g=50, tolerance_pct=5.0, box_tare_g=0)
    )
    push = PushWorker(Pusher(store, central, timeout_s=5.0), interval_s=1.0)
    pull = PullWorker(store, central, poll_interval_s=5.0, timeout_s=5.0)
    tell_each_other(push, pull, claims)  # as the station wires them
    watch = SyncWatch(Bus(), push, pull)  # as `serve`: the bench's offline state
    push.start()
    pull.start()
    claims.start()
    watch.start()

    claim_ms: list[float] = []
    claim_asked_ms: list[float] = []  # the opens that asked central (a round trip)
    claim_cpu_ms: list[float] = []  # the claim's own thread's CPU time: work, not waits
    claim_asked_at: list[float] = []  # …and when, seconds into the packing phase
    phase = [time.monotonic(), False]  # when the packing phase began, whether it runs
    holder, run = claims.holder, claims.link.run
    asked = threading.local()

    def counted_run(*a, **k):  # type: ignore[no-untyped-def]
        asked.yes = True
        return run(*a, **k)

    def timed_holder(*a, **k):  # type: ignore[no-untyped-def]
        if not phase[1]:  # the backlog phase's open of the bench's big order: not counted
            return holder(*a, **k)
        asked.yes = False
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return holder(*a, **k)
        finally:
            claim_ms.append((time.perf_counter() - started) * 1000)
            claim_cpu_ms.append((time.thread_time() - cpu) * 1000)
            if asked.yes:
                claim_asked_ms.append(claim_ms[-1])
                claim_asked_at.append(round(time.monotonic() - phase[0], 2))

    claims.holder = timed_holder  # type: ignore[method-assign]
    claims.link.run = counted_run  # type: ignore[method-assign]

    def scan(code: str):  # type: ignore[no-untyped-def]
        return bench.handle_scan(ScanRead(code, None, "serial:bench"))

    def lines_of(order_id: int) -> list[tuple[str, int]]:
        with store.read() as conn:
            rows = conn.execute(
                select(order_lines.c.gtin, order_lines.c.quantity, order_lines.c.packed).where(
                    order_lines.c.order_id == order_id
                )
            ).all()
        return [(gtin[1:], qty - packed) for gtin, qty, packed in rows]

    def epoch_of(order_id: int) -> int | None:
        with store.read() as conn:
            return conn.execute(
                select(order_claims.c.epoch).where(
                    order_claims.c.order_id == order_id, order_claims.c.station == name
                )
            ).scalar()

    rng = random.Random(seed)
    todo = list(pool)
    rng.shuffle(todo)
    won: list[tuple[int, int | None]] = []
    opened_ever: set[int] = set()  # tried by this bench's packer (each order once)
    report_ms: list[float] = []
    report_cpu_ms: list[float] = []  # the report-in's own thread's CPU time: work, not waits
    floor_ms: list[float] = []  # wall time of 1 ms of this thread's CPU (`cpu_floor`)
    print("ready", flush=True)
    for command in sys.stdin:
        verb, _, arg = command.strip().partition(" ")
        if verb == "pack":
            phase[:] = [time.monotonic(), True]
            until = phase[0] + float(arg)
            scans = opened = refused = 0
            while time.monotonic() < until and todo:
                # The packer takes the queue's head: the orders the bench claimed ahead
                # (the oldest packing ones), else one of the pool in its own order.
                ahead = sorted(set(claims.held()) - opened_ever)
                order_id = ahead[0] if ahead else todo.pop()
                if order_id in opened_ever:
                    continue
                opened_ever.add(order_id)
                scans += 1
                if not scan(f"ORD-{order_id}").opened:
                    refused += 1
                    continue
                opened += 1
                won.append((order_id, epoch_of(order_id)))
                for ean, left in lines_of(order_id):
                    for _ in range(left):
                        scans += 1
                        scan(ean)
                started, cpu = time.perf_counter(), time.thread_time()
                try:
                    report.ship(order_id, [f"{name.upper()}-{order_id}"], use_scale=False)
                except Exception as err:  # a refusal is the packer's sentence: counted
                    print(f"report-in of {order_id} refused: {err}", file=sys.stderr)
                report_ms.append((time.perf_counter() - started) * 1000)
                report_cpu_ms.append((time.thread_time() - cpu) * 1000)
                floor_ms.append(cpu_floor(1.0))
            phase[1] = False
            print(json.dumps({"scans": scans, "opened": opened, "refused": refused}), flush=True)
        elif verb == "open":
            ok = scan(f"ORD-{big}").opened
            won.append((big, epoch_of(big)))
            print(json.dumps({"opened": ok}), flush=True)
        elif verb == "scan":
            ean = lines_of(big)[0][0]
            for _ in range(int(arg)):
                scan(ean)
            print(json.dumps({"scanned": int(arg)}), flush=True)
        elif verb == "chaos":
            seed, seconds = arg.split()
            print(json.dumps(chaos(bench, report, name, pool, int(seed), float(seconds))))
            sys.stdout.flush()
        elif verb == "steady":
            seconds, rate = arg.split()
            done = steady(bench, report, store, name, big, float(seconds), float(rate))
            print(json.dumps(done), flush=True)
        elif verb == "stop":
            watch.stop()
            claims.stop()
            push.stop()
            pull.stop()
            print(
                json.dumps(
                    {
                        "won": won,
                        "claim_ms": claim_ms,
                        "claim_asked_ms": claim_asked_ms,
                        "claim_cpu_ms": claim_cpu_ms,
                        "claim_asked_at": claim_asked_at,
                        "report_ms": report_ms,
                        "report_cpu_ms": report_cpu_ms,
                        "floor_ms": floor_ms,
                    }
                )
            )
            return


def cpu_floor(cpu_ms: float) -> float:
    """Wall milliseconds this thread takes to spend `cpu_ms` of its own CPU in plain Python:
    the floor under any work of that much CPU at the machine's load now (the baseline the
    report-in's and the claim's wall times are read against)."""
    started, cpu = time.perf_counter(), time.thread_time()
    end = cpu + cpu_ms / 1000
    while time.thread_time() < end:
        pass
    return (time.perf_counter() - started) * 1000


def chaos(bench, report, name: str, pool: list[int], seed: int, seconds: float) -> dict:  # type: ignore[no-untyped-def]
    """Random packer's work for `seconds` (bench/sync_chaos.py): open orders, scan items,
    take some back, report in what is packed — whatever central's or the network's state; a
    refusal or an error is counted and the packer goes on."""
    from stationd.events import ScanRead

    rng = random.Random(seed)
    until = time.monotonic() + seconds
    done = errors = 0
    while time.monotonic() < until:
        try:
            order = bench.current_order()
            roll = rng.random()
            if order is None or roll < 0.15:
                order_id = rng.choice(pool)
                # (double claims are counted at central: one order and epoch, two stations)
                bench.handle_scan(ScanRead(f"ORD-{order_id}", None, "serial:chaos"))
            elif roll < 0.7:
                left = [
                    line for line in order.lines if line.packed + line.delivered < line.quantity
                ]
                if left:
                    code = rng.choice(left).gtin[1:]
                    bench.handle_scan(ScanRead(code, None, "serial:chaos"))
            elif roll < 0.8:
                packed = [line for line in order.lines if line.packed]
                if packed:
                    bench.count(rng.choice(packed).id, -1)
            else:
                quantities = {line.id: line.packed for line in order.lines if line.packed}
                if quantities:
                    parcel = f"{name.upper()}-{order.id}-{rng.randrange(10**6)}"
                    report.ship(order.id, [parcel], quantities=quantities, use_scale=False)
            done += 1
        except Exception:
            errors += 1
        time.sleep(rng.uniform(0, 0.01))
    return {"actions": done, "errors": errors}


def steady(bench, report, store, name: str, big: int, seconds: float, rate: float) -> dict:  # type: ignore[no-untyped-def]
    """A packer's steady work for `seconds` at `rate` actions/s (bench/sync_outage.py): the
    orders this bench holds first (claimed ahead), each packed whole and reported in; with none
    left, its big order, reported in as a partial delivery every 5 items. Online or offline
    alike: what the bench holds can be packed without central. Counts scans, report-ins (and
    their parcel ids) and refusals."""
    from sqlalchemy import select

    from stationd.events import ScanRead
    from stationd.store.tables import order_claims, orders

    rng = random.Random(zlib.crc32(name.encode()) + int(seconds))
    until = time.monotonic() + seconds
    scans = refused = errors = 0
    parcels: list[str] = []
    pause = 1.0 / rate
    while time.monotonic() < until:
        try:
            order = bench.current_order()
            left = (
                []
                if order is None
                else [line for line in order.lines if line.packed + line.delivered < line.quantity]
            )
            packed = (
                {}
                if order is None
                else {line.id: line.packed for line in order.lines if line.packed}
            )
            if order is None or (not left and not packed):
                with store.read() as conn:
                    held = (
                        conn.execute(
                            select(order_claims.c.order_id)
                            .join(orders, orders.c.id == order_claims.c.order_id)
                            .where(
                                order_claims.c.station == name,
                                orders.c.status == "packing",
                                order_claims.c.order_id != big,
                            )
                            .order_by(order_claims.c.order_id)
                        )
                        .scalars()
                        .all()
                    )
                target = held[0] if held else big
                scans += 1
                if not bench.handle_scan(ScanRead(f"ORD-{target}", None, "serial:steady")).opened:
                    refused += 1
            elif left and (order.id != big or sum(packed.values()) < 5):
                scans += 1
                bench.handle_scan(ScanRead(rng.choice(left).gtin[1:], None, "serial:steady"))
            else:
                parcel = f"{name.upper()}-{order.id}-{uuid.uuid4().hex[:8]}"
                report.ship(order.id, [parcel], quantities=packed, use_scale=False)
                parcels.append(parcel)
        except Exception as err:
            errors += 1
            print(f"{name}: {err}", file=sys.stderr)
        time.sleep(pause)
    return {
        "scans": scans,
        "report_ins": len(parcels),
        "parcels": parcels,
        "refused": refused,
        "errors": errors,
    }


class Bench:
    def __init__(self, central: str, path: Path, name: str, big: int, pool: list[int]) -> None:
        self.path, self.name = path, name
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        args = [central, str(path), name, str(big), ",".join(map(str, pool))]
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"{name} did not start")

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{self.name} died")
        return json.loads(line)


# --- checks -------------------------------------------------------------------------------
def image(url: str) -> dict[int, tuple]:
    """Each order → (status, sorted (line id, packed, delivered)) as `url`'s store holds it."""
    from sqlalchemy import select

    from stationd.store.database import Store
    from stationd.store.tables import order_lines, orders

    store = Store(url)
    try:
        with store.read() as conn:
            status = dict(conn.execute(select(orders.c.id, orders.c.status)).all())
            lines: dict[int, list] = {}
            for row in conn.execute(
                select(
                    order_lines.c.order_id,
                    order_lines.c.id,
                    order_lines.c.packed,
                    order_lines.c.delivered,
                )
            ):
                lines.setdefault(row[0], []).append(tuple(row[1:]))
    finally:
        store.dispose()
    return {i: (s, tuple(sorted(lines.get(i, [])))) for i, s in status.items()}


def differences(truth: dict[int, tuple], copy: dict[int, tuple]) -> list[str]:
    """Where a copy's `image` differs from central's: order, field, central's value, the
    copy's — one line each."""
    said = []
    for order_id in sorted(set(truth) | set(copy)):
        if truth.get(order_id) == copy.get(order_id):
            continue
        if order_id not in truth or order_id not in copy:
            where = "central" if order_id in truth else "the copy"
            said.append(f"order {order_id}: only {where} has it")
            continue
        (status_c, lines_c), (status_b, lines_b) = truth[order_id], copy[order_id]
        if status_c != status_b:
            said.append(f"order {order_id} status: central {status_c}, copy {status_b}")
        at_c = {line: (p, d) for line, p, d in lines_c}
        at_b = {line: (p, d) for line, p, d in lines_b}
        for line in sorted(set(at_c) | set(at_b)):
            c, b = at_c.get(line), at_b.get(line)
            if c == b:
                continue
            if c is None or b is None:
                where = "the copy" if c is None else "central"
                said.append(f"order {order_id} line {line}: only {where} has it")
                continue
            for field, x, y in (("packed", c[0], b[0]), ("delivered", c[1], b[1])):
                if x != y:
                    said.append(f"order {order_id} line {line} {field}: central {x}, copy {y}")
    return said


def outcomes_of(path: Path, order_id: int) -> str:
    """The bench's ops on `order_id` counted by kind and central's answer (unsent: None)."""
    from sqlalchemy import func, select

    from stationd.store.database import Store
    from stationd.store.tables import events

    store = Store(f"sqlite:///{path}")
    try:
        with store.read() as conn:
            rows = conn.execute(
                select(events.c.kind, events.c.outcome, events.c.epoch, func.count())
                .where(events.c.order_id == order_id)
                .group_by(events.c.kind, events.c.outcome, events.c.epoch)
            ).all()
            refusals = (
                conn.execute(
                    select(events.c.outcome_reason)
                    .where(events.c.order_id == order_id, events.c.outcome == "refused")
                    .distinct()
                )
                .scalars()
                .all()
            )
    finally:
        store.dispose()
    counted = ", ".join(f"{k} {o} e{e}×{n}" for k, o, e, n in rows)
    return counted + ("; refused: " + " | ".join(refusals) if refusals else "")


def tear_down(procs: list, proxy: Proxy, folder: Path) -> None:
    """End a run's bench processes, the proxy and their folder (a run that failed too)."""
    for p in procs:
        if p.proc.poll() is None:
            p.proc.kill()
    proxy.cut()
    shutil.rmtree(folder, ignore_errors=True)


def converge(
    central: str,
    paths: list[Path],
    since: float,
    limit_s: float,
    *,
    at_replay: Callable[[], None] | None = None,
) -> tuple[float | None, float | None]:
    """Wait (`limit_s` at most) until every outbox of `paths` is empty (then `at_replay` is
    called), then until every copy agrees with central; the seconds from `since` (monotonic)
    to each (None: not in time — then what never agreed, and where each copy's pull is, is
    named on stderr)."""
    replay_s = converge_s = None
    while time.monotonic() - since < limit_s:
        if replay_s is None and not any(unsent(path) for path in paths):
            replay_s = time.monotonic() - since
            if at_replay is not None:
                at_replay()
        if replay_s is not None:
            truth = image(central)
            if all(image(f"sqlite:///{path}") == truth for path in paths):
                converge_s = time.monotonic() - since
                break
        time.sleep(0.1)
    if converge_s is None:
        explain_no_convergence(central, paths)
        truth = image(central)
        for path in paths:
            for said in differences(truth, image(f"sqlite:///{path}")):
                print(f"{path.stem} ({unsent(path)} unsent): {said}", file=sys.stderr)
    return replay_s, converge_s


def unsent(path: Path) -> int:
    from stationd.store.database import Store
    from stationd.store.outbox import backlog

    store = Store(f"sqlite:///{path}")
    try:
        with store.read() as conn:
            return backlog(conn).count
    finally:
        store.dispose()


def acknowledged(path: Path) -> list[tuple[str, str, str, int | None]]:
    """(key, outcome, kind, line id of an item op) of each event central answered."""
    from sqlalchemy import select

    from stationd.store.database import Store
    from stationd.store.tables import events

    store = Store(f"sqlite:///{path}")
    try:
        with store.read() as conn:
            rows = conn.execute(
                select(events.c.key, events.c.outcome, events.c.kind, events.c.payload).where(
                    events.c.outcome.is_not(None)
                )
            ).all()
    finally:
        store.dispose()
    return [(k, o, kind, json.loads(p or "{}").get("line_id")) for k, o, kind, p in rows]


def check(central: str, paths: list[Path], won: list[tuple[str, int, int | None]]) -> dict:
    from sqlalchemy import select

    from stationd.store.database import Store
    from stationd.store.tables import order_lines, sync_ops, sync_tasks

    store = Store(central)
    with store.read() as conn:
        # orders with a delivery central accepted as a physical fact that did not fit (the
        # admin's task): a report-in ships everything left (R14), so one whose item scans
        # central refused puts delivered above the accepted scans without any op counted twice
        reports_with_task = set(
            conn.execute(
                select(sync_tasks.c.order_id).where(
                    sync_tasks.c.kind.in_(("order.partial_delivery", "order.shipped"))
                )
            ).scalars()
        )
        at_central = {
            k: (o, s, order, epoch)
            for k, o, s, order, epoch in conn.execute(
                select(
                    sync_ops.c.key,
                    sync_ops.c.outcome,
                    sync_ops.c.station,
                    sync_ops.c.order_id,
                    sync_ops.c.epoch,
                )
            )
        }
        held = {}
        order_of = {}
        for line, order_id, packed, delivered in conn.execute(
            select(
                order_lines.c.id,
                order_lines.c.order_id,
                order_lines.c.packed,
                order_lines.c.delivered,
            )
        ):
            held[line] = packed + delivered
            order_of[line] = order_id
        ops_of: dict[int, list] = {}
        for row in conn.execute(
            select(
                sync_ops.c.order_id,
                sync_ops.c.kind,
                sync_ops.c.outcome,
                sync_ops.c.station,
                sync_ops.c.epoch,
            ).order_by(sync_ops.c.order_id)
        ):
            ops_of.setdefault(row[0], []).append(tuple(row[1:]))
    store.dispose()
    lost = duplicated = unmatched = 0
    items: Counter[int] = Counter()
    for path in paths:
        for key, outcome, kind, line in acknowledged(path):
            if key not in at_central or at_central[key][0] != outcome:
                lost += 1
            elif outcome == "accepted" and line is not None:
                items[line] += {"order.item_packed": 1, "order.item_unpacked": -1}.get(kind, 0)
    for line, count in held.items():
        if count != items[line]:
            order_id = order_of[line]
            print(
                f"line {line} (order {order_id}): central holds {count} packed + delivered, "
                f"the benches' accepted item ops say {items[line]}; central's ops of the "
                f"order (kind, outcome, station, epoch): {ops_of.get(order_id)}",
                file=sys.stderr,
            )
            for path in paths:
                print(f"  {path.stem}: {outcomes_of(path, order_id)}", file=sys.stderr)
        lost += max(0, items[line] - count)
        if order_of[line] in reports_with_task:
            unmatched += max(0, count - items[line])
        else:
            duplicated += max(0, count - items[line])
    winners: dict[tuple[int, int | None], set[str]] = {}
    for station, order, epoch in won:
        winners.setdefault((order, epoch), set()).add(station)
    stations_by_epoch: dict[tuple[int, int], set[str]] = {}
    for outcome, station, order, epoch in at_central.values():
        if outcome == "accepted" and epoch is not None:
            stations_by_epoch.setdefault((order, epoch), set()).add(station)
    double = sum(1 for s in winners.values() if len(s) > 1)
    double += sum(1 for s in stations_by_epoch.values() if len(s) > 1)
    return {"lost": lost, "duplicated": duplicated, "unmatched": unmatched, "double_claims": double}


def events_count(path: Path) -> int:
    from sqlalchemy import func, select

    from stationd.store.database import Store
    from stationd.store.tables import events

    store = Store(f"sqlite:///{path}")
    try:
        with store.read() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar_one()
    finally:
        store.dispose()


def explain_no_convergence(central: str, paths: list[Path]) -> None:
    """Print central's pull window (its snapshot's xmin, the transactions holding it back)
    and each copy's pull state, to stderr."""
    from sqlalchemy import text

    from stationd.store import local_copy
    from stationd.store.database import Store

    store = Store(central)
    with store.read() as conn:
        xmin = conn.execute(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")).scalar()
        top = conn.execute(text("SELECT max(xid)::text FROM sync_changes")).scalar()
        holding = conn.execute(
            text(
                "SELECT pid, application_name, state, backend_xid::text, backend_xmin::text,"
                " now() - xact_start, left(query, 80) FROM pg_stat_activity"
                " WHERE backend_xid IS NOT NULL OR backend_xmin IS NOT NULL"
            )
        ).all()
    store.dispose()
    print(f"central: snapshot xmin {xmin}, newest feed xid {top}", file=sys.stderr)
    for row in holding:
        print(f"  holding: {tuple(row)}", file=sys.stderr)
    for path in paths:
        copy = Store(f"sqlite:///{path}")
        with copy.read() as conn:
            state = local_copy.read_state(conn)
        copy.dispose()
        print(
            f"{path.stem}: cursor {state.cursor}, last pull {state.last_at}, "
            f"error {state.last_error!r}, skipped {len(state.skipped)}",
            file=sys.stderr,
        )


def central_now(central: str) -> object:
    from sqlalchemy import func, select

    from stationd.store.database import Store

    store = Store(central)
    with store.read() as conn:
        now = conn.execute(select(func.now())).scalar_one()
    store.dispose()
    return now


def applied_rate(central: str, since: object) -> tuple[float | None, float | None]:
    """Central's apply rate for the ops it took since `since` (its clock): (ops per second of
    central's time applying them, ops per second from the first op to now).

    The first is the figure: the seconds counted are those in which at least one applying
    transaction was open (from its start, `received_at`, to its commit, its commit
    timestamp) — a bench's push backing off after the outage, with central idle, is not
    central's time. The second, the old figure, counts the wall time from the first op's
    transaction to the moment every outbox was seen empty: it charges central for the
    pushes' jittered back-off (up to seconds per bench after the network returns) and for
    the answers' writing and this script's polling."""
    from sqlalchemy import text

    from stationd.store.database import Store

    store = Store(central)
    with store.read() as conn:
        # one row per applying transaction (a group of ops shares its start and commit)
        rows = conn.execute(
            text(
                "SELECT received_at, pg_xact_commit_timestamp(xmin) AS committed, count(*) "
                "FROM sync_ops WHERE received_at > :since GROUP BY xmin, received_at"
            ),
            {"since": since},
        ).all()
        now = conn.execute(text("SELECT now()")).scalar_one()
    store.dispose()
    if not rows:
        return None, None
    count = sum(n for _, _, n in rows)
    busy, end = 0.0, None
    for start, commit, _ in sorted(rows, key=lambda r: r[0]):
        if end is None or start > end:
            busy += (commit - start).total_seconds()
            end = commit
        elif commit > end:
            busy += (commit - end).total_seconds()
            end = commit
    wall = (now - min(r[0] for r in rows)).total_seconds()
    return (count / busy if busy > 0 else None), (count / wall if wall > 0 else None)


class StatementCost:
    """What central's statements cost from now on (pg_stat_statements; the cluster started
    with it when STATIOND_BENCH_PGSS is set): `show` prints the costliest on stderr."""

    def __init__(self, central: str) -> None:
        from sqlalchemy import create_engine, text

        self.engine = create_engine(central, isolation_level="AUTOCOMMIT")
        with self.engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            conn.execute(text("SELECT pg_stat_statements_reset()"))

    def show(self, top: int = 15) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT calls, rows, total_exec_time, query FROM pg_stat_statements "
                    "WHERE query NOT LIKE '%pg_stat_statements%' "
                    "ORDER BY total_exec_time DESC LIMIT :top"
                ),
                {"top": top},
            ).all()
            total = conn.execute(
                text("SELECT sum(calls), sum(total_exec_time) FROM pg_stat_statements")
            ).one()
        self.engine.dispose()
        print(f"central: {total[0]} statements, {total[1]:.0f} ms executing", file=sys.stderr)
        for calls, n, ms, query in rows:
            said = " ".join(query.split())[:150]
            print(f"  {calls:6d} calls {n:7d} rows {ms:8.1f} ms  {said}", file=sys.stderr)


def sync_ops_count(central: str) -> int:
    from sqlalchemy import func, select

    from stationd.store.database import Store
    from stationd.store.tables import sync_ops

    store = Store(central)
    with store.read() as conn:
        n = conn.execute(select(func.count()).select_from(sync_ops)).scalar_one()
    store.dispose()
    return n


def run(cluster: OwnCluster, benches: int, args: argparse.Namespace) -> dict:
    from sqlalchemy import create_engine, text

    from stationd.store.central_link import central_engine
    from stationd.store.database import Store
    from stationd.sync.pull import pull_once
    from stationd.sync.push import Pusher

    db = f"bench_{benches}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    central = cluster.url(db)
    rng = random.Random(benches)
    fill_central(central, args.orders, benches, rng)
    proxy = Proxy(cluster.port)
    via_proxy = cluster.url(db, proxy.port)
    folder = Path(tempfile.mkdtemp(prefix="stationd-sync-copies-"))
    paths, procs = [], []
    pool = list(range(FIRST_ORDER, FIRST_ORDER + args.orders))
    try:
        engine = central_engine(central, timeout_s=10, server_timeouts=False)
        for b in range(benches):
            path = folder / f"bench-{b}.sqlite"
            copy = Store(f"sqlite:///{path}")
            copy.upgrade()
            Pusher(copy, central, timeout_s=10).begin()  # synced from its first day
            pull_once(copy, engine)  # the copy as a first pull makes it
            copy.dispose()
            paths.append(path)
        engine.dispose()
        for b in range(benches):
            procs.append(Bench(via_proxy, paths[b], f"bench-{b}", BIG_FIRST + b, pool))
        # 1. pack as fast as they can
        before = sync_ops_count(central)
        written = sum(events_count(path) for path in paths)
        started = time.monotonic()
        for p in procs:
            p.send(f"pack {args.seconds}")
        packed = [p.answer() for p in procs]
        wall = time.monotonic() - started
        scans = sum(r["scans"] for r in packed)
        # what central applied while they packed: bounded by what the benches wrote (the
        # push runs behind by up to a second); central's own rate is measured in phase 2
        packing_ops = (sync_ops_count(central) - before) / wall
        written = (sum(events_count(path) for path in paths) - written) / wall
        behind = sum(unsent(path) for path in paths)
        print(
            f"{benches} benches: {scans} scans in {wall:.1f} s, "
            f"{sum(r['opened'] for r in packed)} orders opened, "
            f"{sum(r['refused'] for r in packed)} held elsewhere; "
            f"benches wrote {written:.0f} ops/s, "
            f"central applied {packing_ops:.0f} ops/s, {behind} unsent at the end",
            flush=True,
        )
        # 2. a backlog written offline, then the network returns
        for p in procs:
            p.send("open")
        for p in procs:
            p.answer()
        while any(unsent(path) for path in paths):  # start from an empty outbox
            time.sleep(0.2)
        proxy.cut()
        share = -(-args.backlog // benches)
        for p in procs:
            p.send(f"scan {share}")
        for p in procs:
            p.answer()
        backlog = sum(unsent(path) for path in paths)
        healed_at = central_now(central)
        statements = StatementCost(central) if os.environ.get("STATIOND_BENCH_PGSS") else None
        proxy.heal()
        central_ops = central_ops_wall = None

        def replayed() -> None:
            nonlocal central_ops, central_ops_wall
            central_ops, central_ops_wall = applied_rate(central, healed_at)
            if statements is not None:
                statements.show()

        replay_s, converge_s = converge(
            central, paths, time.monotonic(), args.converge_limit, at_replay=replayed
        )
        results = []
        for p in procs:
            p.send("stop")
        for p in procs:
            line = p.proc.stdout.readline()
            p.proc.wait(timeout=60)
            results.append(json.loads(line))
        won = [(f"bench-{b}", o, e) for b, r in enumerate(results) for o, e in r["won"]]
        checked = check(central, paths, won)
        claim_ms = [ms for r in results for ms in r["claim_ms"]]
        asked_ms = [ms for r in results for ms in r["claim_asked_ms"]]
        claim_cpu_ms = [ms for r in results for ms in r["claim_cpu_ms"]]
        print(
            "opens that asked central, s into the packing phase: "
            + ", ".join(str(at) for r in results for at in r["claim_asked_at"]),
            file=sys.stderr,
        )
        report_ms = [ms for r in results for ms in r["report_ms"]]
        report_cpu_ms = [ms for r in results for ms in r["report_cpu_ms"]]
        floor_ms = [ms for r in results for ms in r["floor_ms"]]
        out = {
            "benches": benches,
            "scans_per_s": round(scans / wall, 1),
            "report_ins": len(report_ms),
            "report_in_p50_ms": round(percentile(report_ms, 50), 1),
            "report_in_p99_ms": round(percentile(report_ms, 99), 1),
            "report_in_cpu_p50_ms": round(percentile(report_cpu_ms, 50), 1),
            "report_in_cpu_p99_ms": round(percentile(report_cpu_ms, 99), 1),
            # the floor at this load: 1 ms of a packer thread's CPU in plain Python, on the wall
            "cpu_1ms_wall_p50_ms": round(percentile(floor_ms, 50), 1),
            "cpu_1ms_wall_p99_ms": round(percentile(floor_ms, 99), 1),
            "claims": len(claim_ms),
            "claim_p50_ms": round(percentile(claim_ms, 50), 1),
            "claim_p99_ms": round(percentile(claim_ms, 99), 1),
            "claim_cpu_p50_ms": round(percentile(claim_cpu_ms, 50), 2),
            "claim_cpu_p99_ms": round(percentile(claim_cpu_ms, 99), 2),
            "claims_asking_central": len(asked_ms),
            "claim_asking_central_p99_ms": round(percentile(asked_ms, 99), 1) if asked_ms else None,
            "central_ops_per_s": round(central_ops, 1) if central_ops else None,
            "central_ops_per_s_wall": round(central_ops_wall, 1) if central_ops_wall else None,
            "central_ops_per_s_packing": round(packing_ops, 1),
            "ops_written_per_s": round(written, 1),  # what the benches gave central to apply
            "unsent_at_end": behind,
            "backlog_ops": backlog,
            "replay_ops_per_s": round(backlog / replay_s, 1) if replay_s else None,
            "converge_s": round(converge_s, 2) if converge_s is not None else None,
            **checked,
        }
        print(json.dumps(out), flush=True)
        return out
    finally:
        tear_down(procs, proxy, folder)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        central, path, name, big, pool = sys.argv[2:7]
        child(
            central,
            path,
            name,
            int(big),
            [int(i) for i in pool.split(",")],
            zlib.crc32(name.encode()),
        )
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benches", default="2,4,8")
    parser.add_argument("--seconds", type=float, default=20.0, help="packing phase (20)")
    parser.add_argument("--orders", type=int, default=3000, help="packing orders in the pool")
    parser.add_argument("--backlog", type=int, default=1000, help="ops written offline (1000)")
    parser.add_argument("--converge-limit", type=float, default=120.0)
    args = parser.parse_args()
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[:3]}", flush=True)
    cluster = OwnCluster()
    runs = []
    try:
        for benches in (int(b) for b in args.benches.split(",")):
            runs.append(run(cluster, benches, args))
    finally:
        cluster.close()
    with open("/proc/loadavg") as f:
        print(f"load average at end: {f.read().split()[:3]}", flush=True)
    last = runs[-1]
    keys = ("benches", "scans_per_s", "report_in_p99_ms", "claim_p99_ms", "central_ops_per_s")
    keys += ("cpu_1ms_wall_p99_ms",)
    print(
        json.dumps(
            {
                **{k: last[k] for k in keys},
                "replay_ops_per_s": last["replay_ops_per_s"],
                "converge_s": last["converge_s"],
                "double_claims": sum(r["double_claims"] for r in runs),
                "lost": sum(r["lost"] for r in runs),
                "duplicated": sum(r["duplicated"] for r in runs),
                "unmatched": sum(r["unmatched"] for r in runs),
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
