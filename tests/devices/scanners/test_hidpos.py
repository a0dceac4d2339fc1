"""HidPosScanner and the HID POS report decoder.

The decoder gets recorded Scanned Data Reports, byte for byte as a scanner sends them, and
random bytes. The scanner runs on pyusb's real classes — `usb.core.find`, `usb.core.Device`,
`usb.util` — over `FakeUsbBackend`, a stand-in for libusb: this machine has no USB bus at all
(no /sys/bus/usb), so the one thing faked is the backend interface pyusb itself defines for
libusb (`usb.backend.IBackend`). It fails as libusb does: `USBError` with errno ENODEV once
the device is unplugged, `USBTimeoutError` when no report came in time, EBUSY when the kernel
driver still holds the interface.
"""

from __future__ import annotations

import array
import errno
import queue
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import usb.backend
import usb.core
from bus_waits import next_event, next_state
from decoder_stress import stress_report_decoder
from hypothesis import given, settings
from hypothesis import strategies as st

from stationd.devices.scanners.frames import Frame, Rejected
from stationd.devices.scanners.hidpos import (
    HidPosDecoder,
    HidPosScanner,
    scanned_data_reports,
    usage_pages,
)
from stationd.devices.scanners.scanner import ScannerState
from stationd.devices.usb_find import find_usb_device, list_usb_devices
from stationd.events import Bus, EventQueue, ScanRead, ScanRejected

GS = b"\x1d"
NEWLAND, HR2150_HIDPOS = 0x1EAB, 0x1C10

# --- recorded reports ----------------------------------------------------------------------------
# An EAN-13 in one report, as a Honeywell scanner in HID POS mode sends it: report id 2, 13 data
# bytes, AIM "]E0", the digits, zero padding to byte 60, Honeywell's code id "d" (EAN-13) in byte
# 61, a reserved byte, flags 0 (last report).
EAN13_REPORT = (
    bytes([0x02, 0x0D]) + b"]E0" + b"7310865004703" + bytes(43) + b"d" + b"\x00" + b"\x00"
)
# A GS1 DataMatrix of 70 bytes in two reports: 56 data bytes with the continuation bit, then
# the remaining 14; the AIM id "]d2" is repeated in the second report, its padding is zeros.
GS1_DM = (
    b"0107310865004703" + b"17261231" + b"10LOT-2026-A/7" + GS + b"21SERIAL0000000000000042" + GS
)
GS1_DM += b"91ABCDEF"
assert len(GS1_DM) == 72
GS1_REPORTS = [
    bytes([0x02, 56]) + b"]d2" + GS1_DM[:56] + b"w\x00" + b"\x01",
    bytes([0x02, 16]) + b"]d2" + GS1_DM[56:] + bytes(40) + b"w\x00" + b"\x00",
]
# The trigger report (id 4) a scanner may send too: not a scan.
TRIGGER_REPORT = bytes([0x04, 0x01]) + bytes(62)

# A HID POS bar code scanner's report descriptor (Scanned Data Report, id 2), and a keyboard's.
HID_POS_DESCRIPTOR = bytes.fromhex(
    "058c 0902 a101"  # Usage Page (Bar Code Scanner), Usage (Bar Code Scanner), Collection
    "0912 a102 8502"  # Usage (Scanned Data Report), Collection (Logical), Report ID (2)
    "1500 26ff00 7508 9501 0501 093b 8102"  # Byte Count
    "058c 09fb 09fc 09fd 9503 8102"  # Symbology Identifier 1-3
    "9538 09fe 820201"  # Decoded Data, 56 bytes, buffered
    "0666ff 9502 0900 8102"  # vendor: code id, reserved
    "058c 2501 7501 9508 09ff 8102"  # Decode Data Continued
    "c0 c0"
)
KEYBOARD_DESCRIPTOR = bytes.fromhex(
    "0501 0906 a101 0507 19e0 29e7 1500 2501 7501 9508 8102 9501 7508 8101"
    "9506 7508 1500 2565 0507 1900 2965 8100 c0"
)


def reports_of(decoder: HidPosDecoder, reports: list[bytes], step_s: float = 0.004) -> list[Any]:
    out: list[Any] = []
    for i, report in enumerate(reports):
        out += decoder.feed(report, i * step_s)
    return out


# --- the decoder ---------------------------------------------------------------------------------


def test_recorded_single_report() -> None:
    assert len(EAN13_REPORT) == 64
    assert reports_of(HidPosDecoder(), [EAN13_REPORT]) == [Frame("7310865004703", "]E0")]


def test_recorded_two_fragment_gs1_datamatrix() -> None:
    decoder = HidPosDecoder()
    assert decoder.feed(GS1_REPORTS[0], 0.0) == []
    assert decoder.deadline == pytest.approx(0.2)
    assert decoder.feed(GS1_REPORTS[1], 0.01) == [Frame(GS1_DM.decode(), "]d2")]
    assert decoder.deadline is None


def test_other_reports_are_not_scans() -> None:
    decoder = HidPosDecoder()
    assert reports_of(decoder, [TRIGGER_REPORT, b"", EAN13_REPORT]) == [
        Frame("7310865004703", "]E0")
    ]


def test_unfinished_message_is_rejected_never_read() -> None:
    decoder = HidPosDecoder(frame_timeout_s=0.1)
    assert decoder.feed(GS1_REPORTS[0], 0.0) == []
    assert decoder.expire(0.05) == []
    assert decoder.expire(0.2) == [Rejected("scan not finished within 0.1 s", GS1_DM[:56])]
    # The next scan is read on its own: the dropped half never merges with it.
    assert decoder.feed(EAN13_REPORT, 1.0) == [Frame("7310865004703", "]E0")]


def test_late_fragment_expires_the_partial_message_first() -> None:
    decoder = HidPosDecoder(frame_timeout_s=0.1)
    out = decoder.feed(GS1_REPORTS[0], 0.0) + decoder.feed(EAN13_REPORT, 0.5)
    assert out == [
        Rejected("scan not finished within 0.1 s", GS1_DM[:56]),
        Frame("7310865004703", "]E0"),
    ]


def test_malformed_fragment_spoils_its_message_to_the_end() -> None:
    lying = bytes([0x02, 60]) + GS1_REPORTS[0][2:]  # claims 60 data bytes, room for 56
    out = reports_of(HidPosDecoder(), [GS1_REPORTS[0], lying, GS1_REPORTS[1], EAN13_REPORT])
    assert out == [
        Rejected("HID POS report claims 60 data bytes, has room for 56", GS1_DM[:56]),
        Frame("7310865004703", "]E0"),
    ]
    # A short report can't say whether more follows: what comes next belongs to it.
    out = reports_of(HidPosDecoder(), [b"\x02\x05]E0", GS1_REPORTS[1], EAN13_REPORT])
    assert out == [
        Rejected("HID POS report too short (5 bytes)", b"\x02\x05]E0"),
        Frame("7310865004703", "]E0"),
    ]


def test_over_long_code_is_rejected() -> None:
    out = reports_of(HidPosDecoder(max_frame_len=60), [*GS1_REPORTS, EAN13_REPORT])
    assert out == [
        Rejected("code longer than 60 bytes", GS1_DM[:61]),
        Frame("7310865004703", "]E0"),
    ]


def test_text_rules() -> None:
    def one(code: bytes, aim: bytes = b"]Q1") -> list[Any]:
        return reports_of(HidPosDecoder(), scanned_data_reports(code, aim))

    assert one("Åsa Ödegård".encode()) == [Frame("Åsa Ödegård", "]Q1")]
    assert one("Ødegård".encode("latin-1")) == [Frame("Ødegård", "]Q1")]  # not UTF-8: Latin-1
    assert one(b"ORD-1042\r\n") == [Frame("ORD-1042", "]Q1")]  # a configured suffix goes
    assert one(b"12\x0734") == [Rejected("unreadable bytes (control characters)", b"12\x0734")]
    assert one(b"") == []
    assert one(b"\r") == []
    assert one(b"7310865004703", b"\0\0\0") == [Frame("7310865004703", None)]


def test_scanned_data_reports_look_like_the_recorded_ones() -> None:
    assert scanned_data_reports(b"7310865004703", b"]E0")[0][:61] == EAN13_REPORT[:61]
    assert [r[:61] for r in scanned_data_reports(GS1_DM, b"]d2")] == [r[:61] for r in GS1_REPORTS]


def test_usage_pages_of_report_descriptors() -> None:
    assert 0x8C in usage_pages(HID_POS_DESCRIPTOR)
    assert usage_pages(KEYBOARD_DESCRIPTOR) == {0x01, 0x07}
    assert usage_pages(b"\x06\x8c\x00") == {0x8C}  # two-byte Usage Page
    assert usage_pages(b"\xfe\x02\x00\xaa\xbb\x05\x8c") == {0x8C}  # past a long item
    assert usage_pages(b"\x05") == set()


# --- random reports ------------------------------------------------------------------------------

shaped_report = st.builds(
    lambda length, flags, body, size: (
        (bytes([2, length]) + body)[: size - 1].ljust(size - 1, b"\0") + bytes([flags])
    ),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(min_size=0, max_size=80),
    st.sampled_from([8, 9, 32, 64, 64, 64, 65]),
)


def _final(report: bytes) -> bool:
    return (
        len(report) >= 8 and report[0] == 2 and not report[-1] & 1 and report[1] <= len(report) - 8
    )


@settings(max_examples=400, deadline=None)
@given(
    reports=st.lists(st.one_of(st.binary(max_size=80), shaped_report), max_size=8),
    gaps=st.lists(st.sampled_from([0.001, 0.01, 0.5]), min_size=8, max_size=8),
    max_len=st.integers(1, 200),
)
def test_random_reports_never_raise_and_frames_only_end_a_message(
    reports: list[bytes], gaps: list[float], max_len: int
) -> None:
    decoder = HidPosDecoder(max_frame_len=max_len)
    now = 0.0
    for report, gap in zip(reports, gaps, strict=False):
        now += gap
        for result in decoder.feed(report, now):
            assert isinstance(result, Frame | Rejected)
            if isinstance(result, Frame):
                assert _final(report)
                assert len(result.code.encode("utf-8")) <= max_len * 2  # Latin-1 may widen
    assert all(isinstance(r, Rejected) for r in decoder.flush("end"))


@settings(max_examples=200, deadline=None)
@given(
    code=st.binary(min_size=1, max_size=300).filter(
        lambda b: (
            not any(c < 0x20 and c not in (0x1D, 0x1E, 0x04) for c in b)
            and not any(0x7F <= c <= 0x9F for c in b)
            and b.rstrip(b"\r\n") == b
        )
    )
)
def test_any_code_round_trips_through_reports(code: bytes) -> None:
    try:
        text = code.decode("utf-8")
    except UnicodeDecodeError:
        text = code.decode("latin-1")
    if any("\x7f" <= ch <= "\x9f" for ch in text):
        return  # UTF-8 for a C1 control: rejected, as it should be
    got = reports_of(HidPosDecoder(), scanned_data_reports(code, b"]d2"))
    assert got == [Frame(text, "]d2")]


def test_stress_function_for_the_benchmark_finds_no_violation() -> None:
    result = stress_report_decoder(5000, seed=3)
    assert result.violations == 0
    assert result.frames > 0 and result.rejected > 0


# --- a stand-in for libusb ----------------------------------------------------------------------


def _no_device() -> usb.core.USBError:
    # What pyusb's libusb1 backend raises for LIBUSB_ERROR_NO_DEVICE.
    return usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


class FakeHidPosDevice:
    """One physical HID POS scanner on the fake bus: descriptors, strings, a kernel driver
    bound to its HID interface, and a queue of input reports."""

    def __init__(
        self,
        *,
        vid: int = NEWLAND,
        pid: int = HR2150_HIDPOS,
        serial: str = "N123456",
        address: int = 5,
        descriptor: bytes = HID_POS_DESCRIPTOR,
    ) -> None:
        self.vid, self.pid, self.serial, self.address = vid, pid, serial, address
        self.descriptor = descriptor
        self.plugged = True
        self.kernel_driver = True  # usbhid is bound when a HID device is plugged in
        self.claimed = False
        self.open_handles = 0
        self.reports: queue.Queue[bytes | None] = queue.Queue()
        self.calls: list[str] = []

    def check(self) -> None:
        if not self.plugged:
            raise _no_device()

    def send(self, *reports: bytes) -> None:
        for report in reports:
            self.reports.put(report)

    def unplug(self) -> None:
        self.plugged = False
        self.reports.put(None)  # wake a blocked read

    def strings(self) -> dict[int, str]:
        return {1: "Newland Auto-ID", 2: "HR2150 HID POS barcode scanner", 3: self.serial}


class FakeUsbBackend(usb.backend.IBackend):
    """libusb as pyusb's `IBackend` sees it, for `FakeHidPosDevice`s (see the module docstring).

    Interface 0: HID, interrupt IN 0x81 and OUT 0x02, 64-byte packets."""

    def __init__(self) -> None:
        self.devices: list[FakeHidPosDevice] = []

    def plug(self, device: FakeHidPosDevice) -> FakeHidPosDevice:
        self.devices.append(device)
        return device

    def enumerate_devices(self) -> Iterator[FakeHidPosDevice]:
        yield from [d for d in self.devices if d.plugged]

    def get_device_descriptor(self, dev: FakeHidPosDevice) -> SimpleNamespace:
        return SimpleNamespace(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=0x0200,
            bDeviceClass=0,
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=64,
            idVendor=dev.vid,
            idProduct=dev.pid,
            bcdDevice=0x0100,
            iManufacturer=1,
            iProduct=2,
            iSerialNumber=3,
            bNumConfigurations=1,
            address=dev.address,
            bus=1,
            port_number=3,
            port_numbers=(1, 3),
            speed=2,
        )

    def get_configuration_descriptor(self, dev: FakeHidPosDevice, config: int) -> SimpleNamespace:
        if config != 0:
            raise IndexError(config)
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=41,
            bNumInterfaces=1,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0x80,
            bMaxPower=250,
            extra_descriptors=[],
        )

    def get_interface_descriptor(
        self, dev: FakeHidPosDevice, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError(intf, alt)
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=0,
            bAlternateSetting=0,
            bNumEndpoints=2,
            bInterfaceClass=3,
            bInterfaceSubClass=0,
            bInterfaceProtocol=0,
            iInterface=0,
            extra_descriptors=[],
        )

    def get_endpoint_descriptor(
        self, dev: FakeHidPosDevice, ep: int, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        if ep not in (0, 1) or (intf, alt, config) != (0, 0, 0):
            raise IndexError(ep)
        return SimpleNamespace(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=0x81 if ep == 0 else 0x02,
            bmAttributes=0x03,  # interrupt
            wMaxPacketSize=64,
            bInterval=1,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=[],
        )

    def open_device(self, dev: FakeHidPosDevice) -> FakeHidPosDevice:
        dev.check()
        dev.open_handles += 1
        return dev

    def close_device(self, handle: FakeHidPosDevice) -> None:
        handle.open_handles -= 1

    def set_configuration(self, handle: FakeHidPosDevice, config_value: int) -> None:
        handle.check()

    def get_configuration(self, handle: FakeHidPosDevice) -> int:
        handle.check()
        return 1

    def set_interface_altsetting(self, handle: FakeHidPosDevice, intf: int, alt: int) -> None:
        handle.check()

    def claim_interface(self, handle: FakeHidPosDevice, intf: int) -> None:
        handle.check()
        if handle.kernel_driver:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        handle.claimed = True
        handle.calls.append("claim")

    def release_interface(self, handle: FakeHidPosDevice, intf: int) -> None:
        handle.check()
        handle.claimed = False
        handle.calls.append("release")

    def intr_read(
        self, handle: FakeHidPosDevice, ep: int, intf: int, buff: array.array, timeout: int
    ) -> int:
        handle.check()
        if not handle.claimed or ep != 0x81:
            raise usb.core.USBError("Input/Output Error", -1, errno.EIO)
        try:
            report = handle.reports.get(timeout=timeout / 1000)
        except queue.Empty:
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT) from None
        handle.check()
        assert report is not None
        n = min(len(report), len(buff))
        buff[:n] = array.array("B", report[:n])
        return n

    def ctrl_transfer(
        self,
        handle: FakeHidPosDevice,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array,
        timeout: int,
    ) -> int:
        handle.check()
        if bRequest != 0x06 or not bmRequestType & 0x80:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        kind, index = wValue >> 8, wValue & 0xFF
        if kind == 0x03 and index == 0:
            payload = bytes([4, 3, 0x09, 0x04])  # LANGID en-US
        elif kind == 0x03 and index in handle.strings():
            text = handle.strings()[index].encode("utf-16-le")
            payload = bytes([2 + len(text), 3]) + text
        elif kind == 0x22 and bmRequestType == 0x81 and wIndex == 0:
            if not handle.claimed:  # Linux usbfs: the interface must be ours first
                raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
            payload = handle.descriptor
        else:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        n = min(len(payload), len(data))
        data[:n] = array.array("B", payload[:n])
        return n

    def is_kernel_driver_active(self, handle: FakeHidPosDevice, intf: int) -> bool:
        handle.check()
        return handle.kernel_driver

    def detach_kernel_driver(self, handle: FakeHidPosDevice, intf: int) -> None:
        handle.check()
        if not handle.kernel_driver:
            raise usb.core.USBError("Entity not found", -5, errno.ENOENT)
        handle.kernel_driver = False
        handle.calls.append("detach")

    def attach_kernel_driver(self, handle: FakeHidPosDevice, intf: int) -> None:
        handle.check()
        if handle.claimed:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        handle.kernel_driver = True
        handle.calls.append("attach")


# --- the scanner ---------------------------------------------------------------------------------


@pytest.fixture
def backend() -> FakeUsbBackend:
    return FakeUsbBackend()


@pytest.fixture
def scanners(bus: Bus, backend: FakeUsbBackend) -> Iterator[Callable[..., HidPosScanner]]:
    made: list[HidPosScanner] = []

    def make(serial: str | None = "N123456", **kwargs: Any) -> HidPosScanner:
        kwargs.setdefault("backend", backend)
        scanner = HidPosScanner("test", bus, NEWLAND, HR2150_HIDPOS, serial, **kwargs)
        made.append(scanner)
        scanner.start()
        return scanner

    yield make
    for scanner in made:
        scanner.stop()


def test_reports_become_scans_with_their_symbology(
    backend: FakeUsbBackend, scanners, events: EventQueue
) -> None:
    device = backend.plug(FakeHidPosDevice())
    scanner = scanners()
    connected = next_state(events, "connected")
    assert connected.detail == "usb:1eab:1c10 bus 1 address 5 interface 0"
    assert connected.device == "hidpos:test"
    assert scanner.state == ScannerState.CONNECTED
    assert device.calls[:2] == ["detach", "claim"]  # the kernel driver let go first

    device.send(EAN13_REPORT, TRIGGER_REPORT, *GS1_REPORTS)
    first, _ = next_event(events, ScanRead)
    second, between = next_event(events, ScanRead)
    assert (first.code, first.symbology, first.source) == ("7310865004703", "]E0", "hidpos:test")
    assert (second.code, second.symbology) == (GS1_DM.decode(), "]d2")
    assert between == []


def test_stop_gives_the_interface_back_to_the_kernel(
    backend: FakeUsbBackend, scanners, events: EventQueue
) -> None:
    device = backend.plug(FakeHidPosDevice())
    scanner = scanners()
    next_state(events, "connected")
    assert not device.kernel_driver and device.claimed
    scanner.stop()
    assert scanner.state == ScannerState.STOPPED
    assert device.calls == ["detach", "claim", "release", "attach"]
    assert device.kernel_driver and not device.claimed
    assert device.open_handles == 0


def test_unplug_mid_scan_then_replug_works_again(
    backend: FakeUsbBackend, scanners, events: EventQueue
) -> None:
    device = backend.plug(FakeHidPosDevice())
    scanner = scanners(reconnect_max_s=0.2, frame_timeout_s=1.0)
    next_state(events, "connected")
    device.send(GS1_REPORTS[0])  # the first half of a long code, then the cable is pulled
    time.sleep(0.02)
    device.unplug()
    cut, _ = next_event(events, ScanRejected)
    assert (cut.reason, cut.raw) == ("scan cut off: the device went away", GS1_DM[:56])
    offline = next_state(events, "offline")
    assert "No such device" in offline.detail
    assert scanner.state == ScannerState.OFFLINE

    time.sleep(0.3)  # it keeps looking, with back-off
    again = backend.plug(FakeHidPosDevice(address=9))  # a replug enumerates anew
    back_at = time.monotonic()
    assert "address 9" in next_state(events, "connected").detail
    assert time.monotonic() - back_at < 2.0
    again.send(*GS1_REPORTS)
    assert next_event(events, ScanRead)[0].code == GS1_DM.decode()


def test_unfinished_scan_times_out_on_the_wire(
    backend: FakeUsbBackend, scanners, events: EventQueue
) -> None:
    device = backend.plug(FakeHidPosDevice())
    scanners(frame_timeout_s=0.1)
    next_state(events, "connected")
    device.send(GS1_REPORTS[0])
    rejected, _ = next_event(events, ScanRejected)
    assert rejected.reason == "scan not finished within 0.1 s"
    device.send(EAN13_REPORT)
    assert next_event(events, ScanRead)[0].code == "7310865004703"


def test_scanner_not_there_then_plugged(
    backend: FakeUsbBackend, scanners, events: EventQueue
) -> None:
    scanners(reconnect_max_s=0.2)
    assert next_state(events, "offline").detail == "no USB device usb:1eab:1c10:N123456"
    backend.plug(FakeHidPosDevice())
    next_state(events, "connected")


def test_the_serial_number_picks_the_device(
    backend: FakeUsbBackend, scanners, events: EventQueue
) -> None:
    other = backend.plug(FakeHidPosDevice(serial="N999", address=4))
    ours = backend.plug(FakeHidPosDevice(serial="N123456", address=6))
    scanners("N123456")
    assert "address 6" in next_state(events, "connected").detail
    assert other.kernel_driver and other.calls == []  # never touched
    assert not ours.kernel_driver
    assert find_usb_device(NEWLAND, HR2150_HIDPOS, "N999", backend=backend).address == 4
    assert find_usb_device(NEWLAND, HR2150_HIDPOS, "nope", backend=backend) is None


def test_a_scanner_in_keyboard_mode_is_left_to_the_kernel(
    backend: FakeUsbBackend, scanners, events: EventQueue
) -> None:
    device = backend.plug(FakeHidPosDevice(descriptor=KEYBOARD_DESCRIPTOR))
    scanners(reconnect_max_s=0.2)
    offline = next_state(events, "offline")
    assert "not a HID POS bar code scanner (no usage page 0x8C)" in offline.detail
    assert "set the scanner to HID POS mode" in offline.detail
    # Checked, then given back at once: as a keyboard it keeps working.
    assert device.calls[:4] == ["detach", "claim", "release", "attach"]
    assert device.kernel_driver and not device.claimed


def test_bad_settings_fail_in_the_caller(bus: Bus) -> None:
    with pytest.raises(ValueError, match="vid"):
        HidPosScanner("x", bus, 0x10000, 1)
    with pytest.raises(ValueError, match="max_frame_len"):
        HidPosScanner("x", bus, 1, 1, max_frame_len=0)
    with pytest.raises(ValueError, match="read_timeout_s"):
        HidPosScanner("x", bus, 1, 1, read_timeout_s=0)


def test_list_usb_devices_for_stationd_devices(backend: FakeUsbBackend) -> None:
    backend.plug(FakeHidPosDevice())
    (listed,) = list_usb_devices(backend=backend)
    assert listed["spec"] == "usb:1eab:1c10:N123456"
    assert listed["product"] == "HR2150 HID POS barcode scanner"
    assert listed["scanner_hint"] == "name contains 'hid pos'"
    assert listed["hid_interfaces"] == [0]


def test_no_libusb_is_reported_not_raised(bus: Bus, events: EventQueue, monkeypatch) -> None:
    def no_backend(*args: object, **kwargs: object) -> None:
        raise usb.core.NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", no_backend)
    scanner = HidPosScanner("test", bus, NEWLAND, HR2150_HIDPOS)
    scanner.start()
    try:
        assert next_state(events, "offline").detail == "no libusb: install libusb-1.0-0"
        assert scanner.state == ScannerState.OFFLINE
    finally:
        scanner.stop()
