"""SerialScanner over real kernel ptys (conftest's `ptys`): the test holds the master end, where
a scanner's bytes would come from; the scanner opens the slave end as it would open /dev/ttyACM0.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bus_waits import WITHIN_S, next_event, next_state
from pty_device import point

from stationd.devices.ports import PortSpec, find_port
from stationd.devices.scanners.scanner import ScannerState
from stationd.devices.scanners.serial import SerialScanner
from stationd.events import Bus, DeviceStateChanged, EventQueue, ScanRead, ScanRejected

EAN = "7310865004703"


@pytest.fixture
def scanners(bus: Bus) -> Iterator[Callable[..., SerialScanner]]:
    made: list[SerialScanner] = []

    def make(port: PortSpec | str, **kwargs: object) -> SerialScanner:
        scanner = SerialScanner("test", bus, port, **kwargs)  # type: ignore[arg-type]
        made.append(scanner)
        scanner.start()
        return scanner

    yield make
    for scanner in made:
        scanner.stop()


def next_scan(q: EventQueue) -> ScanRead:
    return next_event(q, ScanRead)[0]


def connected(q: EventQueue) -> DeviceStateChanged:
    return next_state(q, "connected")


@pytest.mark.parametrize(
    ("suffix", "terminator"),
    [("auto", b"\r"), ("auto", b"\n"), ("auto", b"\r\n"), ("cr", b"\r"), ("crlf", b"\r\n")],
)
def test_scan_over_a_pty_is_published(
    ptys, scanners, events: EventQueue, suffix: str, terminator: bytes
) -> None:
    pty = ptys()
    scanner = scanners(pty.path, suffix=suffix)
    connected(events)
    assert scanner.state == ScannerState.CONNECTED

    pty.send(EAN.encode() + terminator + b"4006381333931" + terminator)

    first = next_scan(events)
    second, between = next_event(events, ScanRead)
    assert first == ScanRead(EAN, None, "serial:test", first.at)
    assert second.code == "4006381333931"
    assert between == []  # CRLF gives no empty frame, no rejection


def test_state_changes_are_published_in_order(ptys, bus: Bus) -> None:
    pty = ptys()
    with bus.queue(DeviceStateChanged) as q:
        scanner = SerialScanner("test", bus, pty.path)
        assert scanner.state == "stopped"
        scanner.start()
        _, before = next_event(q, DeviceStateChanged, lambda e: e.state == "connected")
        scanner.stop()
        assert scanner.state == ScannerState.STOPPED
        stopped, between = next_event(q, DeviceStateChanged, lambda e: e.state == "stopped")
    assert [e.state for e in before] == ["connecting"]  # type: ignore[attr-defined]
    assert between == []
    assert stopped.device == "serial:test"


def test_aim_id_and_gs_survive_the_wire(ptys, scanners, events: EventQueue) -> None:
    pty = ptys()
    scanners(pty.path)
    connected(events)
    pty.send(b"]C10107310865004703\x1d10LOT42\r\n")
    scan = next_scan(events)
    assert (scan.code, scan.symbology) == ("0107310865004703\x1d10LOT42", "]C1")


def test_prefix_and_suffix_are_stripped(ptys, scanners, events: EventQueue) -> None:
    pty = ptys()
    scanners(pty.path, strip_prefix=b"\x02", strip_suffix=b"\x03", aim_ids=False)
    connected(events)
    pty.send(b"\x02" + EAN.encode() + b"\x03\r")
    scan = next_scan(events)
    assert (scan.code, scan.symbology) == (EAN, None)


def test_garbage_and_over_long_lines_are_rejected_not_read(
    ptys, scanners, events: EventQueue
) -> None:
    pty = ptys()
    scanners(pty.path, max_frame_len=64)
    connected(events)

    pty.send(b"\x00\xff\x13\x07\x1b\r")  # what a wrong baud rate looks like
    pty.send(b"9" * 300 + b"\r\n")
    pty.send(b"END\r")  # a marker: everything before it has been handled

    marker, before = next_event(events, ScanRead)
    assert marker.code == "END"
    assert [type(e) for e in before] == [ScanRejected, ScanRejected]
    garbage, too_long = before
    assert garbage == ScanRejected(
        "serial:test", "unreadable bytes (control characters)", b"\x00\xff\x13\x07\x1b", garbage.at
    )
    assert isinstance(too_long, ScanRejected)
    assert too_long.reason == "frame longer than 64 bytes"


def test_what_was_scanned_stays_out_of_the_log_unless_wire_logging_is_on(
    ptys, scanners, events: EventQueue, caplog
) -> None:
    pty = ptys()
    scanners(pty.path)
    connected(events)
    with caplog.at_level(logging.INFO, logger="stationd.devices"):
        pty.send(b"SECRET\x07\r")
        pty.send(b"7310865004703\r")
        next_event(events, ScanRead)
    said = [(r.name, r.getMessage()) for r in caplog.records]
    assert (
        "stationd.devices.scanners.scanner",
        "scanner test: rejected 7 bytes: unreadable bytes (control characters)",
    ) in said
    assert not any("SECRET" in message or "7310865004703" in message for _, message in said)


def test_half_frame_then_pause_does_not_merge_with_the_next_scan(
    ptys, scanners, events: EventQueue
) -> None:
    pty = ptys()
    scanners(pty.path, frame_timeout_s=0.2)
    connected(events)

    pty.send(b"731086")  # the scanner's cable wobbled mid-scan
    rejected, before = next_event(events, ScanRejected)
    assert before == []
    assert (rejected.reason, rejected.raw) == ("frame not terminated within 0.2 s", b"731086")

    pty.send(EAN.encode() + b"\r")
    scan, before = next_event(events, ScanRead)
    assert scan.code == EAN
    assert before == []


def test_hot_unplug_and_replug_without_restart(
    tmp_path: Path, ptys, scanners, events: EventQueue
) -> None:
    link = tmp_path / "stationd-scanner"
    first = ptys()
    point(link, first.path)
    scanner = scanners(PortSpec(path=str(link)), reconnect_max_s=1.0)
    connected(events)
    first.send(b"111\r")
    assert next_scan(events).code == "111"

    first.unplug()
    offline = next_state(events, "offline")
    assert offline.device == "serial:test"
    assert scanner.state == ScannerState.OFFLINE

    second = ptys()
    point(link, second.path)
    appeared = time.monotonic()
    back, before = next_event(events, DeviceStateChanged)
    assert back.state == "connected"
    assert before == []
    assert time.monotonic() - appeared < WITHIN_S

    second.send(b"222\r")
    scan, before = next_event(events, ScanRead)
    assert scan.code == "222"
    assert before == []
    assert scanner.state == ScannerState.CONNECTED


def test_port_missing_at_start_is_found_when_it_appears(
    tmp_path: Path, ptys, scanners, events: EventQueue
) -> None:
    link = tmp_path / "stationd-scanner"
    scanner = scanners(str(link))
    offline, before = next_event(events, DeviceStateChanged, lambda e: e.state == "offline")
    assert [(e.device, e.state) for e in before] == [("serial:test", "connecting")]  # type: ignore[attr-defined]
    assert str(link) in offline.detail
    assert scanner.state == ScannerState.OFFLINE

    pty = ptys()
    point(link, pty.path)
    connected(events)
    pty.send(EAN.encode() + b"\n")
    assert next_scan(events).code == EAN


def test_partial_frame_at_unplug_is_rejected(ptys, scanners, events: EventQueue) -> None:
    read = WireWatch(b"4006")
    pty = ptys()
    # A long frame timeout, so that the unplug, not the timeout, ends the frame.
    scanners(pty.path, frame_timeout_s=30.0)
    connected(events)
    with read:
        pty.send(b"4006")
        assert read.wait(WITHIN_S)  # the reader has the bytes before the port goes away
    pty.unplug()
    rejected, before = next_event(events, ScanRejected)
    assert before == []
    assert (rejected.reason, rejected.raw) == ("frame cut off: the port closed", b"4006")


class WireWatch(logging.Handler):
    """Signals when the scanner's wire log has shown `expected`: the reader holds those bytes."""

    def __init__(self, expected: bytes) -> None:
        super().__init__(logging.DEBUG)
        self.expected = expected
        self.seen = b""
        self._event = threading.Event()
        self._logger = logging.getLogger("stationd.devices.scanners.serial.wire")

    def emit(self, record: logging.LogRecord) -> None:
        self.seen += record.args[1]  # type: ignore[index,operator]
        if self.expected in self.seen:
            self._event.set()

    def wait(self, timeout_s: float) -> bool:
        return self._event.wait(timeout_s)

    def __enter__(self) -> WireWatch:
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def test_raw_bytes_are_logged_on_the_wire_logger(ptys, scanners, events: EventQueue) -> None:
    pty = ptys()
    scanners(pty.path)
    connected(events)
    with WireWatch(b"W1\r") as wire:
        pty.send(b"W1\r")
        assert next_scan(events).code == "W1"
    assert wire.seen == b"W1\r"


def test_reconnect_backs_off_instead_of_spinning(
    tmp_path: Path, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = []
    real_find_port = find_port

    def counting_find_port(spec: PortSpec) -> str | None:
        attempts.append(time.monotonic())
        return real_find_port(spec)

    monkeypatch.setattr("stationd.devices.ports.find_port", counting_find_port)
    scanner = SerialScanner("test", bus, str(tmp_path / "absent"), reconnect_max_s=5.0)
    scanner.start()
    try:
        # The one deliberate wait: counting what happens in a stretch of time is the test.
        threading.Event().wait(0.8)
    finally:
        scanner.stop()
    # 0.1 s doubling: attempts at about 0, 0.1, 0.3, 0.7 s. A spinning loop makes thousands.
    assert 2 <= len(attempts) <= 10


def test_stop_is_prompt_when_connected_and_when_offline(
    tmp_path: Path, ptys, bus: Bus, events: EventQueue
) -> None:
    pty = ptys()
    for port in (pty.path, str(tmp_path / "absent")):
        scanner = SerialScanner("test", bus, port, reconnect_max_s=5.0)
        scanner.start()
        next_state(events, "connected", "offline")
        begun = time.monotonic()
        scanner.stop()
        assert time.monotonic() - begun < 1.0
        assert scanner.state == ScannerState.STOPPED
        next_state(events, "stopped")
        assert not any(t.name == "scanner-test" for t in threading.enumerate())


def test_restart_after_stop(ptys, bus: Bus, events: EventQueue) -> None:
    pty = ptys()
    scanner = SerialScanner("test", bus, pty.path)
    try:
        for code in ("1", "2"):
            scanner.start()
            scanner.start()  # a second start is a no-op
            connected(events)
            pty.send(code.encode() + b"\r")
            assert next_scan(events).code == code
            scanner.stop()
    finally:
        scanner.stop()


def test_the_port_is_held_exclusively(ptys, scanners, bus: Bus, events: EventQueue) -> None:
    pty = ptys()
    scanners(pty.path)
    connected(events)
    intruder = SerialScanner("intruder", bus, pty.path)
    intruder.start()
    try:
        offline = next_event(
            events,
            DeviceStateChanged,
            lambda e: e.device == "serial:intruder" and e.state == "offline",
        )[0]
    finally:
        intruder.stop()
    assert "lock" in offline.detail
    pty.send(b"mine\r")
    assert next_scan(events).source == "serial:test"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"parity": "X"},
        {"bytesize": 9},
        {"stopbits": 3},
        {"baudrate": 0},
        {"suffix": "tab"},
        {"reconnect_max_s": 0},
    ],
)
def test_bad_settings_fail_at_construction(bus: Bus, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SerialScanner("test", bus, "/dev/null", **kwargs)  # type: ignore[arg-type]
