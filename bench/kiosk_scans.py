"""The kiosk's scan figures (issue 4): how long from a scan to the packer's screen.

A real `stationd serve` runs in its own process with a serial scanner on a kernel pty. This
process is the scanner (it writes codes into the pty's master) and the touchscreen (an SSE
client on loopback, reading /events/bench as the browser's htmx does):

- scan_to_screen: the last byte of a scan written to the pty → the SSE event carrying the line
  with its new packed count, received by the client;
- kiosk_post: the same scan typed into the kiosk's input (the form's htmx POST) → its answer,
  the fragment with the new count, received.

Used by bench/kiosk.py; runnable alone:  .venv/bin/python bench/kiosk_scans.py [--scans 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from percentiles import percentile
from sqlalchemy import insert

from stationd.demo import ean13
from stationd.store.database import Store
from stationd.store.tables import order_lines, orders, products, stock

ORDER_ID = 5001


def build_shop(state_dir: Path, items: int) -> tuple[str, int]:
    """One order in packing whose single line takes `items` scans; returns (EAN, line id)."""
    store = Store(f"sqlite:///{state_dir / 'stationd.sqlite'}")
    store.upgrade()
    code = ean13(4711)
    with store.write() as conn:
        conn.execute(
            insert(products).values(
                sku="BENCH", name="Bench item", ean=code, gtin="0" + code, location="A-01"
            )
        )
        conn.execute(insert(stock).values(sku="BENCH", on_hand=items, reserved=items))
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
        line = conn.execute(
            insert(order_lines).values(
                order_id=ORDER_ID, sku="BENCH", name="Bench item", gtin="0" + code, quantity=items
            )
        ).inserted_primary_key[0]
    store.dispose()
    return code, int(line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_station(state_dir: Path, pty_path: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    config = state_dir / "stationd.toml"
    config.write_text(
        f"""
[station]
name = "bench"
language = "en"
state_dir = "{state_dir}"
[kiosk]
port = {port}
[packscript]
interval_min = 0
[logging]
level = "WARNING"
[[scanners]]
name = "pty"
kind = "serial"
port = "{pty_path}"
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "stationd", "--config", str(config), "serve"],
        stdout=subprocess.DEVNULL,
        stderr=(state_dir / "serve.log").open("w"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                log = (state_dir / "serve.log").read_text()
                raise RuntimeError(f"stationd serve exited: {log}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("stationd serve did not start within 60 s")


class BenchStream:
    """An SSE client of /events/bench that hands each line count it sees to a queue."""

    def __init__(self, port: int, line_id: int) -> None:
        self.counts: queue.Queue[tuple[int, float]] = queue.Queue()
        self.row = re.compile(
            rf'id="line-{line_id}".*?(\d+)\s*/\s*(\d+)', re.DOTALL
        )  # the line's "packed / to pack"
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(
            b"GET /events/bench HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = self.sock.recv(65536)
            now = time.perf_counter()
            if not chunk:
                return
            buffer += chunk
            while b"\n\n" in buffer:
                message, buffer = buffer.split(b"\n\n", 1)
                found = self.row.search(message.decode("utf-8", "replace"))
                if found:
                    self.counts.put((int(found.group(1)), now))

    def wait_for(self, count: int, timeout_s: float = 5.0) -> float:
        """When the client received the line at `count` packed."""
        deadline = time.monotonic() + timeout_s
        while True:
            seen, at = self.counts.get(timeout=max(0.01, deadline - time.monotonic()))
            if seen == count:
                return at


def measure(scans: int = 1000, rate_per_s: float = 20.0) -> dict[str, float]:
    """scan_to_screen p50/p99 over `scans` pty scans and kiosk_post p50/p99 over as many posts."""
    with tempfile.TemporaryDirectory(prefix="stationd-kiosk-bench-") as tmp:
        state_dir = Path(tmp)
        code, line_id = build_shop(state_dir, 2 * scans)
        master, slave = os.openpty()
        tty.setraw(slave)
        proc, port = start_station(state_dir, os.ttyname(slave))
        try:
            time.sleep(1.0)  # the scanner opens its port
            stream = BenchStream(port, line_id)
            time.sleep(0.3)
            os.write(master, f"ORD-{ORDER_ID}\r".encode())
            stream.wait_for(0, timeout_s=10)
            serial_ms: list[float] = []
            gap = 1.0 / rate_per_s
            for n in range(1, scans + 1):
                os.write(master, f"{code}\r".encode())
                written = time.perf_counter()
                serial_ms.append((stream.wait_for(n) - written) * 1000)
                time.sleep(max(0.0, gap - (time.perf_counter() - written)))
            post_ms = kiosk_posts(port, code, line_id, first=scans + 1, count=scans, gap=gap)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            os.close(master)
            os.close(slave)
    return {
        "scan_to_screen_p50_ms": round(percentile(serial_ms, 50), 2),
        "scan_to_screen_p99_ms": round(percentile(serial_ms, 99), 2),
        "kiosk_post_p50_ms": round(percentile(post_ms, 50), 2),
        "kiosk_post_p99_ms": round(percentile(post_ms, 99), 2),
    }


def csrf_token(conn: http.client.HTTPConnection) -> str:
    """The token the station hands a browser with a page (it signs its tokens: none is made up)."""
    conn.request("GET", "/bench")
    response = conn.getresponse()
    response.read()
    cookie = response.getheader("Set-Cookie") or ""
    found = re.search(r"stationd_csrf=([^;]+)", cookie)
    if found is None:
        raise RuntimeError("the bench page set no CSRF cookie")
    return found.group(1)


def kiosk_posts(port: int, code: str, line_id: int, first: int, count: int, gap: float):
    """Milliseconds for the kiosk's htmx POST of a typed code to come back with the new count."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    row = re.compile(rf'id="line-{line_id}".*?(\d+)\s*/\s*(\d+)', re.DOTALL)
    token = csrf_token(conn)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "HX-Request": "true",
        "X-CSRF-Token": token,
        "Cookie": f"stationd_csrf={token}",
    }
    body = urlencode({"code": code})
    took: list[float] = []
    for n in range(first, first + count):
        start = time.perf_counter()
        conn.request("POST", "/bench/scan", body=body, headers=headers)
        html = conn.getresponse().read().decode()
        took.append((time.perf_counter() - start) * 1000)
        found = row.search(html)
        if not found or int(found.group(1)) != n:
            raise RuntimeError(f"the kiosk's answer to scan {n} does not show it packed")
        time.sleep(max(0.0, gap - (time.perf_counter() - start)))
    conn.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="scans a second")
    args = parser.parse_args()
    figures = measure(args.scans, args.rate)
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
