"""SimulatedScanner: scans from code and from a real named pipe, as `stationd demo` feeds it."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bus_waits import WITHIN_S, next_event

from stationd.devices.scanners.scanner import ScannerState
from stationd.devices.scanners.simulated import SimulatedScanner
from stationd.events import Bus, DeviceStateChanged, EventQueue, ScanRead, ScanRejected

EAN = "7310865004703"


@pytest.fixture
def scanners(bus: Bus) -> Iterator[Callable[..., SimulatedScanner]]:
    made: list[SimulatedScanner] = []

    def make(**kwargs: object) -> SimulatedScanner:
        scanner = SimulatedScanner("demo", bus, **kwargs)  # type: ignore[arg-type]
        made.append(scanner)
        return scanner

    yield make
    for scanner in made:
        scanner.stop()


def write_fifo(path: Path, data: bytes) -> None:
    # The scanner holds the read end open, so this open does not block.
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_scan_publishes_a_scan_read(scanners, events: EventQueue) -> None:
    scanner = scanners()
    assert scanner.state == ScannerState.STOPPED
    scanner.start()
    assert scanner.state == ScannerState.CONNECTED
    assert next_event(events, DeviceStateChanged)[0].state == "connected"

    returned = scanner.scan(EAN, "]E0")
    scan, before = next_event(events, ScanRead)
    assert scan is returned
    assert (scan.code, scan.symbology, scan.source) == (EAN, "]E0", "sim:demo")
    assert before == []

    scanner.stop()
    stopped, _ = next_event(events, DeviceStateChanged)
    assert (stopped.device, stopped.state) == ("sim:demo", "stopped")


def test_scan_before_start_is_an_error(scanners) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        scanners().scan(EAN)


def test_unplugged_scanner_reads_nothing_until_plugged_in(scanners, events: EventQueue) -> None:
    scanner = scanners()
    scanner.start()
    assert next_event(events, DeviceStateChanged)[0].state == "connected"
    scanner.unplug()
    offline, _ = next_event(events, DeviceStateChanged)
    assert (offline.state, offline.detail) == ("offline", "unplugged")
    assert scanner.state == ScannerState.OFFLINE
    assert scanner.scan(EAN) is None

    scanner.plug_in()
    back, before = next_event(events, DeviceStateChanged)
    assert back.state == "connected"
    assert before == []  # the scan while unplugged was lost
    assert scanner.scan(EAN) is not None
    assert next_event(events, ScanRead)[0].code == EAN


def test_fifo_is_made_and_fed_from_a_shell(tmp_path: Path, scanners, events: EventQueue) -> None:
    fifo = tmp_path / "scan.fifo"
    scanner = scanners(fifo_path=fifo)
    scanner.start()
    assert stat.S_ISFIFO(fifo.stat().st_mode)

    # Exactly what the demo instructions say to type; twice, since each echo closes the pipe.
    for code in (EAN, "4006381333931"):
        subprocess.run(["sh", "-c", f"echo {code} > '{fifo}'"], check=True, timeout=WITHIN_S)
        scan, _ = next_event(events, ScanRead)
        assert (scan.code, scan.source) == (code, "sim:demo")


def test_fifo_lines_go_through_the_frame_decoder(
    tmp_path: Path, scanners, events: EventQueue
) -> None:
    fifo = tmp_path / "scan.fifo"
    os.mkfifo(fifo)  # an existing FIFO is used as it is
    scanners(fifo_path=fifo).start()

    write_fifo(fifo, b"]C10107310865004703\x1d10LOT1\r\n\x07\x07\n111\n222\n")
    first, _ = next_event(events, ScanRead)
    assert (first.code, first.symbology) == ("0107310865004703\x1d10LOT1", "]C1")
    rejected, _ = next_event(events, ScanRejected)
    assert (rejected.reason, rejected.source) == (
        "unreadable bytes (control characters)",
        "sim:demo",
    )
    assert [next_event(events, ScanRead)[0].code for _ in range(2)] == ["111", "222"]


def test_fifo_path_that_is_not_a_fifo_is_refused(tmp_path: Path, scanners) -> None:
    plain = tmp_path / "scan.fifo"
    plain.write_text("")
    with pytest.raises(ValueError, match="not a FIFO"):
        scanners(fifo_path=plain).start()


def test_fifo_in_a_missing_directory_is_refused(tmp_path: Path, scanners) -> None:
    with pytest.raises(FileNotFoundError):
        scanners(fifo_path=tmp_path / "no" / "scan.fifo").start()


def test_stop_is_prompt_and_keeps_the_fifo(tmp_path: Path, scanners, events: EventQueue) -> None:
    fifo = tmp_path / "scan.fifo"
    scanner = scanners(fifo_path=fifo)
    scanner.start()
    begun = time.monotonic()
    scanner.stop()
    assert time.monotonic() - begun < 1.0
    assert scanner.state == ScannerState.STOPPED
    assert stat.S_ISFIFO(fifo.stat().st_mode)

    # And it can start again on the same FIFO.
    scanner.start()
    write_fifo(fifo, b"again\n")
    assert next_event(events, ScanRead)[0].code == "again"
