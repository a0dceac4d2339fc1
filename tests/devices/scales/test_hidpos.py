"""HidPosScale: the HID POS scale data report decoder, and the scale through pyusb.

The scale is driven through pyusb's real classes — `usb.core.find`, `usb.core.Device`,
`usb.util.claim_interface` / `release_interface` / `dispose_resources`, kernel-driver detach and
attach — over `RecordedScaleBus`, a pyusb backend that plays recorded reports. Unplugging makes
the backend raise pyusb's real `usb.core.USBError` (ENODEV), as libusb does.
"""

from __future__ import annotations

import array
import errno
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import usb.backend
import usb.core
from bus_waits import WITHIN_S, next_event, next_state, until
from hypothesis import given, settings
from hypothesis import strategies as st

from stationd.devices.scales.hidpos import HidPosScale, decode_report
from stationd.devices.scales.scale import (
    MAX_GRAMS,
    NoWeight,
    Reading,
    ScaleState,
    Unreadable,
    WeightRead,
)
from stationd.events import Bus, DeviceStateChanged, EventQueue

DYMO_VID, DYMO_M25_PID = 0x0922, 0x8004
SERIAL = "0082101234567"

# Reports as a DYMO M25 sends them (report id 3), and the weights they mean.
EMPTY = bytes.fromhex("03 02 02 00 00 00")  # stable at zero, grams
MOVING_G = bytes.fromhex("03 03 02 00 1a 04")  # in motion, 1050 g
STABLE_G = bytes.fromhex("03 04 02 00 1e 04")  # stable, 1054 g
STABLE_OZ = bytes.fromhex("03 04 0b ff 2c 01")  # stable, 300 × 10⁻¹ oz = 30.0 oz = 850.49 g


# The decoder ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (EMPTY, Reading(0, stable=True)),
        (MOVING_G, Reading(1050, stable=False)),
        (STABLE_G, Reading(1054, stable=True)),
        (STABLE_OZ, Reading(850, stable=True)),
        (bytes.fromhex("03 04 03 fd e2 04"), Reading(1250, stable=True)),  # 1250 × 10⁻³ kg
        (bytes.fromhex("03 04 03 fe 7d 00"), Reading(1250, stable=True)),  # 125 × 10⁻² kg
        (bytes.fromhex("03 04 0c fe e8 03"), Reading(4536, stable=True)),  # 10.00 lb
        (bytes.fromhex("03 04 01 00 10 27"), Reading(10, stable=True)),  # 10000 mg
        (bytes.fromhex("03 04 02 01 10 27"), Reading(100_000, stable=True)),  # 10000 × 10 g
        (bytes.fromhex("03 04 02 00 ff ff"), Reading(65535, stable=True)),  # unsigned
        (bytes.fromhex("03 04 02 00 1e 04 00 00"), Reading(1054, stable=True)),  # padded to 8
        (bytes.fromhex("03 02 0b ff 00 00"), Reading(0, stable=True)),
    ],
)
def test_data_reports_are_decoded(report: bytes, expected: Reading) -> None:
    assert decode_report(report) == expected


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (1, "scale fault"),
        (5, "under zero: re-zero the scale"),
        (6, "over the weight limit"),
        (7, "the scale needs calibrating"),
        (8, "the scale needs re-zeroing"),
    ],
)
def test_statuses_without_a_weight(status: int, reason: str) -> None:
    assert decode_report(bytes([3, status, 2, 0, 0x1E, 0x04])) == NoWeight(reason)


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        (bytes.fromhex("03 00 02 00 1e 04"), "unknown scale status 0"),
        (bytes.fromhex("03 09 02 00 1e 04"), "unknown scale status 9"),
        (bytes.fromhex("03 04 00 00 1e 04"), "unsupported weight unit 0"),
        (bytes.fromhex("03 04 0d 00 1e 04"), "unsupported weight unit 13"),
        (
            bytes.fromhex("03 04 05 00 1e 04"),
            "unsupported weight unit taels (their gram value differs by country)",
        ),
        (bytes.fromhex("03 04 02 7f ff ff"), "weight out of range"),
        (bytes.fromhex("03 04 02"), "scale data report shorter than 6 bytes"),
        (b"", "empty report"),
    ],
)
def test_bad_reports_are_unreadable(report: bytes, reason: str) -> None:
    assert decode_report(report) == Unreadable(reason, report)


def test_other_reports_are_not_the_scales_business() -> None:
    assert decode_report(bytes.fromhex("04 01 00 00 00 00")) is None
    assert decode_report(bytes.fromhex("05 04 02 00 1e 04"), report_id=5) == Reading(1054, True)


def test_a_device_without_report_ids() -> None:
    assert decode_report(bytes.fromhex("04 02 00 1e 04"), report_id=None) == Reading(1054, True)


@settings(max_examples=2000, deadline=None)
@given(report=st.binary(max_size=12), report_id=st.sampled_from([3, None, 1, 255]))
def test_random_reports_never_raise(report: bytes, report_id: int | None) -> None:
    result = decode_report(report, report_id=report_id)
    assert result is None or isinstance(result, Reading | NoWeight | Unreadable)
    if isinstance(result, Reading):
        assert abs(result.grams) <= MAX_GRAMS
        assert len(report) >= (6 if report_id is not None else 5)


def test_100k_random_reports() -> None:
    rng = random.Random(20240501)
    seen: set[type] = set()
    for _ in range(100_000):
        # Mostly data reports with random fields, so that the decoding goes past the id.
        if rng.random() < 0.8:
            report = bytes([3, rng.randrange(0, 10), rng.randrange(0, 14)]) + rng.randbytes(
                rng.randrange(0, 6)
            )
        else:
            report = rng.randbytes(rng.randrange(0, 10))
        result = decode_report(report)
        seen.add(type(result))
        if isinstance(result, Reading):
            assert abs(result.grams) <= MAX_GRAMS
    assert seen == {Reading, NoWeight, Unreadable, type(None)}


# The bus under pyusb ----------------------------------------------------------------------------
UNPLUGGED = object()


class RecordedScaleBus(usb.backend.IBackend):
    """A USB bus with one HID POS scale on it, playing recorded reports: a pyusb backend.

    A fake only because there is no USB bus (let alone a scale) where the tests run. It stands
    in for libusb below pyusb — it implements `usb.backend.IBackend`, the interface libusb's
    pyusb backend implements — so `usb.core.find`, `usb.core.Device` and `usb.util` run for
    real above it. It keeps the rules the kernel enforces on real hardware: an interface held by
    a kernel driver can't be claimed (EBUSY), and every call on a device that was unplugged
    fails with ENODEV, a new device (a new address) appearing when it is plugged back in.
    """

    def __init__(self, *, serial_number: str = SERIAL, plugged: bool = True) -> None:
        self.serial_number = serial_number
        self.address = 7
        self.plugged = plugged
        self.kernel_driver = True  # usbhid binds the scale when it is plugged in
        self.claimed: set[int] = set()
        self.open_handles: set[int] = set()
        self.calls: list[str] = []
        self.deny_access = False
        self.reports: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()

    # What the tests do to the bus
    def send(self, *reports: bytes) -> None:
        for report in reports:
            self.reports.put(report)

    def unplug(self) -> None:
        with self._lock:
            self.plugged = False
            self.claimed.clear()
        self.reports.put(UNPLUGGED)  # wakes a read under way, as libusb's transfer fails

    def plug_in(self) -> None:
        with self._lock:
            self.address += 1
            self.plugged = True
            self.kernel_driver = True
            self.reports = queue.Queue()

    # usb.backend.IBackend
    def enumerate_devices(self) -> list[int]:
        return [self.address] if self.plugged else []

    def get_device_descriptor(self, dev: int) -> SimpleNamespace:
        return SimpleNamespace(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=0x0110,
            bDeviceClass=0,
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=8,
            idVendor=DYMO_VID,
            idProduct=DYMO_M25_PID,
            bcdDevice=0x0100,
            iManufacturer=1,
            iProduct=2,
            iSerialNumber=3,
            bNumConfigurations=1,
            address=dev,
            bus=1,
            port_number=2,
            port_numbers=(2,),
            speed=1,
        )

    def get_configuration_descriptor(self, dev: int, config: int) -> SimpleNamespace:
        if config != 0:
            raise IndexError(config)
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=34,
            bNumInterfaces=1,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0x80,
            bMaxPower=50,
            extra_descriptors=[],
        )

    def get_interface_descriptor(self, dev: int, intf: int, alt: int, config: int) -> Any:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError((intf, alt, config))
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=0,
            bAlternateSetting=0,
            bNumEndpoints=1,
            bInterfaceClass=3,  # HID
            bInterfaceSubClass=0,
            bInterfaceProtocol=0,
            iInterface=0,
            extra_descriptors=[],
        )

    def get_endpoint_descriptor(self, dev: int, ep: int, intf: int, alt: int, config: int) -> Any:
        if (ep, intf, alt, config) != (0, 0, 0, 0):
            raise IndexError((ep, intf, alt, config))
        return SimpleNamespace(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=0x82,  # IN, endpoint 2
            bmAttributes=0x03,  # interrupt
            wMaxPacketSize=6,
            bInterval=10,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=[],
        )

    def _check(self, handle: int) -> None:
        if not self.plugged or handle != self.address:
            raise usb.core.USBError(
                "No such device (it may have been disconnected)", -4, errno.ENODEV
            )

    def open_device(self, dev: int) -> int:
        self.calls.append("open")
        self._check(dev)
        if self.deny_access:
            raise usb.core.USBError("Access denied (insufficient permissions)", -3, errno.EACCES)
        self.open_handles.add(dev)
        return dev

    def close_device(self, handle: int) -> None:
        self.calls.append("close")
        self.open_handles.discard(handle)

    def get_configuration(self, handle: int) -> int:
        self._check(handle)
        return 1

    def set_configuration(self, handle: int, config_value: int) -> None:
        self._check(handle)

    def claim_interface(self, handle: int, intf: int) -> None:
        self.calls.append(f"claim {intf}")
        self._check(handle)
        if self.kernel_driver:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        self.claimed.add(intf)

    def release_interface(self, handle: int, intf: int) -> None:
        self.calls.append(f"release {intf}")
        self._check(handle)
        self.claimed.discard(intf)

    def is_kernel_driver_active(self, handle: int, intf: int) -> bool:
        self._check(handle)
        return self.kernel_driver

    def detach_kernel_driver(self, handle: int, intf: int) -> None:
        self.calls.append(f"detach {intf}")
        self._check(handle)
        self.kernel_driver = False

    def attach_kernel_driver(self, handle: int, intf: int) -> None:
        self.calls.append(f"attach {intf}")
        self._check(handle)
        self.kernel_driver = True

    def intr_read(self, handle: int, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        self._check(handle)
        if intf not in self.claimed:
            raise usb.core.USBError("Interface not claimed", -1, errno.EPERM)
        try:
            report = self.reports.get(timeout=timeout / 1000)
        except queue.Empty:
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT) from None
        if report is UNPLUGGED:
            self._check(-1)
        n = min(len(buff), len(report))
        buff[:n] = array.array("B", report[:n])
        return n

    def ctrl_transfer(self, handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        self._check(handle)
        if (bmRequestType, bRequest) != (0x80, 6) or wValue >> 8 != 3:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        index = wValue & 0xFF
        text = {1: "DYMO", 2: "M25 25 lb Digital Postal Scale", 3: self.serial_number}
        if index == 0:
            desc = bytes([4, 3, 0x09, 0x04])  # LANGID en-US
        else:
            encoded = text[index].encode("utf-16-le")
            desc = bytes([2 + len(encoded), 3]) + encoded
        n = min(len(data), len(desc))
        data[:n] = array.array("B", desc[:n])
        return n


@pytest.fixture
def usb_bus() -> RecordedScaleBus:
    return RecordedScaleBus()


@pytest.fixture
def scales(bus: Bus, usb_bus: RecordedScaleBus) -> Iterator[Callable[..., HidPosScale]]:
    made: list[HidPosScale] = []

    def make(device: str = "usb:0922:8004", **kwargs: Any) -> HidPosScale:
        kwargs.setdefault("backend", usb_bus)
        scale = HidPosScale("m25", bus, device, **kwargs)
        made.append(scale)
        scale.start()
        return scale

    yield make
    for scale in made:
        scale.stop()


def test_kernel_driver_is_detached_and_stable_weights_published(
    usb_bus: RecordedScaleBus, scales, events: EventQueue
) -> None:
    scale = scales()
    connected = next_state(events, "connected")
    assert connected.device == "hidpos:m25"
    assert "usb:0922:8004" in connected.detail
    assert usb_bus.calls[:3] == ["open", "detach 0", "claim 0"]
    assert usb_bus.claimed == {0}

    usb_bus.send(EMPTY, MOVING_G)
    until(lambda: scale.last_weight is not None and scale.last_weight.grams == 1050)
    assert scale.last_weight is not None and not scale.last_weight.stable
    usb_bus.send(STABLE_G, STABLE_G, STABLE_G)

    first, before = next_event(events, WeightRead)
    assert first == WeightRead(0, True, "hidpos:m25", first.at)  # the empty scale, settled
    assert before == []
    weight, before = next_event(events, WeightRead)
    assert weight == WeightRead(1054, True, "hidpos:m25", weight.at)
    assert before == []  # the moving report published nothing
    assert events.get(timeout=0.3) is None  # the repeats neither
    last = scale.last_weight
    assert last is not None and (last.grams, last.stable) == (1054, True)
    assert last.at >= weight.at  # the latest repeat: as fresh as the scale's last report


def test_units_and_scaling_through_the_device(usb_bus: RecordedScaleBus, scales, events) -> None:
    scales()
    next_state(events, "connected")
    usb_bus.send(STABLE_OZ, bytes.fromhex("03 04 03 fd e2 04"), bytes.fromhex("03 04 0c fe e8 03"))
    got = [next_event(events, WeightRead)[0].grams for _ in range(3)]
    assert got == [850, 1250, 4536]


def test_faults_clear_the_weight_and_garbage_is_ignored(
    usb_bus: RecordedScaleBus, scales, events: EventQueue
) -> None:
    scale = scales()
    next_state(events, "connected")
    usb_bus.send(STABLE_G)
    assert next_event(events, WeightRead)[0].grams == 1054
    usb_bus.send(bytes.fromhex("03 06 02 00 00 00"))  # over the weight limit
    until(lambda: scale.last_weight is None)
    usb_bus.send(b"\x03", b"\xff" * 6, bytes.fromhex("03 04 05 00 1e 04"), b"\x04\x01")
    usb_bus.send(STABLE_G)
    weight, before = next_event(events, WeightRead)
    assert weight.grams == 1054  # published again: the scale had no weight in between
    assert before == []
    assert scale.state == ScaleState.CONNECTED


def test_quiet_scale_stays_connected(usb_bus: RecordedScaleBus, scales, events) -> None:
    scale = scales(read_timeout_s=0.02)
    next_state(events, "connected")
    assert events.get(timeout=0.3) is None  # many read timeouts, no state change
    assert scale.state == ScaleState.CONNECTED
    usb_bus.send(STABLE_G)
    assert next_event(events, WeightRead)[0].grams == 1054


def test_unplug_and_replug_without_restart(
    usb_bus: RecordedScaleBus, scales, events: EventQueue
) -> None:
    scale = scales(reconnect_max_s=1.0)
    next_state(events, "connected")
    usb_bus.send(STABLE_G)
    assert next_event(events, WeightRead)[0].grams == 1054

    usb_bus.unplug()
    offline = next_state(events, "offline")
    assert "No such device" in offline.detail
    assert scale.state == ScaleState.OFFLINE
    assert scale.last_weight is None
    assert usb_bus.open_handles == set()  # the dead handle was closed

    usb_bus.plug_in()
    appeared = time.monotonic()
    back, before = next_event(events, DeviceStateChanged)
    assert back.state == "connected"
    assert before == []
    assert time.monotonic() - appeared < WITHIN_S
    assert not usb_bus.kernel_driver  # detached again from the new device
    usb_bus.send(STABLE_G)
    weight, before = next_event(events, WeightRead)
    assert weight.grams == 1054  # the same parcel, read again after the replug
    assert before == []


def test_stop_gives_the_device_back_to_the_kernel(
    usb_bus: RecordedScaleBus, bus: Bus, events: EventQueue
) -> None:
    scale = HidPosScale("m25", bus, "usb:0922:8004", backend=usb_bus)
    scale.start()
    next_state(events, "connected")
    begun = time.monotonic()
    scale.stop()
    assert time.monotonic() - begun < 1.0
    assert scale.state == ScaleState.STOPPED
    next_state(events, "stopped")
    assert usb_bus.calls[-3:] == ["release 0", "attach 0", "close"]
    assert usb_bus.kernel_driver
    assert usb_bus.claimed == set()
    assert usb_bus.open_handles == set()
    assert not any(t.name == "scale-m25" for t in threading.enumerate())


def test_scale_missing_at_start_is_found_when_plugged_in(bus: Bus, scales, events) -> None:
    usb_bus = RecordedScaleBus(plugged=False)
    scale = scales(backend=usb_bus)
    offline = next_state(events, "offline")
    assert offline.detail == "no USB scale usb:0922:8004"
    assert scale.state == ScaleState.OFFLINE
    usb_bus.plug_in()
    next_state(events, "connected")
    usb_bus.send(STABLE_G)
    assert next_event(events, WeightRead)[0].grams == 1054


def test_serial_number_picks_the_scale(usb_bus: RecordedScaleBus, scales, events) -> None:
    scales(f"usb:0922:8004:{SERIAL}")
    next_state(events, "connected")


def test_another_serial_number_is_not_taken(bus: Bus, usb_bus: RecordedScaleBus, events) -> None:
    scale = HidPosScale("m25", bus, "usb:0922:8004:OTHER", backend=usb_bus)
    scale.start()
    try:
        offline = next_state(events, "offline")
    finally:
        scale.stop()
    assert offline.detail == "no USB scale usb:0922:8004:OTHER"
    assert usb_bus.kernel_driver  # never touched


def test_permission_denied_names_the_udev_rules(bus: Bus, usb_bus, events) -> None:
    usb_bus.deny_access = True
    scale = HidPosScale("m25", bus, "usb:0922:8004", backend=usb_bus)
    scale.start()
    try:
        offline = next_state(events, "offline")
    finally:
        scale.stop()
    assert "permission denied (are the stationd udev rules installed?)" in offline.detail


def test_reconnect_backs_off_instead_of_spinning(bus: Bus) -> None:
    usb_bus = RecordedScaleBus(plugged=False)
    attempts: list[float] = []
    real = usb_bus.enumerate_devices

    def counting() -> list[int]:
        attempts.append(time.monotonic())
        return real()

    usb_bus.enumerate_devices = counting  # type: ignore[method-assign]
    scale = HidPosScale("m25", bus, "usb:0922:8004", backend=usb_bus, reconnect_max_s=5.0)
    scale.start()
    try:
        # The one deliberate wait: counting what happens in a stretch of time is the test.
        threading.Event().wait(0.8)
    finally:
        scale.stop()
    # 0.1 s doubling: attempts at about 0, 0.1, 0.3, 0.7 s. A spinning loop makes thousands.
    assert 2 <= len(attempts) <= 10


@pytest.mark.parametrize(
    ("device", "kwargs"),
    [
        ("/dev/hidraw0", {}),
        ("usb::8004:SERIAL", {}),
        ("usb:0922:8004", {"interface": 256}),
        ("usb:0922:8004", {"report_id": 0}),
        ("usb:0922:8004", {"read_timeout_s": 0}),
        ("usb:0922:8004", {"reconnect_max_s": 0.01}),
    ],
)
def test_bad_settings_are_refused(bus: Bus, device: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        HidPosScale("m25", bus, device, **kwargs)
