"""Scans during a pack-script run (issue 10, item 14): scan→screen while 100,000 orders move.

A real `stationd serve` runs in its own process with a serial scanner on a kernel pty, over a
SQLite shop of 100,000 open orders (the shop of bench/packscript.py) plus one order in packing
whose single line takes every scan. This process is the scanner and the touchscreen (the parts
of bench/kiosk_scans.py): it writes a code into the pty and waits for the SSE event that shows
the line's new packed count, one scan after the other at `--rate` a second.

Meanwhile it starts pack-script runs, each over the 100,000 orders (put back to `order`
between runs), in one of two ways (`--mode`):

- serve: "Run now" on the Tools page — the run goes on inside the serve process, beside the
  bench (the schedule runs it there too);
- cli: `stationd packscript` in a process of its own, against the same database file.

A scan is "during" a run when it was written between the run's `started_at` and its
`finished_at`, "after" it in the 2 s that follow; the same scans with no run going are the
baseline. Figures: scan→screen p50/p99/max during runs and without, the runs' seconds.

    python bench/scans_during_packscript.py [--orders 100000] [--runs 5] [--mode serve|cli]
        [--code /path/to/another/checkout]   # serve/run that checkout's stationd (before/after)
        [--samples FILE]   # every scan's ms during/after/without runs, to pool sittings

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tty
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kiosk_scans import BenchStream, csrf_token, start_station
from percentiles import percentile
from sqlalchemy import insert

from stationd.demo import ean13
from stationd.store.database import Store
from stationd.store.tables import order_lines, orders, products, stock

#: "After a run": the seconds after its end (what a run leaves behind: its checkpoint, the
#: memory it gives back).
AFTER_S = 2.0
#: The bench's own order: far above the demo shop's ids (1000…).
ORDER_ID = 9_000_001
BENCH_SKU = "BENCH-SCAN"


def build_template(path: Path, n_orders: int, items: int) -> str:
    """The shop of bench/packscript.py in `path` (built in a child, as that bench does), plus
    the bench's order in packing; returns the bench item's EAN."""
    url = f"sqlite:///{path}"
    here = Path(__file__).resolve().parent
    subprocess.run(
        [sys.executable, str(here / "packscript.py"), "--child", "build", str(n_orders), "-", url],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    code = ean13(4712)
    store = Store(url)
    with store.write() as conn:
        conn.execute(
            insert(products).values(
                sku=BENCH_SKU, name="Bench item", ean=code, gtin="0" + code, location="A-01"
            )
        )
        conn.execute(insert(stock).values(sku=BENCH_SKU, on_hand=items, reserved=items))
        conn.execute(
            insert(orders).values(
                id=ORDER_ID,
                status="packing",
                placed_at=datetime.now(UTC),
                customer_name="Bench Kund",
                customer_key="bench kund",
                paid=True,
            )
        )
        conn.execute(
            insert(order_lines).values(
                order_id=ORDER_ID, sku=BENCH_SKU, name="Bench item", gtin="0" + code, quantity=items
            )
        )
    store.dispose()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return code


def line_id(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id FROM order_lines WHERE order_id = ?", (ORDER_ID,)).fetchone()[
            0
        ]


class Scanner:
    """Writes a scan into the pty every 1/rate s, whatever the screen shows (as a packer goes
    on scanning), and keeps for each scan (written at, ms until the screen showed it counted).

    The screen may skip a count when scans queue up: a scan counts as shown when the screen
    first shows its count or a higher one.
    """

    def __init__(self, master: int, stream: BenchStream, code: str, rate: float) -> None:
        self.master, self.stream, self.code, self.gap = master, stream, code, 1.0 / rate
        self.written: list[tuple[float, float]] = []  # scan n-1: (wall clock, perf counter)
        self.shown: list[float] = []  # scan n-1: perf counter when the screen showed it
        self.failed: BaseException | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._reader = threading.Thread(target=self._read, daemon=True)

    @property
    def samples(self) -> list[tuple[float, float]]:
        with self._lock:
            return [
                (wall, (seen - written) * 1000)
                for (wall, written), seen in zip(self.written, self.shown, strict=False)
            ]

    def start(self) -> None:
        self._writer.start()
        self._reader.start()

    def stop(self) -> None:
        self._stop.set()
        self._writer.join()
        deadline = time.monotonic() + 30
        while len(self.shown) < len(self.written) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.failed is not None:
            raise self.failed
        if len(self.shown) < len(self.written):
            raise RuntimeError(
                f"{len(self.written) - len(self.shown)} scans never reached the screen"
            )

    def caught_up(self, timeout_s: float = 120) -> None:
        """Wait until the screen shows every scan written so far (a backlog has drained)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.shown) >= len(self.written) - 1:
                    return
            time.sleep(0.02)
        raise RuntimeError("the bench did not catch up with the scans within 120 s")

    def quiet_window(self, seconds: float) -> tuple[float, float]:
        """`seconds` of scans with nothing else going on, once any backlog has drained."""
        self.caught_up()
        time.sleep(0.5)  # the catch-up's own last writes, the checkpoint after a run
        start = time.time()
        time.sleep(seconds)
        return start, time.time()

    def _write(self) -> None:
        try:
            start = time.perf_counter()
            n = 0
            while not self._stop.is_set():
                time.sleep(max(0.0, start + n * self.gap - time.perf_counter()))
                with self._lock:
                    self.written.append((time.time(), time.perf_counter()))
                os.write(self.master, f"{self.code}\r".encode())
                n += 1
        except BaseException as err:  # reported by stop()
            self.failed = err

    def _read(self) -> None:
        while True:
            count, at = self.stream.counts.get()
            with self._lock:
                while len(self.shown) < min(count, len(self.written)):
                    self.shown.append(at)


def put_back(db_path: Path) -> None:
    """Every order a run moved goes back to `order`, its stock unreserved: the next run does
    the same work again. Waits for the database like any writer."""
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "UPDATE orders SET status = 'order', packscript_run_id = NULL, updated_at = NULL "
            "WHERE packscript_run_id IS NOT NULL"
        )
        db.execute("UPDATE stock SET reserved = 0 WHERE sku != ?", (BENCH_SKU,))
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        db.close()


def latest_run(db_path: Path) -> tuple[int, str | None, str | None, str] | None:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(
            "SELECT id, started_at, finished_at, status FROM packscript_runs ORDER BY id DESC"
        ).fetchone()
    finally:
        db.close()


def _wall(stamp: str) -> float:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()


def one_run(
    mode: str, port: int, config: Path, env: dict[str, str], db_path: Path
) -> tuple[float, float, dict]:
    """Start a run, wait for it to end; (start, end) on the wall clock and what it did."""
    before = latest_run(db_path)
    last = before[0] if before else 0
    proc = None
    if mode == "serve":
        conn = http.client.HTTPConnection("127.0.0.1", port)
        token = csrf_token(conn)
        conn.request(
            "POST",
            "/tools/packscript/run",
            headers={
                "HX-Request": "true",
                "X-CSRF-Token": token,
                "Cookie": f"stationd_csrf={token}",
            },
        )
        answer = conn.getresponse()
        answer.read()
        conn.close()
        if answer.status >= 400:
            raise RuntimeError(f"the Tools page refused the run: {answer.status}")
    else:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stationd", "--config", str(config), "packscript"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.02)
        row = latest_run(db_path)
        if row and row[0] > last and row[2] is not None and row[3] != "running":
            end = _wall(row[2])  # as the run says: this process may notice it late
            if proc is not None:
                out = proc.communicate(timeout=60)[0]
                if proc.returncode:
                    raise RuntimeError(f"stationd packscript failed: {out}")
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
                moved, looked = db.execute(
                    "SELECT moved, looked_at FROM packscript_runs WHERE id = ?", (row[0],)
                ).fetchone()
            return _wall(row[1]), end, {"run": row[0], "moved": moved, "looked_at": looked}
    raise RuntimeError("the pack-script run did not end within 300 s")


def figures(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
    }


def measure(template: Path, code: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="stationd-scans-packscript-") as tmp:
        state_dir = Path(tmp)
        if args.keep_log:
            state_dir = Path(args.keep_log)
            shutil.rmtree(state_dir, ignore_errors=True)
            state_dir.mkdir(parents=True)
        db_path = state_dir / "stationd.sqlite"
        shutil.copyfile(template, db_path)
        env = dict(os.environ)
        if args.code:
            # `python -m` puts the working folder first on the path: that checkout's stationd.
            env["PYTHONPATH"] = str(Path(args.code).resolve())
            os.chdir(env["PYTHONPATH"])
        master, slave = os.openpty()
        tty.setraw(slave)
        command = [sys.executable, "-m", "stationd"]
        old_env = dict(os.environ)
        os.environ.update(env)  # start_station passes its own environment on
        try:
            proc, port = start_station(state_dir, os.ttyname(slave), command)
        finally:
            os.environ.clear()
            os.environ.update(old_env)
        scanner = None
        try:
            time.sleep(1.0)  # the scanner opens its port
            stream = BenchStream(port, line_id(db_path))
            time.sleep(0.3)
            os.write(master, f"ORD-{ORDER_ID}\r".encode())
            stream.wait_for(0, timeout_s=30)
            scanner = Scanner(master, stream, code, args.rate)
            scanner.start()
            quiet: list[tuple[float, float]] = []  # no run going: the baseline
            runs: list[tuple[float, float, dict]] = []
            for n in range(args.runs):
                quiet.append(scanner.quiet_window(args.quiet_s))
                runs.append(one_run(args.mode, port, state_dir / "stationd.toml", env, db_path))
                print(f"run {n + 1}: {runs[-1][1] - runs[-1][0]:.2f} s, {runs[-1][2]}", flush=True)
                time.sleep(AFTER_S)  # the scans right after the run, before the bench's reset
                scanner.caught_up()
                put_back(db_path)
            quiet.append(scanner.quiet_window(args.quiet_s))
            scanner.stop()
            if args.keep_log:  # each scan: written (monotonic clock, as the station's log), ms
                with (state_dir / "scans.txt").open("w") as out:
                    for (_, at), (_, ms) in zip(scanner.written, scanner.samples, strict=False):
                        out.write(f"{at:.3f} {ms:.1f}\n")
        finally:
            if scanner is not None:
                scanner._stop.set()
            proc.terminate()
            proc.wait(timeout=30)
            os.close(master)
            os.close(slave)
    during = [ms for at, ms in scanner.samples if any(a <= at <= b for a, b, _ in runs)]
    after = [ms for at, ms in scanner.samples if any(b < at <= b + AFTER_S for _, b, _ in runs)]
    # Where in its run each of the slowest scans came (0: the run's start, 1: its end).
    slowest = sorted(
        (
            (ms, round((at - a) / (b - a), 2))
            for at, ms in scanner.samples
            for a, b, _ in runs
            if a <= at <= b
        ),
        reverse=True,
    )[:10]
    without = [ms for at, ms in scanner.samples if any(a <= at <= b for a, b in quiet)]
    if args.samples:  # every scan's ms, to pool several sittings
        Path(args.samples).write_text(
            json.dumps({"during_run": during, "after_run": after, "no_run": without})
        )
    return {
        "mode": args.mode,
        "code": args.code or "this checkout",
        "orders": args.orders,
        "runs": len(runs),
        "run_seconds": [round(b - a, 3) for a, b, _ in runs],
        "moved": [info["moved"] for _, _, info in runs],
        "during_run": figures(during),
        "after_run": figures(after),
        "no_run": figures(without),
        "slowest_during": [[round(ms, 1), where] for ms, where in slowest],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=20.0, help="scans a second")
    parser.add_argument("--quiet-s", type=float, default=3.0, help="seconds with no run, each")
    parser.add_argument("--mode", choices=["serve", "cli"], default="serve")
    parser.add_argument("--code", help="the checkout whose stationd serves and runs")
    parser.add_argument("--template", help="a shop built before (kept; made if missing)")
    parser.add_argument("--keep-log", metavar="DIR", help="run the station in DIR and keep it")
    parser.add_argument("--samples", metavar="FILE", help="write every scan's ms there (JSON)")
    args = parser.parse_args()
    items = 100_000
    if args.template:
        template = Path(args.template)
        if not template.exists():
            build_template(template, args.orders, items)
        code = ean13(4712)
        out = measure(template, code, args)
    else:
        with tempfile.TemporaryDirectory(prefix="stationd-scans-template-") as tmp:
            template = Path(tmp) / "shop.sqlite"
            code = build_template(template, args.orders, items)
            out = measure(template, code, args)
    for key in ("during_run", "after_run", "no_run"):
        print(f"{key:>12}: {out[key]}")
    print(f"run seconds: {out['run_seconds']}")
    print(f"slowest scans during runs (ms, where in the run): {out['slowest_during']}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
