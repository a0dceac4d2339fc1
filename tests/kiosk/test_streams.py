"""Open live pages never lock up the kiosk (issue 10 item 4): a running station — waitress with its
16 threads on a loopback port, a serial scanner on a kernel pty — with many pages' streams held
open by real HTTP clients. Pages "on the LAN" connect from 127.0.0.2; the touchscreen's browser
from 127.0.0.1, as stationd-kiosk.service does."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import queue
import socket
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_waits import next_event
from sse_stream import sse_messages

from stationd.config import settings_from_dict
from stationd.events import DeviceStateChanged
from stationd.station import Station
from stationd.store.database import Store

EAN_A = b"7300000000011"
LAN = "127.0.0.2"
TOUCHSCREEN = "127.0.0.1"


class Stream:
    """One page's stream, held open from `source`: its status, and its messages as they come."""

    def __init__(self, port: int, path: str, source: str) -> None:
        self.conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=10, source_address=(source, 0)
        )
        self.conn.request("GET", path, headers={"Accept": "text/event-stream"})
        self.sock = self.conn.sock  # http.client lets go of it once the response is chunked
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.messages: queue.Queue[tuple[str, str]] = queue.Queue()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for message in sse_messages(self.response):
            self.messages.put(message)

    def next(self, event: str, containing: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            name, data = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if name == event and containing in data:
                return data

    def close(self) -> None:
        # The reader thread's file keeps the socket open past conn.close(): hang up for real.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


@pytest.fixture
def running_station(tmp_path: Path, make_shop) -> Iterator[tuple[Station, int]]:
    master, follower = os.openpty()
    tty.setraw(follower)
    settings = settings_from_dict(
        {
            "station": {"name": "streams", "state_dir": str(tmp_path), "language": "en"},
            "packscript": {"interval_min": 0},
            "kiosk": {"threads": 16, "sse_heartbeat_s": 1},
            "scanners": [{"name": "gun", "kind": "serial", "port": os.ttyname(follower)}],
        }
    )
    settings = dataclasses.replace(settings, kiosk=dataclasses.replace(settings.kiosk, port=0))
    seed = Store(settings.database_url())
    seed.upgrade()
    shop = make_shop(seed)
    shop.product("A", on_hand=5, name="Termos blå", number=1)
    shop.order([("A", 2)], status="packing", reserve=True, order_id=1042)
    seed.dispose()
    station = Station(settings)
    states = station.bus.queue(DeviceStateChanged)
    station.start()
    try:
        next_event(states, DeviceStateChanged, lambda e: e.state == "connected", within_s=5)
        yield station, master
    finally:
        station.stop()
        os.close(master)
        os.close(follower)


def healthz_within(station: Station, seconds: float) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", station.server.effective_port, timeout=seconds)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()


def open_pages(
    station: Station, n: int, source: str, path: str = "/events/bench?op=0"
) -> list[Stream]:
    port = station.server.effective_port
    return [Stream(port, path, source) for _ in range(n)]


def test_twenty_open_lan_pages_leave_healthz_and_the_touchscreens_scans_answering(running_station):
    station, master = running_station
    # Twenty pages is more than the server has threads: each used to hold one for good.
    pages = open_pages(station, 20, LAN)
    touchscreen = None
    try:
        assert healthz_within(station, 3) == 200
        touchscreen = Stream(station.server.effective_port, "/events/bench?op=0", TOUCHSCREEN)
        assert touchscreen.status == 200
        os.write(master, b"ORD-1042\r\n")
        assert "0 / 2" in touchscreen.next("bench", "Order 1042 open")
        os.write(master, b"]E0" + EAN_A + b"\r")
        assert "1 / 2" in touchscreen.next("bench", "Packed Termos blå: 1 of 2.")
        # The pages that hold a stream see the scan too; the others were told to come back.
        served = [p for p in pages if p.status == 200]
        assert served and all(p.status in (200, 503) for p in pages)
        assert "1 / 2" in served[0].next("bench", "Packed Termos blå: 1 of 2.")
    finally:
        for page in pages + ([touchscreen] if touchscreen else []):
            page.close()


def test_a_stream_past_the_bound_is_a_503_with_retry_after_and_gets_a_slot_once_one_is_free(
    running_station,
):
    station, _master = running_station
    pages = open_pages(station, 12, LAN)
    try:
        refused = [p for p in pages if p.status == 503]
        served = [p for p in pages if p.status == 200]
        assert len(served) == 4 and len(refused) == 8  # 16 threads: 4 stream slots for the LAN
        answer = refused[0].response
        assert int(answer.getheader("Retry-After")) > 0
        assert "tries again" in answer.read().decode()
        served[0].close()  # a page closed: its slot is free once the server sees it gone
        deadline = time.monotonic() + 5
        while True:
            again = Stream(station.server.effective_port, "/events/bench?op=0", LAN)
            pages.append(again)
            if again.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert again.status == 200
    finally:
        for page in pages:
            page.close()


def test_lan_pages_never_take_the_touchscreens_streams(running_station):
    station, _master = running_station
    pages = open_pages(station, 30, LAN)
    mine = open_pages(station, 2, TOUCHSCREEN, "/events/shipout?op=0")
    try:
        assert [p.status for p in mine] == [200, 200]
        assert healthz_within(station, 3) == 200
    finally:
        for page in pages + mine:
            page.close()


def test_a_page_stream_carries_the_operator_chip(running_station):
    station, master = running_station
    station.operators.create("Anna", badge_code="ANNA7", pin="4711")
    page = Stream(station.server.effective_port, "/events/bench?op=0", TOUCHSCREEN)
    try:
        os.write(master, b"OP-ANNA7\r\n")
        assert "Anna" in page.next("operator", "Anna")
    finally:
        page.close()
