"""End to end: bytes on a kernel pty → serial scanner → bench → SQLite → SSE on the bench page.

The station runs as `stationd serve` runs it: real waitress server on a loopback port, real
serial scanner thread on a pty, real database file. The test reads the kiosk's event stream like
the browser does.
"""

from __future__ import annotations

import http.client
import os
import queue
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sse_stream import sse_messages

from stationd.events import DeviceStateChanged
from stationd.station import Station
from stationd.store.tables import order_lines, stock


class SseClient:
    """Reads `event:`/`data:` messages from the kiosk's stream in a thread of its own."""

    def __init__(self, port: int, path: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type", "").startswith("text/event-stream")
        self.messages: queue.Queue[tuple[str, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for message in sse_messages(self.response):
            self.messages.put(message)

    def next(self, containing: str, timeout: float = 5.0) -> str:
        """The next `bench` message whose HTML contains `containing`."""
        while True:
            event, data = self.messages.get(timeout=timeout)
            if event == "bench" and containing in data:
                return data

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def running_station(make_station, ptys, make_shop) -> Iterator[tuple[Station, int]]:
    scanner = ptys()
    station = make_station(
        name="e2e", served=True, scanners=[{"name": "gun", "kind": "serial", "port": scanner.path}]
    )
    shop = make_shop(station.store)
    shop.product("A", on_hand=5, name="Termos blå", number=1)
    shop.product("B", on_hand=5, name="Vantar röd", number=2)
    shop.order([("A", 2), ("B", 1)], status="packing", reserve=True, order_id=1042)
    states = station.bus.queue(DeviceStateChanged)
    station.start()
    try:
        while (event := states.get(timeout=5)) is not None and event.state != "connected":
            pass
        assert event is not None, "the serial scanner never connected to the pty"
        yield station, scanner.master
    finally:
        station.stop()


def lines(station: Station) -> dict[str, int]:
    with station.store.read() as conn:
        return dict(conn.execute(select(order_lines.c.sku, order_lines.c.packed)).all())


EAN_A = b"7300000000011"


def test_r12_scan_on_the_serial_port_shows_on_the_bench_page_over_sse(running_station):
    station, master = running_station
    sse = SseClient(station.server.effective_port, "/events/bench")
    try:
        os.write(master, b"ORD-1042\r\n")
        opened = sse.next("Order 1042 open")
        assert "Termos blå" in opened and "0 / 2" in opened

        os.write(master, b"]E0" + EAN_A + b"\r")
        ticked = sse.next("Packed Termos blå: 1 of 2.")
        assert 'class="outcome ok"' in ticked and "1 / 2" in ticked
        assert lines(station) == {"A": 1, "B": 0}

        os.write(master, b"4006381333931\r")  # a real EAN, not in this order
        wrong = sse.next("Wrong item")
        assert 'class="outcome error"' in wrong and 'data-sound="error"' in wrong
        assert lines(station) == {"A": 1, "B": 0}
    finally:
        sse.close()

    # The page itself, drawn afresh, shows what the stream showed.
    conn = http.client.HTTPConnection("127.0.0.1", station.server.effective_port, timeout=5)
    conn.request("GET", "/bench")
    page = conn.getresponse().read().decode()
    assert "Order 1042" in page and "1 / 2" in page and "Wrong item" in page


def test_garbage_and_overlong_lines_on_the_serial_port_are_shown_and_change_nothing(
    running_station,
):
    station, master = running_station
    with station.store.read() as conn:
        before = conn.execute(select(stock)).all()
    sse = SseClient(station.server.effective_port, "/events/bench")
    try:
        os.write(master, b"\x01\x02\x03\xff\r")
        assert "Unreadable scan" in sse.next("Unreadable scan")
        os.write(master, b"9" * 600 + b"\r")
        assert "longer than 256 bytes" in sse.next("longer than 256 bytes")
        os.write(master, b"ORD-1042\r")  # and the port still works after both
        sse.next("Order 1042 open")
    finally:
        sse.close()
    with station.store.read() as conn:
        assert conn.execute(select(stock)).all() == before
    assert lines(station) == {"A": 0, "B": 0}
