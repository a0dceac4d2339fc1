"""KeyboardScanner: recorded key-event sequences of real scans, as real `evdev.InputEvent`s,
through the scanner's owner thread onto the bus; grab, unplug and replug; finding the device.

Where this machine has a writable /dev/uinput the scanner also reads a real kernel input device
made with `evdev.UInput`, and the grab is checked for real. Where it has none (containers, CI
sandboxes: there is no /dev/input at all) the device is `FakeInputDevice`, which implements the
`evdev.InputDevice` methods the scanner calls.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Callable, Iterator

import evdev
import pytest
from bus_waits import next_event, next_state
from evdev import ecodes

from stationd.devices import usb_find
from stationd.devices.ports import PortSpec
from stationd.devices.scanners.keyboard import KeyboardScanner
from stationd.devices.scanners.scanner import ScannerState
from stationd.devices.usb_find import find_input_device, list_input_devices
from stationd.events import Bus, EventQueue, ScanRead, ScanRejected

GS = "\x1d"
HONEYWELL, VOYAGER = 0x0C2E, 0x0B81

# --- recorded scans -----------------------------------------------------------------------------
# What a scanner set to each layout sends, key by key, written out by hand from the layout
# charts (S- Shift, G- AltGr, C- Ctrl). Each token is recorded as a keyboard does it: MSC_SCAN
# with the HID usage, the key event, SYN_REPORT; then the same for the release.

ORD = "ORD-1042"
MIXED = "12-34+56/78_9"
GS1 = "0107310865004703" + "10LOT/7" + GS + "21SN*42_x"  # AIM ]C1: GS1-128

_ORD_US = "S-KEY_O S-KEY_R S-KEY_D KEY_MINUS KEY_1 KEY_0 KEY_4 KEY_2 KEY_ENTER"
_ORD_NORDIC = "S-KEY_O S-KEY_R S-KEY_D KEY_SLASH KEY_1 KEY_0 KEY_4 KEY_2 KEY_ENTER"
_GTIN = " ".join(f"KEY_{digit}" for digit in "0107310865004703")


def _gs1(bracket: str, slash: str, star: str, underscore: str) -> str:
    return (
        f"{bracket} S-KEY_C KEY_1 {_GTIN} KEY_1 KEY_0 S-KEY_L S-KEY_O S-KEY_T {slash} KEY_7 "
        f"C-KEY_RIGHTBRACE KEY_2 KEY_1 S-KEY_S S-KEY_N {star} KEY_4 KEY_2 {underscore} KEY_X "
        "KEY_ENTER"
    )


RECORDED: dict[str, dict[str, str]] = {
    "us": {
        ORD: _ORD_US,
        MIXED: "KEY_1 KEY_2 KEY_MINUS KEY_3 KEY_4 S-KEY_EQUAL KEY_5 KEY_6 KEY_SLASH KEY_7 KEY_8 "
        "S-KEY_MINUS KEY_9 KEY_ENTER",
        GS1: _gs1("KEY_RIGHTBRACE", "KEY_SLASH", "S-KEY_8", "S-KEY_MINUS"),
    },
    **{
        nordic: {
            ORD: _ORD_NORDIC,
            MIXED: "KEY_1 KEY_2 KEY_SLASH KEY_3 KEY_4 KEY_MINUS KEY_5 KEY_6 S-KEY_7 KEY_7 KEY_8 "
            "S-KEY_SLASH KEY_9 KEY_TAB",
            GS1: _gs1("G-KEY_9", "S-KEY_7", "S-KEY_BACKSLASH", "S-KEY_SLASH"),
        }
        for nordic in ("se", "no", "dk")
    },
    "de": {
        ORD: _ORD_NORDIC,
        MIXED: "KEY_1 KEY_2 KEY_SLASH KEY_3 KEY_4 KEY_RIGHTBRACE KEY_5 KEY_6 S-KEY_7 KEY_7 KEY_8 "
        "S-KEY_SLASH KEY_9 KEY_KPENTER",
        GS1: _gs1("G-KEY_9", "S-KEY_7", "S-KEY_RIGHTBRACE", "S-KEY_SLASH"),
    },
}

# HID keyboard usages (HID Usage Tables, page 0x07) of the keys above, for MSC_SCAN.
_USAGE = {
    **{f"KEY_{c}": 0x04 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")},
    **{f"KEY_{d}": 0x1E + i for i, d in enumerate("1234567890")},
    "KEY_ENTER": 0x28,
    "KEY_TAB": 0x2B,
    "KEY_SPACE": 0x2C,
    "KEY_MINUS": 0x2D,
    "KEY_EQUAL": 0x2E,
    "KEY_LEFTBRACE": 0x2F,
    "KEY_RIGHTBRACE": 0x30,
    "KEY_BACKSLASH": 0x32,  # the ISO key left of Enter (non-US #), which Linux maps to BACKSLASH
    "KEY_SEMICOLON": 0x33,
    "KEY_APOSTROPHE": 0x34,
    "KEY_GRAVE": 0x35,
    "KEY_COMMA": 0x36,
    "KEY_DOT": 0x37,
    "KEY_SLASH": 0x38,
    "KEY_F5": 0x3E,
    "KEY_KPENTER": 0x58,
    "KEY_102ND": 0x64,
    "KEY_LEFTCTRL": 0xE0,
    "KEY_LEFTSHIFT": 0xE1,
    "KEY_RIGHTALT": 0xE6,
}
_MODS = {"S": "KEY_LEFTSHIFT", "G": "KEY_RIGHTALT", "C": "KEY_LEFTCTRL"}


def record(
    spec: str, start_s: float = 1_700_000_000.0, key_gap_s: float = 0.002
) -> list[evdev.InputEvent]:
    """The evdev events a USB keyboard-mode scanner produces for `spec`, as the kernel would
    hand them to a reader: real `evdev.InputEvent` objects."""
    events: list[evdev.InputEvent] = []
    t = start_s

    def emit(key: str, value: int) -> None:
        nonlocal t
        t += key_gap_s
        sec, usec = int(t), int((t % 1) * 1e6)
        events.append(
            evdev.InputEvent(sec, usec, ecodes.EV_MSC, ecodes.MSC_SCAN, 0x70000 | _USAGE[key])
        )
        events.append(evdev.InputEvent(sec, usec, ecodes.EV_KEY, ecodes.ecodes[key], value))
        events.append(evdev.InputEvent(sec, usec, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))

    for token in spec.split():
        prefix, _, key = token.rpartition("-")
        mods = [_MODS[m] for m in prefix]
        for mod in mods:
            emit(mod, 1)
        emit(key, 1)
        emit(key, 0)
        for mod in reversed(mods):
            emit(mod, 0)
    return events


# --- the fake device -------------------------------------------------------------------------


class FakeInputDevice:
    """One open handle of a keyboard-mode scanner, with the `evdev.InputDevice` methods the
    scanner calls (fileno, read, read_one, read_loop, grab, ungrab, close, and the attributes
    path, name, phys, uniq, info, capabilities()).

    A fake because this machine has no /dev/input and no /dev/uinput, so no real input device
    can exist here. It behaves as the kernel's evdev does where the scanner can tell: fileno()
    is a real file descriptor that select() sees readable when events are queued, read() raises
    BlockingIOError when there are none and OSError(ENODEV) once the device is unplugged, a
    second grab() fails with EBUSY, ungrab() of a device not grabbed fails with EINVAL.
    """

    def __init__(self, plug: FakeScannerPlug) -> None:
        self._plug = plug
        self.path = plug.path
        self.name = plug.name
        self.phys = "usb-0000:01:00.0-1.3/input0"
        self.uniq = plug.serial
        self.info = evdev.DeviceInfo(0x03, plug.vendor, plug.product, 0x0111)
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self._queue: list[evdev.InputEvent] = []
        self._lock = threading.Lock()
        self.closed = False

    def capabilities(self) -> dict[int, list[int]]:
        keys = list(range(1, 128)) if self._plug.types_text else [ecodes.KEY_VOLUMEUP]
        return {ecodes.EV_SYN: [0], ecodes.EV_KEY: keys, ecodes.EV_MSC: [ecodes.MSC_SCAN]}

    def fileno(self) -> int:
        return self._r

    def read(self) -> Iterator[evdev.InputEvent]:
        self._check()
        with self._lock:
            events, self._queue = self._queue, []
            with contextlib.suppress(BlockingIOError):
                os.read(self._r, 65536)
        if not events:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        yield from events

    def read_one(self) -> evdev.InputEvent | None:
        self._check()
        with self._lock:
            return self._queue.pop(0) if self._queue else None

    def read_loop(self) -> Iterator[evdev.InputEvent]:
        while True:
            try:
                yield from self.read()
            except BlockingIOError:
                time.sleep(0.001)

    def grab(self) -> None:
        self._check()
        if self._plug.grabbed_by is not None and self._plug.grabbed_by is not self:
            raise OSError(errno.EBUSY, "Device or resource busy")
        self._plug.grabbed_by = self

    def ungrab(self) -> None:
        self._check()
        if self._plug.grabbed_by is not self:
            raise OSError(errno.EINVAL, "Invalid argument")
        self._plug.grabbed_by = None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._plug.grabbed_by is self:
                self._plug.grabbed_by = None  # the kernel drops a grab with its file
            os.close(self._r)
            os.close(self._w)

    # test side

    def _check(self) -> None:
        if self.closed:
            raise OSError(errno.EBADF, "Bad file descriptor")
        if not self._plug.plugged:
            raise OSError(errno.ENODEV, "No such device")

    def deliver(self, events: list[evdev.InputEvent]) -> None:
        with self._lock:
            self._queue.extend(events)
        os.write(self._w, b"!")

    def wake(self) -> None:
        os.write(self._w, b"!")


class FakeScannerPlug:
    """The physical scanner: plugged in or not; every open makes a new `FakeInputDevice`."""

    def __init__(
        self,
        *,
        vendor: int = HONEYWELL,
        product: int = VOYAGER,
        serial: str = "18123B4C2A",
        name: str = "Honeywell Imaging & Mobility 1400g",
        path: str = "/dev/input/event7",
        types_text: bool = True,
    ) -> None:
        self.vendor, self.product, self.serial, self.name = vendor, product, serial, name
        self.path = path
        self.types_text = types_text
        self.plugged = True
        self.grabbed_by: FakeInputDevice | None = None
        self.handles: list[FakeInputDevice] = []

    def open(self) -> FakeInputDevice:
        if not self.plugged:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", self.path)
        handle = FakeInputDevice(self)
        self.handles.append(handle)
        return handle

    def find(self, spec: PortSpec) -> FakeInputDevice | None:
        """What `find_input_device` does, for this one device."""
        if not self.plugged:
            return None
        if spec.path is not None:
            return self.open() if spec.path == self.path else None
        if (spec.usb_vid, spec.usb_pid) != (self.vendor, self.product):
            return None
        if spec.serial_number not in (None, self.serial):
            return None
        return self.open()

    @property
    def current(self) -> FakeInputDevice:
        return self.handles[-1]

    def type(self, spec: str) -> None:
        self.current.deliver(record(spec))

    def unplug(self) -> None:
        self.plugged = False
        self.grabbed_by = None
        for handle in self.handles:
            if not handle.closed:
                handle.wake()

    def replug(self) -> None:
        self.plugged = True


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def scanners(bus: Bus) -> Iterator[Callable[..., KeyboardScanner]]:
    made: list[KeyboardScanner] = []

    def make(
        spec: PortSpec | str, plug: FakeScannerPlug | None, **kwargs: object
    ) -> KeyboardScanner:
        if plug is not None:
            kwargs.setdefault("find_device", plug.find)
        scanner = KeyboardScanner("test", bus, spec, **kwargs)  # type: ignore[arg-type]
        made.append(scanner)
        scanner.start()
        return scanner

    yield make
    for scanner in made:
        scanner.stop()


SPEC = f"usb:{HONEYWELL:04x}:{VOYAGER:04x}:18123B4C2A"


# --- scans -----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["us", "se", "no", "dk", "de"])
def test_recorded_scans_are_read_in_the_scanners_layout(
    scanners, events: EventQueue, layout: str
) -> None:
    plug = FakeScannerPlug()
    scanner = scanners(SPEC, plug, layout=layout)
    next_state(events, "connected")
    assert scanner.state == ScannerState.CONNECTED
    got = []
    for _text, spec in RECORDED[layout].items():
        plug.type(spec)
        scan, between = next_event(events, ScanRead)
        assert between == []
        got.append((scan.code, scan.symbology, scan.source))
    assert got == [
        (ORD, None, "hid:test"),
        (MIXED, None, "hid:test"),
        (GS1, "]C1", "hid:test"),
    ]


def test_scan_read_with_another_layout_than_the_scanners_is_garbled(
    scanners, events: EventQueue
) -> None:
    # The scanner is set to Swedish, the station thinks US: what the whole module prevents.
    plug = FakeScannerPlug()
    scanners(SPEC, plug, layout="us")
    next_state(events, "connected")
    plug.type(RECORDED["se"][MIXED].replace("KEY_TAB", "KEY_ENTER"))
    assert next_event(events, ScanRead)[0].code == "12/34-56&78?9"


def test_the_device_is_grabbed_while_read_and_given_back_on_stop(
    scanners, events: EventQueue
) -> None:
    plug = FakeScannerPlug()
    scanner = scanners(SPEC, plug)
    next_state(events, "connected")
    handle = plug.current
    assert plug.grabbed_by is handle  # nobody else (the display server) sees the keys
    other = plug.open()
    with pytest.raises(OSError) as busy:
        other.grab()
    assert busy.value.errno == errno.EBUSY
    other.close()

    scanner.stop()
    assert scanner.state == ScannerState.STOPPED
    assert plug.grabbed_by is None
    assert handle.closed
    assert next_state(events, "stopped").device == "hid:test"


def test_unknown_key_and_unterminated_scan_are_rejected(scanners, events: EventQueue) -> None:
    plug = FakeScannerPlug()
    scanners(SPEC, plug, layout="se", frame_timeout_s=0.1)
    next_state(events, "connected")

    plug.type("KEY_1 KEY_2 KEY_F5 KEY_3 KEY_ENTER")
    rejected, _ = next_event(events, ScanRejected)
    assert rejected.reason == "key KEY_F5 has no character in layout se"
    assert rejected.raw == b"12<KEY_F5>3"
    assert rejected.source == "hid:test"

    plug.type("KEY_4 KEY_5")  # and then nothing: no Enter
    rejected, _ = next_event(events, ScanRejected)
    assert (rejected.reason, rejected.raw) == ("frame not terminated within 0.1 s", b"45")

    plug.type("KEY_6 KEY_ENTER")
    scan, between = next_event(events, ScanRead)
    assert scan.code == "6"  # not "456"
    assert between == []


def test_unplug_mid_scan_then_replug_works_again(scanners, events: EventQueue) -> None:
    plug = FakeScannerPlug()
    scanner = scanners(SPEC, plug, reconnect_max_s=0.2, frame_timeout_s=1.0)
    next_state(events, "connected")
    first = plug.current

    plug.type("KEY_7 KEY_3 KEY_1")  # half a scan, then the cable is pulled
    time.sleep(0.05)
    plug.unplug()
    cut, _ = next_event(events, ScanRejected)
    assert (cut.reason, cut.raw) == ("frame cut off: the device went away", b"731")
    offline = next_state(events, "offline")
    assert "No such device" in offline.detail
    assert scanner.state == ScannerState.OFFLINE
    assert first.closed

    time.sleep(0.3)  # it keeps looking, with back-off
    plug.replug()
    back_at = time.monotonic()
    next_state(events, "connected")
    assert time.monotonic() - back_at < 2.0
    assert plug.current is not first and plug.grabbed_by is plug.current
    plug.type(RECORDED["us"][ORD])
    assert next_event(events, ScanRead)[0].code == ORD


def test_scanner_not_there_at_start_is_found_when_plugged(scanners, events: EventQueue) -> None:
    plug = FakeScannerPlug()
    plug.unplug()
    scanners(SPEC, plug, reconnect_max_s=0.2)
    offline = next_state(events, "offline")
    assert offline.detail == f"no input device {SPEC}"
    plug.replug()
    connected = next_state(events, "connected")
    assert connected.detail == "/dev/input/event7 (Honeywell Imaging & Mobility 1400g)"


def test_device_grabbed_by_another_program_is_retried(scanners, events: EventQueue) -> None:
    plug = FakeScannerPlug()
    squatter = plug.open()
    squatter.grab()
    scanners(SPEC, plug, reconnect_max_s=0.2)
    offline = next_state(events, "offline")
    assert offline.detail == "/dev/input/event7 is grabbed by another program"
    squatter.close()
    next_state(events, "connected")


def test_a_keyboard_is_not_taken_for_the_scanner(scanners, events: EventQueue) -> None:
    # Another serial number (another device of that model, or a keyboard) is not matched.
    plug = FakeScannerPlug(serial="OTHER")
    scanners(SPEC, plug, reconnect_max_s=0.2)
    assert next_state(events, "offline").detail == f"no input device {SPEC}"
    assert plug.handles == []


def test_bad_settings_fail_in_the_caller(bus: Bus) -> None:
    with pytest.raises(ValueError, match="unknown keyboard layout"):
        KeyboardScanner("x", bus, SPEC, layout="fr")
    with pytest.raises(ValueError, match="max_frame_len"):
        KeyboardScanner("x", bus, SPEC, max_frame_len=0)
    with pytest.raises(ValueError, match="a port needs a path"):
        KeyboardScanner("x", bus, PortSpec())


# --- finding the device among /dev/input/event* ---------------------------------------------


@pytest.fixture
def input_devices(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeScannerPlug]:
    """A /dev/input as evdev would list it: a keyboard, a scanner with its extra consumer-control
    node, and another scanner of the same model. `evdev.list_devices` / `evdev.InputDevice` are
    swapped for ones that open `FakeInputDevice`s (there is no /dev/input here)."""
    plugs = {
        "/dev/input/event0": FakeScannerPlug(
            vendor=0x046D,
            product=0xC31C,
            serial="",
            name="Logitech USB Keyboard",
            path="/dev/input/event0",
        ),
        "/dev/input/event4": FakeScannerPlug(
            path="/dev/input/event4", name="Honeywell 1400g Consumer Control", types_text=False
        ),
        "/dev/input/event5": FakeScannerPlug(path="/dev/input/event5"),
        "/dev/input/event12": FakeScannerPlug(path="/dev/input/event12", serial="OTHERSCANNER"),
    }
    monkeypatch.setattr(evdev, "list_devices", lambda input_dir="/dev/input": list(reversed(plugs)))
    monkeypatch.setattr(evdev, "InputDevice", lambda path: plugs[path].open())
    return plugs


def test_find_input_device_by_ids_and_serial(input_devices: dict[str, FakeScannerPlug]) -> None:
    device = find_input_device(PortSpec.parse(SPEC))
    assert device is not None and device.path == "/dev/input/event5"
    other = find_input_device(PortSpec.parse("usb:0c2e:0b81:OTHERSCANNER"))
    assert other is not None and other.path == "/dev/input/event12"
    # Every handle that was opened to look at it, and is not returned, is closed again.
    opened = [h for plug in input_devices.values() for h in plug.handles]
    assert {h.path for h in opened if not h.closed} == {"/dev/input/event5", "/dev/input/event12"}
    assert find_input_device(PortSpec.parse("usb:0c2e:0b81:NOSUCH")) is None


def test_find_input_device_with_two_matches_takes_the_lowest_event_number(
    input_devices: dict[str, FakeScannerPlug], caplog: pytest.LogCaptureFixture
) -> None:
    device = find_input_device(PortSpec.parse("usb:0c2e:0b81"))
    assert device is not None and device.path == "/dev/input/event5"  # 5 before 12, not "12" < "5"
    assert "add the serial number" in caplog.text


def test_list_input_devices_hints_at_scanners_not_keyboards(
    input_devices: dict[str, FakeScannerPlug],
) -> None:
    listed = list_input_devices()
    assert [d["path"] for d in listed] == [
        "/dev/input/event0",
        "/dev/input/event5",
        "/dev/input/event12",
    ]
    keyboard, scanner, _ = listed
    assert keyboard["scanner_hint"] is None
    assert scanner["scanner_hint"] == "vendor 0c2e is Honeywell (Metrologic)"
    assert scanner["spec"] == SPEC
    assert keyboard["spec"] == "usb:046d:c31c"
    assert all(h.closed for plug in input_devices.values() for h in plug.handles)
    assert usb_find.scanner_hint("Symbol Bar Code Scanner", 0x9999) == "name contains 'bar code'"


def test_scanner_finds_its_device_through_find_input_device(
    input_devices: dict[str, FakeScannerPlug], bus: Bus, events: EventQueue
) -> None:
    scanner = KeyboardScanner("test", bus, SPEC, layout="de")
    scanner.start()
    try:
        next_state(events, "connected")
        plug = input_devices["/dev/input/event5"]
        assert plug.grabbed_by is plug.current
        plug.type(RECORDED["de"][MIXED])
        assert next_event(events, ScanRead)[0].code == MIXED
        assert input_devices["/dev/input/event0"].grabbed_by is None  # the keyboard stays free
    finally:
        scanner.stop()


# --- a real kernel input device, where the machine can make one -------------------------------

_UINPUT = "/dev/uinput"


@pytest.mark.skipif(
    not (os.path.exists(_UINPUT) and os.access(_UINPUT, os.W_OK)),
    reason="no writable /dev/uinput here: the fake device stands in (see the module docstring)",
)
def test_real_uinput_device_is_grabbed_and_read(bus: Bus, events: EventQueue) -> None:
    keys = [ecodes.ecodes[name] for name in _USAGE]
    ui = evdev.UInput(
        {ecodes.EV_KEY: keys}, name="stationd test barcode scanner", vendor=0x0C2E, product=0xFFF1
    )
    try:
        scanner = KeyboardScanner("test", bus, "usb:0c2e:fff1", layout="se")
        scanner.start()
        try:
            next_state(events, "connected")
            # The grab is real: a second grab of the same device fails.
            probe = evdev.InputDevice(ui.device.path)
            try:
                with pytest.raises(OSError):
                    probe.grab()
            finally:
                probe.close()
            for event in record(RECORDED["se"][MIXED]):
                if event.type == ecodes.EV_KEY:
                    ui.write(ecodes.EV_KEY, event.code, event.value)
                    ui.syn()
            assert next_event(events, ScanRead)[0].code == MIXED
        finally:
            scanner.stop()
        probe = evdev.InputDevice(ui.device.path)
        try:
            probe.grab()  # given back on stop
            probe.ungrab()
        finally:
            probe.close()
    finally:
        ui.close()
