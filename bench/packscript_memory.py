"""Benchmark: the resident memory of `stationd serve` over repeated pack-script runs.

Builds a shop of 100,000 open orders (bench/packscript.py's data), starts `stationd serve` on it
(SQLite, no devices, no schedule), and runs the pack script by hand from the kiosk's Tools page
N times (each run is started by a POST, as the admin's touch is, so each gets the runner's
thread). Before each run the shop is put back as it was (every order open, no stock reserved),
so every run does the whole 100,000-order job. After each run it reads the server's VmRSS, and
the run's own peak (VmHWM, started afresh before each run through /proc/<pid>/clear_refs).

It does that twice in one sitting, on two copies of the same shop: once with this tree's code,
once with the code of `--baseline-rev` (a git revision: a throw-away worktree of it is made and
served with PYTHONPATH pointing at it), by default the commit before the fix (issue 10: serve grew
75 → 431 MB after seven runs: an arena per runner thread, nothing given back).

    python bench/packscript_memory.py [--runs 20] [--orders 100000] [--baseline-rev REV]

Last line: one JSON object {"orders", "runs", "rss_mb", "baseline_rss_mb", "peak_mb",
"baseline_peak_mb", "last5_growth_mb", "baseline_last5_growth_mb"}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

BENCH = Path(__file__).resolve().parent
#: The last commit before the station capped its malloc arenas and trimmed after each run.
BEFORE_FIX = "e20c234"
sys.path.insert(0, str(BENCH))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def reset_peak(pid: int) -> None:
    """Start the process's peak RSS (VmHWM) afresh: each run's own peak is read after it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def reset_shop(db: Path) -> None:
    """Every order open again, no stock reserved: the next run does the whole job."""
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("UPDATE orders SET status = 'order' WHERE status = 'packing'")
        conn.execute("UPDATE stock SET reserved = 0")


def runs_done(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(
            "SELECT count(*) FROM packscript_runs WHERE status != 'running'"
        ).fetchone()[0]


class Kiosk:
    """The Tools page as a browser uses it: a page for the CSRF cookie, then the form's POST."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def wait_up(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self.opener.open(self.url + "/healthz", timeout=2).read()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("stationd serve did not answer")

    def run_packscript(self) -> None:
        page = self.opener.open(self.url + "/tools", timeout=30).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if token is None:
            token = re.search(r'"X-CSRF-Token": ?"([^"]+)"', page)
        assert token is not None, "no CSRF token on the Tools page"
        request = urllib.request.Request(
            self.url + "/tools/packscript/run",
            data=f"csrf_token={token.group(1)}".encode(),
            headers={"Origin": self.url},
            method="POST",
        )
        self.opener.open(request, timeout=30).read()


def serve_and_measure(db: Path, runs: int, code: Path) -> tuple[list[float], list[float]]:
    state = db.parent
    port = free_port()
    config = state / "stationd.toml"
    config.write_text(
        f'[station]\nname = "mem-bench"\nstate_dir = "{state}"\n'
        f"[kiosk]\nport = {port}\n[packscript]\ninterval_min = 0\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONPATH"] = str(code)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stationd", "--config", str(config), "serve"],
        env=env,
        # `-m` puts the working folder first on the path, before PYTHONPATH: started from
        # another checkout, the baseline's serve ran that checkout's code.
        cwd=code,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    figures: list[float] = []
    peaks: list[float] = []
    try:
        kiosk = Kiosk(f"http://127.0.0.1:{port}")
        kiosk.wait_up()
        print(f"  start: {rss_mb(proc.pid):.0f} MB", flush=True)
        for number in range(1, runs + 1):
            reset_shop(db)
            reset_peak(proc.pid)
            before = runs_done(db)
            started = time.perf_counter()
            kiosk.run_packscript()
            while runs_done(db) == before:
                time.sleep(0.1)
            time.sleep(2.0)  # the runner's bookkeeping after the commit, and the page's reads
            figures.append(rss_mb(proc.pid))
            peaks.append(rss_mb(proc.pid, "VmHWM"))
            seconds = time.perf_counter() - started
            print(
                f"  run {number:2d}: {figures[-1]:6.0f} MB after, {peaks[-1]:4.0f} MB peak"
                f"  ({seconds:.1f} s)",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return figures, peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--baseline-rev", default=BEFORE_FIX)
    args = parser.parse_args()
    from packscript import build

    from stationd.store.database import Store

    tree = BENCH.parent
    with tempfile.TemporaryDirectory(prefix="stationd-mem-") as tmp:
        before = Path(tmp) / "before"
        git = ["git", "-C", str(tree)]
        subprocess.run(
            [*git, "worktree", "add", "--detach", str(before), args.baseline_rev],
            check=True,
            capture_output=True,
        )
        results: dict[str, tuple[list[float], list[float]]] = {}
        try:
            for label, code in (("station", tree), ("baseline", before)):
                folder = Path(tmp) / f"{label}-state"
                folder.mkdir()
                db = folder / "stationd.sqlite"
                Store(f"sqlite:///{db}").upgrade()
                build(args.orders, [f"sqlite:///{db}"], scratch_check=False)
                print(f"{label} (code of {code}):", flush=True)
                results[label] = serve_and_measure(db, args.runs, code)
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(before)], check=False)
    (station, peaks), (baseline, baseline_peaks) = results["station"], results["baseline"]
    tail = min(5, args.runs - 1)
    print(
        json.dumps(
            {
                "orders": args.orders,
                "runs": args.runs,
                "rss_mb": [round(x) for x in station],
                "baseline_rss_mb": [round(x) for x in baseline],
                "peak_mb": [round(x) for x in peaks],
                "baseline_peak_mb": [round(x) for x in baseline_peaks],
                "last5_growth_mb": round(station[-1] - station[-1 - tail], 1),
                "baseline_last5_growth_mb": round(baseline[-1] - baseline[-1 - tail], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
