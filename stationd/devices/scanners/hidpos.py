"""A barcode scanner in USB HID POS mode, read with pyusb.

In HID POS mode ("USB HID-POS", Honeywell's "HID bar code scanner", Newland's "HID POS") the
scanner is a HID device of the Bar Code Scanner usage page (0x8C, HID Point of Sale Usage
Tables) and sends each scan in **Scanned Data Reports** on its interrupt IN endpoint. Unlike
keyboard mode nothing is typed anywhere and no keyboard layout is involved: the report carries
the code's bytes and its AIM symbology identifier.

The Scanned Data Report as these scanners lay it out (64 bytes; HID POS usages in brackets)::

    byte 0       report id (0x02)
    byte 1       number of data bytes in this report
    bytes 2-4    AIM symbology identifier: "]", symbology, modifier  [Symbology Identifier 1-3]
    bytes 5-60   data, zero-padded (56 bytes)                         [Decoded Data]
    bytes 61-62  vendor symbology id, reserved
    byte 63      bit 0 set: more data follows in the next report      [Decode Data Continued]

A code longer than 56 bytes (a GS1 DataMatrix, a PDF417 on a carrier label) comes in several
reports; only the report without the continuation bit ends the scan. A report of another
layout length is read the same way: the data field is what lies between byte 5 and the last
three bytes.

One thread owns the device: it finds it by vendor/product id (and serial number), detaches the
kernel's HID driver from the interface (and gives it back on stop), claims the interface, reads
reports and publishes `ScanRead` / `ScanRejected` / `DeviceStateChanged`. A `USBError` (an
unplugged device fails with ENODEV) closes it and the thread looks for it again with back-off
(R21).
"""

from __future__ import annotations

import errno
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import usb.core
import usb.util

from stationd.core.text import sentence
from stationd.devices.scanners.frames import ALLOWED_CONTROLS, ExpiringDecoder, Frame, Rejected
from stationd.devices.scanners.scanner import OwnedScanner
from stationd.devices.usb_find import HID_CLASS, find_usb_device
from stationd.events import Bus

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

SCANNED_DATA_REPORT_ID = 0x02
BARCODE_SCANNER_PAGE = 0x8C
_HEAD = 5  # report id, length, three AIM bytes
_TAIL = 3  # two vendor bytes, the flags byte
_MIN_REPORT = _HEAD + _TAIL
_CONTINUED = 0x01
_AIM_ID = re.compile(rb"\][A-Za-z][0-9A-Za-z]")
_LIBUSB_ERROR_TIMEOUT = -7


def _unreadable(ch: str) -> bool:
    return (ch < " " and ch not in ALLOWED_CONTROLS) or "\x7f" <= ch <= "\x9f"


class HidPosDecoder(ExpiringDecoder):
    """Incremental decoder from HID POS Scanned Data Reports to `Frame` / `Rejected`.

    * Reports with another report id (trigger, status, a vendor's own) are not scans and are
      ignored.
    * Fragments with the continuation bit are collected; the report without it ends the scan.
      ``frame_timeout_s`` bounds the wait for the next fragment: a scan still unfinished after
      it is rejected, so no scan is ever made of a message that did not end.
    * A malformed fragment (too short, a length beyond the report) spoils its scan: the scan is
      rejected, and fragments up to its end are dropped — never read as a shorter code. A
      report too short to have the flags byte is taken as "more follows".
    * A code longer than ``max_frame_len`` bytes is rejected.
    * Text: the data bytes decoded as UTF-8 when valid, else Latin-1; a trailing CR/LF suffix
      (scanners can be set to add one) is removed; control characters other than GS (FNC1), RS
      and EOT reject the scan. The AIM identifier (``]C1``, ``]d2``, ``]Q3``…) becomes
      `Frame.symbology`.

    `feed`, `expire` and `flush` never raise, whatever the bytes. Not thread-safe: it belongs to
    the thread that reads the device.
    """

    EXPIRED = "scan not finished within {timeout}"

    def __init__(
        self,
        report_id: int = SCANNED_DATA_REPORT_ID,
        *,
        max_frame_len: int = 4096,
        frame_timeout_s: float = 0.2,
    ) -> None:
        if not 0 <= report_id <= 0xFF:
            raise ValueError(f"report_id must be 0…255, not {report_id}")
        if max_frame_len < 1:
            raise ValueError(f"max_frame_len must be at least 1, not {max_frame_len}")
        if not frame_timeout_s > 0:
            raise ValueError(f"frame_timeout_s must be more than 0, not {frame_timeout_s}")
        self.report_id = report_id
        self.max_frame_len = max_frame_len
        self.frame_timeout_s = frame_timeout_s
        self._buf = bytearray()
        self._symbology: str | None = None
        self._started = False  # a continued scan is under way
        self._spoiled: str | None = None  # its reason, once it can no longer be read
        self._spoiled_raw = b""
        self._last_at: float | None = None

    @property
    def deadline(self) -> float | None:
        """The time after which `expire` drops the unfinished scan, or None when there is none."""
        if self._last_at is None or not self._started:
            return None
        return self._last_at + self.frame_timeout_s

    def feed(self, report: bytes, now: float) -> list[Frame | Rejected]:
        """Take one input report (as read from the endpoint, report id first) read at `now`."""
        out: list[Frame | Rejected] = []
        try:
            out.extend(self.expire(now))
            report = bytes(report)
            if not report or report[0] != self.report_id:
                return out
            self._last_at = now
            self._fragment(report, out)
        except Exception:  # a bug here must cost one scan, never the reader thread
            log.exception("HID POS decoder failed on %r; dropping the scan", report)
            self._reset()
        return out

    def flush(self, reason: str) -> list[Rejected]:
        """Drop the unfinished scan now (say, the device went away), rejected with `reason`."""
        if not self._started:
            return []
        out = [Rejected(self._spoiled or reason, self._spoiled_raw or bytes(self._buf))]
        self._reset()
        return out

    def _reset(self) -> None:
        self._buf = bytearray()
        self._symbology = None
        self._started = False
        self._spoiled = None
        self._spoiled_raw = b""

    def _fragment(self, report: bytes, out: list[Frame | Rejected]) -> None:
        # A report too short to hold the flags can't say whether more follows: assume so, so
        # that the rest of its message is dropped with it rather than read on its own.
        continued = bool(report[-1] & _CONTINUED) if len(report) >= _MIN_REPORT else True
        reason = self._malformed(report)
        if reason is not None:
            self._spoil(reason, report)
        elif self._spoiled is None:
            if not self._started:
                aim = report[2:5]
                self._symbology = aim.decode("ascii") if _AIM_ID.fullmatch(aim) else None
            self._buf += report[_HEAD : _HEAD + report[1]]
            if len(self._buf) > self.max_frame_len:
                self._spoil(sentence("code longer than {num} bytes", num=self.max_frame_len), b"")
        self._started = True
        if continued:
            return
        # The last fragment: the scan ends here, read or rejected.
        if self._spoiled is not None:
            out.append(Rejected(self._spoiled, self._spoiled_raw))
        else:
            frame = self._decode(bytes(self._buf))
            if frame is not None:
                out.append(frame)
        self._reset()

    def _malformed(self, report: bytes) -> str | None:
        if len(report) < _MIN_REPORT:
            return sentence("HID POS report too short ({num} bytes)", num=len(report))
        if report[1] > len(report) - _MIN_REPORT:
            return sentence(
                "HID POS report claims {claims} data bytes, has room for {room}",
                claims=report[1],
                room=len(report) - 8,
            )
        return None

    def _spoil(self, reason: str, report: bytes) -> None:
        if self._spoiled is None:
            self._spoiled = reason
            self._spoiled_raw = bytes(self._buf[: self.max_frame_len + 1]) or report

    def _decode(self, raw: bytes) -> Frame | Rejected | None:
        body = raw.rstrip(b"\r\n")
        if not body:
            return None  # an empty report (or a bare suffix): not a scan
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("latin-1")
        if any(_unreadable(ch) for ch in text):
            return Rejected(sentence("unreadable bytes (control characters)"), raw)
        return Frame(text, self._symbology)


def scanned_data_reports(
    code: bytes, symbology: bytes = b"]C0", *, report_id: int = SCANNED_DATA_REPORT_ID
) -> list[bytes]:
    """The 64-byte Scanned Data Reports a HID POS scanner sends for `code` (56 bytes a report).

    For tests, simulations and benchmarks: the inverse of `HidPosDecoder`.
    """
    if len(symbology) != 3:
        raise ValueError("the AIM symbology identifier has three bytes, like b']C0'")
    chunks = [code[i : i + 56] for i in range(0, len(code), 56)] or [b""]
    reports = []
    for n, chunk in enumerate(chunks):
        flags = _CONTINUED if n < len(chunks) - 1 else 0
        body = bytes([report_id, len(chunk)]) + symbology + chunk.ljust(56, b"\0")
        reports.append(body + b"\0\0" + bytes([flags]))
    return reports


# --- the scanner -------------------------------------------------------------------------------


class NotHidPos(Exception):
    """The interface is HID but not a Bar Code Scanner (the scanner is in another mode)."""


class HidPosScanner(OwnedScanner):
    """A HID POS barcode scanner, read by its own thread through pyusb.

    The device is found by `vid`, `pid` and, when given, `serial` (looked up again on every
    connect). `interface` picks the HID interface; by default the first HID interface with an
    interrupt IN endpoint whose report descriptor uses the Bar Code Scanner page 0x8C. Events
    carry ``source=f"hidpos:{name}"``, and `DeviceStateChanged.device` is that same source.

    `backend` is pyusb's backend (None: libusb, as `usb.core.find` picks it). `read_timeout_s`
    bounds one blocking read: it sets how soon `stop` is seen; reports themselves do not wait
    for it.
    """

    _lost = (OSError, NotHidPos, usb.core.NoBackendError)  # USBError is an OSError

    def __init__(
        self,
        name: str,
        bus: Bus,
        vid: int,
        pid: int,
        serial: str | None = None,
        *,
        interface: int | None = None,
        report_id: int = SCANNED_DATA_REPORT_ID,
        max_frame_len: int = 4096,
        frame_timeout_s: float = 0.2,
        reconnect_max_s: float = 5.0,
        read_timeout_s: float = 0.05,
        backend: Any = None,
    ) -> None:
        for label, value in (("vid", vid), ("pid", pid)):
            if not 0 <= value <= 0xFFFF:
                raise ValueError(f"{label} must be 0x0000…0xffff, not {value!r}")
        super().__init__(name, bus, reconnect_max_s=reconnect_max_s)
        if not 0 < read_timeout_s <= 1:
            raise ValueError(f"read_timeout_s must be in (0, 1], not {read_timeout_s}")
        self.vid, self.pid, self.serial = vid, pid, serial
        self.interface = interface
        self.read_timeout_s = read_timeout_s
        self._backend = backend
        self._decoder_args = {
            "report_id": report_id,
            "max_frame_len": max_frame_len,
            "frame_timeout_s": frame_timeout_s,
        }
        HidPosDecoder(**self._decoder_args)  # bad settings fail here, in the caller

    @property
    def source(self) -> str:
        """The name events carry: ``hidpos:<name>``."""
        return f"hidpos:{self.name}"

    @property
    def wanted(self) -> str:
        """The device this scanner looks for, as ``usb:VID:PID[:SERIAL]``."""
        text = f"usb:{self.vid:04x}:{self.pid:04x}"
        return f"{text}:{self.serial}" if self.serial else text

    def _where(self) -> str:
        return self.wanted

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, usb.core.NoBackendError):
            return "no libusb: install libusb-1.0-0"
        return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)

    def _open(self) -> tuple[_Link, str]:
        link = _Link.open(self)
        return link, link.describe()

    def _close(self, handle: Any) -> None:
        handle.close()

    def _serve(self, handle: Any) -> None:
        link: _Link = handle
        decoder = HidPosDecoder(**self._decoder_args)
        timeout_ms = max(1, round(self.read_timeout_s * 1000))
        try:
            while not self._stop.is_set():
                try:
                    report = link.read(timeout_ms)
                except usb.core.USBError as exc:
                    if not _is_timeout(exc):
                        raise
                    self._publish(decoder.expire(time.monotonic()))
                    continue
                now = time.monotonic()
                wire_log.debug("%s <- %s", self.name, report.hex())
                self._publish(decoder.feed(report, now))
        finally:
            self._publish(decoder.flush(sentence("scan cut off: the device went away")))


def _is_timeout(exc: usb.core.USBError) -> bool:
    timeout_error = getattr(usb.core, "USBTimeoutError", None)
    return (
        (timeout_error is not None and isinstance(exc, timeout_error))
        or exc.errno == errno.ETIMEDOUT
        or getattr(exc, "backend_error_code", None) == _LIBUSB_ERROR_TIMEOUT
    )


@dataclass
class _Link:
    """An open, claimed HID POS interface: what the owner thread holds while connected."""

    device: Any
    interface: int
    endpoint: int
    packet_size: int
    detached: bool  # the kernel driver was detached here and is given back on close

    @classmethod
    def open(cls, scanner: HidPosScanner) -> _Link:
        device = find_usb_device(scanner.vid, scanner.pid, scanner.serial, backend=scanner._backend)
        if device is None:
            raise OSError(errno.ENODEV, f"no USB device {scanner.wanted}")
        candidates = _candidates(device, scanner.interface)
        if not candidates:
            usb.util.dispose_resources(device)
            raise NotHidPos(f"{scanner.wanted} has no HID interface with an interrupt IN endpoint")
        problems = []
        for number, endpoint, packet_size in candidates:
            detached = _detach(device, number)
            try:
                usb.util.claim_interface(device, number)
                if scanner.interface is None and not _is_barcode_scanner(device, number):
                    raise NotHidPos(
                        f"interface {number} of {scanner.wanted} is not a HID POS bar code "
                        "scanner (no usage page 0x8C): set the scanner to HID POS mode"
                    )
            except (usb.core.USBError, NotHidPos) as exc:
                problems.append(exc)
                _give_back(device, number, detached)
                continue
            return cls(device, number, endpoint, packet_size, detached)
        usb.util.dispose_resources(device)
        raise problems[0]

    def read(self, timeout_ms: int) -> bytes:
        return bytes(self.device.read(self.endpoint, self.packet_size, timeout_ms))

    def describe(self) -> str:
        return (
            f"usb:{self.device.idVendor:04x}:{self.device.idProduct:04x} bus {self.device.bus} "
            f"address {self.device.address} interface {self.interface}"
        )

    def close(self) -> None:
        _give_back(self.device, self.interface, self.detached)
        try:
            usb.util.dispose_resources(self.device)
        except usb.core.USBError as exc:
            log.debug("disposing %s: %s", self.describe(), exc)


def _candidates(device: Any, wanted: int | None) -> list[tuple[int, int, int]]:
    """(interface, IN endpoint address, packet size) of the HID interfaces to try."""
    try:
        cfg = device.get_active_configuration()
    except usb.core.USBError:
        # Unconfigured: no driver is bound yet, so setting the configuration is safe.
        device.set_configuration()
        cfg = device.get_active_configuration()
    out = []
    for intf in cfg:
        if intf.bInterfaceClass != HID_CLASS or intf.bAlternateSetting != 0:
            continue
        if wanted is not None and intf.bInterfaceNumber != wanted:
            continue
        for ep in intf:
            if (
                usb.util.endpoint_direction(ep.bEndpointAddress) == usb.util.ENDPOINT_IN
                and usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
            ):
                out.append((intf.bInterfaceNumber, ep.bEndpointAddress, ep.wMaxPacketSize))
                break
    return out


def _detach(device: Any, interface: int) -> bool:
    try:
        if not device.is_kernel_driver_active(interface):
            return False
    except NotImplementedError:  # backends without kernel drivers to speak of
        return False
    device.detach_kernel_driver(interface)
    log.debug("detached the kernel driver from interface %d", interface)
    return True


def _give_back(device: Any, interface: int, detached: bool) -> None:
    try:
        usb.util.release_interface(device, interface)
    except usb.core.USBError as exc:
        log.debug("releasing interface %d: %s", interface, exc)
    if detached:
        try:
            device.attach_kernel_driver(interface)
            log.debug("gave interface %d back to the kernel driver", interface)
        except usb.core.USBError as exc:
            # A device that is gone has nothing to give back; a new one binds afresh.
            log.debug("reattaching the kernel driver to interface %d: %s", interface, exc)


def _is_barcode_scanner(device: Any, interface: int) -> bool:
    """Whether the interface's HID report descriptor uses the Bar Code Scanner page (0x8C).

    A descriptor that cannot be read gives the benefit of the doubt (logged)."""
    try:
        descriptor = bytes(
            device.ctrl_transfer(
                0x81,  # device-to-host, standard, interface
                0x06,  # GET_DESCRIPTOR
                0x2200,  # HID report descriptor, index 0
                interface,
                1024,
            )
        )
    except usb.core.USBError as exc:
        log.warning("interface %d: cannot read the HID report descriptor: %s", interface, exc)
        return True
    return BARCODE_SCANNER_PAGE in usage_pages(descriptor)


def usage_pages(descriptor: bytes) -> set[int]:
    """The usage pages a HID report descriptor names (its Usage Page global items)."""
    pages = set()
    i = 0
    while i < len(descriptor):
        prefix = descriptor[i]
        if prefix == 0xFE:  # long item: size in the next byte
            if i + 1 >= len(descriptor):
                break
            i += 3 + descriptor[i + 1]
            continue
        size = (0, 1, 2, 4)[prefix & 0x03]
        data = descriptor[i + 1 : i + 1 + size]
        if prefix & 0xFC == 0x04 and data:  # Usage Page (global item, tag 0)
            pages.add(int.from_bytes(data, "little"))
        i += 1 + size
    return pages
