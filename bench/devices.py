"""Device benchmarks (issue 3): how fast a scan reaches the bus, a job reaches the wire, a pick
list becomes bytes, and how many frames a second the serial decoder takes.

    .venv/bin/python bench/devices.py [--scans 1000] [--jobs 1000]

Prints each figure, then one JSON line:
{"scan_to_event_p99_ms": …, "queue_to_wire_p99_ms": …, "picklist_render_ms": …, "frames_per_s": …}
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import tty
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from percentiles import percentile

from stationd.core.orders import Order, OrderLine, OrderStatus
from stationd.core.picklist import build_picklist
from stationd.devices.printers.escpos_network import NetworkTransport
from stationd.devices.printers.escpos_printer import EscposPrinter
from stationd.devices.rendering.escpos import render
from stationd.devices.scanners.frames import FrameDecoder
from stationd.devices.scanners.serial import SerialScanner
from stationd.events import Bus, DeviceStateChanged, ScanRead
from stationd.services.paper import document_in_language
from stationd.services.printing import PrintService, PrintWorker
from stationd.store.database import Store


def scan_to_event(scans: int, rate_per_s: float) -> list[float]:
    """Milliseconds from the last byte of a scan written to a pty to its ScanRead on the bus."""
    master, slave = os.openpty()
    tty.setraw(slave)
    bus = Bus()
    arrived: dict[str, float] = {}
    done = threading.Event()

    def on_scan(event) -> None:  # type: ignore[no-untyped-def]
        arrived[event.code] = time.perf_counter()
        if len(arrived) == scans:
            done.set()

    bus.subscribe(on_scan, ScanRead)
    states = bus.queue(DeviceStateChanged)
    scanner = SerialScanner("bench", bus, os.ttyname(slave))
    scanner.start()
    while (state := states.get(timeout=5)) is not None and state.state != "connected":
        pass
    if state is None:
        raise SystemExit("the serial scanner never connected to the pty")
    sent: dict[str, float] = {}
    gap = 1.0 / rate_per_s
    try:
        for n in range(scans):
            code = f"{7310865000000 + n:013d}"
            os.write(master, code.encode() + b"\r")
            sent[code] = time.perf_counter()
            time.sleep(gap)
        if not done.wait(10):
            print(f"LOST: {scans - len(arrived)} of {scans} scans never reached the bus")
    finally:
        scanner.stop()
        os.close(master)
        os.close(slave)
    return [(arrived[c] - sent[c]) * 1000 for c in sent if c in arrived]


def frames_per_second(frames: int = 200_000) -> float:
    """Serial frame decoder throughput on typical EAN-13 frames fed in 4 KiB chunks."""
    data = b"".join(f"]E0{7310865000000 + n:013d}\r\n".encode() for n in range(frames))
    decoder = FrameDecoder()
    start = time.perf_counter()
    now = 0.0
    count = 0
    for i in range(0, len(data), 4096):
        count += sum(1 for item in decoder.feed(data[i : i + 4096], now) if hasattr(item, "code"))
    elapsed = time.perf_counter() - start
    assert count == frames, count
    return frames / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()

    latencies = scan_to_event(args.scans, rate_per_s=50)
    print(
        f"scan → ScanRead: {len(latencies)} scans at 50/s over a pty: "
        f"p50 {statistics.median(latencies):.3f} ms, p99 {percentile(latencies, 99):.3f} ms, "
        f"max {max(latencies):.3f} ms"
    )
    fps = frames_per_second()
    print(f"frame decoder: {fps:,.0f} frames/s")

    result = {
        "scans_lost": args.scans - len(latencies),
        "scan_to_event_p99_ms": round(percentile(latencies, 99), 3),
        "frames_per_s": round(fps),
    }
    result.update(printing_figures(args.jobs))
    print(json.dumps(result))


def loopback_escpos(port_out, arrivals) -> None:  # type: ignore[no-untyped-def]
    """An ESC/POS network printer on 127.0.0.1, in a process of its own as a real printer is:
    answers DLE EOT status as a healthy printer does, and reports when the first byte of each
    job arrived (jobs carry a "JOB<n>;" marker). perf_counter is CLOCK_MONOTONIC on Linux, so
    its times compare with the benchmark's."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port_out.send(sock.getsockname()[1])
    while True:
        conn, _ = sock.accept()
        with conn:
            first = None
            data = b""
            while chunk := conn.recv(65536):
                first = first or time.perf_counter()
                data += chunk
                while data.startswith(b"\x10\x04") and len(data) >= 3:
                    conn.sendall(b"\x12")  # DLE EOT n: online, paper present, no error
                    data, first = data[3:], None
                if b"JOB" in data and b";" in data[data.index(b"JOB") :]:
                    at = data.index(b"JOB")
                    arrivals.send((int(data[at + 3 : data.index(b";", at)]), first))
                    data = b""


def queue_to_wire(jobs: int) -> list[float]:
    """Milliseconds from a job's commit (queued: it survives a power cut from then on) to its
    first byte at the printer; the worker asks the printer's status (DLE EOT) before each job."""
    port_in, port_out = multiprocessing.Pipe(duplex=False)
    arrivals_in, arrivals_out = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(
        target=loopback_escpos, args=(port_out, arrivals_out), daemon=True
    )
    server.start()
    port = port_in.recv()
    folder = Path(tempfile.mkdtemp(prefix="stationd-bench-"))
    store = Store(f"sqlite:///{folder / 'bench.sqlite'}")
    store.upgrade()
    bus = Bus()
    printer = EscposPrinter("bench", NetworkTransport("127.0.0.1", port, 5.0))
    worker = PrintWorker(store, bus, printer, max_job_age_min=None, backoff_max_s=1.0)
    service = PrintService(store, bus, {"bench": worker}, {"receipt": "bench"})
    service.start()
    latencies: list[float] = []
    with_commit: list[float] = []
    try:
        for n in range(jobs):
            payload = b"\x1b@JOB%d;" % n + b"Kvitto " * 60 + b"\x1dV\x00"
            start = time.perf_counter()
            with store.write() as conn:
                service.submit(conn, "receipt", payload)
            queued = time.perf_counter()  # committed: from here on the job survives a power cut
            job, first_byte = arrivals_in.recv()
            assert job == n, (job, n)
            latencies.append((first_byte - queued) * 1000)
            with_commit.append((first_byte - start) * 1000)
    finally:
        service.stop()
        store.dispose()
        server.terminate()
    print(
        f"  (from the start of the queueing transaction, its fsync included: "
        f"p99 {percentile(with_commit, 99):.2f} ms)"
    )
    return latencies


def picklist_render_ms(lines: int = 40, rounds: int = 200) -> float:
    """Best-of-rounds milliseconds to build a pick list of `lines` lines, say its captions in
    Swedish and render it (what `services.paper.render_document` does)."""
    order = Order(
        id=104_2,
        status=OrderStatus.PACKING,
        placed_at=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
        customer_name="Åsa Öberg-Ødegård",
        lines=[
            OrderLine(sku=f"SKU-{i:05d}", name=f"Ullsockor grå storlek {i % 5 + 36}",
                      quantity=1 + i % 3, unit_price_minor=14900, id=i)
            for i in range(lines)
        ],
    )  # fmt: skip
    locations = {
        f"SKU-{i:05d}": f"{'ABCDEFGH'[i % 8]}-{i % 20 + 1:02d}-{i % 5 + 1}" for i in range(lines)
    }
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        render(document_in_language(build_picklist(order, locations, language="sv")))
        best = min(best, time.perf_counter() - start)
    return best * 1000


def printing_figures(jobs: int) -> dict[str, float]:
    """queue → wire over a loopback ESC/POS printer, and the pick-list render time."""
    latencies = queue_to_wire(jobs)
    print(
        f"job queued → first byte at a loopback ESC/POS printer: {len(latencies)} jobs: "
        f"p50 {statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 99):.2f} ms"
    )
    render_ms = picklist_render_ms()
    print(f"40-line pick list → ESC/POS bytes (build + render, best of 200): {render_ms:.2f} ms")
    return {
        "queue_to_wire_p99_ms": round(percentile(latencies, 99), 2),
        "picklist_render_ms": round(render_ms, 2),
    }


if __name__ == "__main__":
    main()
