"""The floor under scan_to_event: how long this machine's kernel takes to hand a code written
to a pty to a reader blocked on the other end, with no stationd code at all.

If this p99 is above bench/devices.py's target, no scanner code can meet it on this machine.

    .venv/bin/python bench/pty_floor.py [--scans 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import threading
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from percentiles import percentile


def pty_latencies(scans: int, rate_per_s: float = 50.0) -> list[float]:
    """Milliseconds from the last byte written to the master to the reader having it."""
    master, slave = os.openpty()
    tty.setraw(slave)
    took: list[float] = []
    written = [0.0]
    arrived = threading.Event()

    def reader() -> None:
        while len(took) < scans:
            select.select([slave], [], [])
            os.read(slave, 64)
            took.append((time.perf_counter() - written[0]) * 1000)
            arrived.set()

    threading.Thread(target=reader, daemon=True).start()
    for _ in range(scans):
        arrived.clear()
        written[0] = time.perf_counter()
        os.write(master, b"7300000000011\r")
        arrived.wait(1.0)
        time.sleep(1.0 / rate_per_s)
    os.close(master)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    p99s = []
    for run in range(args.runs):
        took = pty_latencies(args.scans)
        p99s.append(round(percentile(took, 99), 3))
        print(f"run {run + 1}: p50 {percentile(took, 50):.3f} ms  p99 {p99s[-1]:.3f} ms")
    print(json.dumps({"pty_p99_ms": p99s}))


if __name__ == "__main__":
    main()
