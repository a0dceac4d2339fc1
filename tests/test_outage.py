"""A database outage under a running station (issue 10, items 2, 3 and 9), on a PostgreSQL
cluster the test starts and stops itself (`own_postgres`): the watchdog keeps pinging, serve
waits for its database instead of exiting, pages answer 503 in the packer's language, /healthz
tells the truth, and the log says the outage once instead of a traceback per try."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_waits import next_state, until
from pty_device import PtyDevice

from stationd.config import settings_from_dict
from stationd.events import DeviceStateChanged
from stationd.station import Station
from stationd.store.database import Store

pytestmark = pytest.mark.postgres

SV_AWAY = "Databasen svarar inte: skanningarna sparas och räknas så snart den är tillbaka."


class NotifySocket:
    """systemd's end of sd_notify: a datagram socket that keeps what the station says, with
    the time it said it."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.heard: list[tuple[float, str]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, OSError):
                continue
            self.heard.append((time.monotonic(), data.decode()))

    def said(self, text: str, since: float = 0.0) -> list[float]:
        """When the station sent a message containing `text` (after `since`)."""
        return [at for at, message in list(self.heard) if text in message and at >= since]

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.said(text):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def notify_socket(monkeypatch, tmp_path_factory) -> Iterator[NotifySocket]:
    # A short path: a unix socket's name has at most 107 bytes.
    folder = Path(tmp_path_factory.mktemp("sd", numbered=True))
    listener = NotifySocket(folder / "n")
    monkeypatch.setenv("NOTIFY_SOCKET", str(folder / "n"))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # WatchdogSec=1: a ping every 0.5 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    yield listener
    listener.close()


@pytest.fixture
def scanner() -> Iterator[PtyDevice]:
    device = PtyDevice()
    yield device
    device.unplug()


def outage_settings(tmp_path: Path, url: str, port_path: str):  # type: ignore[no-untyped-def]
    settings = settings_from_dict(
        {
            "station": {"name": "outage", "state_dir": str(tmp_path), "language": "en"},
            "database": {"url": url, "busy_timeout_s": 1},
            "packscript": {"interval_min": 0},
            "scanners": [{"name": "gun", "kind": "serial", "port": port_path}],
            "printers": [{"name": "receipts", "kind": "simulated"}],
        }
    )
    return dataclasses.replace(settings, kiosk=dataclasses.replace(settings.kiosk, port=0))


def get(url: str, *, language: str = "") -> tuple[int, str, str]:
    """Status, content type and body of a GET (an error status is an answer too)."""
    request = urllib.request.Request(url)
    if language:
        request.add_header("Cookie", f"stationd_lang={language}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def tracebacks(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info and r.levelno >= logging.INFO]


def said(caplog, text: str) -> list[str]:
    """The log's lines (INFO and up: what a journal shows) that contain `text`."""
    return [
        r.getMessage()
        for r in caplog.records
        if text in r.getMessage() and r.levelno >= logging.INFO
    ]


def test_watchdog_pings_pages_say_503_and_the_log_says_it_once_while_the_database_is_away(
    tmp_path, own_postgres, own_pg_url, scanner, notify_socket, make_shop, caplog
):
    caplog.set_level(logging.DEBUG, logger="stationd")
    settings = outage_settings(tmp_path, own_pg_url, scanner.path)
    seed = Store(own_pg_url)
    seed.upgrade()
    make_shop(seed).product("A", on_hand=5, name="Termos blå", number=1)
    seed.dispose()
    station = Station(settings)
    states = station.bus.queue(DeviceStateChanged)
    station.start()
    waiter = threading.Thread(target=station.wait, daemon=True)
    waiter.start()
    try:
        next_state(states, "connected")
        assert get(station.url + "/healthz")[0] == 200

        own_postgres.stop()
        away_at = time.monotonic()
        # A scanner goes on reading; the print worker and a bench stream meet the outage too.
        scanner.send(b"7300000000011\r")
        time.sleep(4)

        # Item 2: the process is alive and serves its devices — the watchdog says so (before:
        # healthy() asked the database, and no WATCHDOG=1 went out for the whole outage).
        pings = notify_socket.said("WATCHDOG=1", since=away_at)
        assert len(pings) >= 5, f"{len(pings)} watchdog pings in 4 s of outage"

        # Item 3: /healthz tells the truth; a page is a proper 503 page in the packer's language.
        status, _, body = get(station.url + "/healthz")
        health = json.loads(body)
        assert status == 503 and "database" in health["not_ready"]
        assert health["scans_waiting"] == 1
        status, _, body = get(station.url + "/metrics")
        assert status == 200 and "stationd_database_up 0.0" in body
        assert "stationd_scans_waiting 1.0" in body
        status, content_type, body = get(station.url + "/bench", language="sv")
        assert (status, content_type.split(";")[0]) == (503, "text/html")
        assert SV_AWAY in body and "<nav" in body

        # Item 9: one line when it went away, the traceback only at DEBUG.
        assert len(said(caplog, "database lost")) == 1, said(caplog, "database")
        assert [r for r in tracebacks(caplog) if r.levelno > logging.DEBUG] == []
        assert said(caplog, "still away") == []

        own_postgres.start()
        until(lambda: get(station.url + "/healthz")[0] == 200, within_s=15)
        assert len(said(caplog, "database back after")) == 1
        assert get(station.url + "/bench")[0] == 200
        assert "stationd_database_up 1.0" in get(station.url + "/metrics")[2]
        # The scan read during the outage was kept and counted when the database came back.
        until(lambda: station.bench_worker.waiting == 0, within_s=10)
        assert [r for r in tracebacks(caplog) if r.levelno > logging.DEBUG] == []
    finally:
        station.stop()
        waiter.join(timeout=5)


def test_serve_started_while_the_database_is_away_waits_for_it_and_says_so(
    tmp_path, own_postgres, own_pg_url, scanner, notify_socket, caplog
):
    caplog.set_level(logging.INFO, logger="stationd")
    station = Station(outage_settings(tmp_path, own_pg_url, scanner.path))
    own_postgres.stop()
    failed: list[BaseException] = []

    def start() -> None:
        try:
            station.start()
        except BaseException as err:  # before the fix: OperationalError, and serve exits
            failed.append(err)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    try:
        assert notify_socket.wait_for("STATUS=waiting for the database", 10), failed
        assert not failed
        # The kiosk answers meanwhile: the page says why nothing else works yet.
        status, _, body = get(station.url + "/bench", language="sv")
        assert status == 503 and SV_AWAY in body
        status, _, body = get(station.url + "/healthz")
        assert status == 503 and '"database"' in body
        # Not ready, and not killed by systemd: the watchdog is fed and the start timeout pushed.
        time.sleep(2)
        assert notify_socket.said("READY=1") == []
        assert notify_socket.said("WATCHDOG=1") and notify_socket.said("EXTEND_TIMEOUT_USEC=")
        assert len(said(caplog, "database lost")) == 1  # one line, not one per try

        own_postgres.start()
        assert notify_socket.wait_for("READY=1", 20), "never ready after the database came back"
        starter.join(timeout=10)
        assert not failed
        assert get(station.url + "/bench")[0] == 200
        assert get(station.url + "/healthz")[0] == 200
    finally:
        station.stop()
        starter.join(timeout=10)
