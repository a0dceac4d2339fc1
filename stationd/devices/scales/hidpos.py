"""A USB HID POS scale: HID usage page 0x8D ("Scales"), read through pyusb.

Postal and shipping scales (DYMO M5/M10/M25/S180, Stamps.com, Mettler Toledo PS60, Fairbanks,
Brecknell) report every reading as a Scale Data Report (usage 0x8D:0x32), laid out per the
*HID Point of Sale Usage Tables* 1.02, chapter 32. All of them put it under report id 3::

    byte 0    report id: 3 (set by the device's report descriptor; see `report_id`)
    byte 1    scale status, the Scale Status usage 0x70 selector 0x70 + n:
                1 fault, 2 stable at center of zero, 3 in motion, 4 weight stable,
                5 under zero, 6 over weight limit, 7 requires calibration, 8 requires re-zeroing
    byte 2    weight unit, the Weight Unit usage 0x50 selector 0x50 + n:
                1 mg, 2 g, 3 kg, 4 carat, 5 tael, 6 grain, 7 pennyweight, 8 metric ton,
                9 avoirdupois ton, 10 troy ounce, 11 ounce, 12 pound
    byte 3    data scaling: a signed base-10 exponent (0xFF = -1)
    bytes 4–5 data weight: unsigned 16 bits, little-endian

So ``03 04 0B FF 2C 01`` is a stable 30.0 oz (300 × 10⁻¹ oz = 850 g) and ``03 02 02 00 00 00``
a stable, empty scale. Weight stable gives a stable reading, in motion an unstable one, stable
at zero a stable 0 g; fault, under zero, over the limit and the two "requires" give no weight
(under zero has no agreed sign convention among scales, so it is not guessed at). Taels are
refused: their gram value differs by country. Reports with another id are ignored. Longer
reports (padded to 8 bytes by some scales) are read by their first six bytes.

The kernel's usbhid driver owns the scale when it is plugged in; the owner thread detaches it
from the scale's interface, claims the interface, reads the interrupt IN endpoint, and on close
releases the interface and gives the kernel driver back. A `USBError` other than a read timeout
means the scale is gone: it is looked for again with back-off until it is back (R21).
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import usb.core
import usb.util

from stationd.devices.ports import PortSpec
from stationd.devices.scales.scale import (
    Decoded,
    NoWeight,
    OwnedScale,
    Reading,
    Unreadable,
    to_grams,
)
from stationd.events import Bus

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

#: HID POS usage page of scales.
USAGE_PAGE_SCALES = 0x8D
DATA_REPORT_ID = 3
DATA_REPORT_LEN = 6

STATUS_FAULT = 1
STATUS_STABLE_AT_ZERO = 2
STATUS_IN_MOTION = 3
STATUS_WEIGHT_STABLE = 4
STATUS_UNDER_ZERO = 5
STATUS_OVER_WEIGHT_LIMIT = 6
STATUS_REQUIRES_CALIBRATION = 7
STATUS_REQUIRES_REZEROING = 8

_NO_WEIGHT = {
    STATUS_FAULT: "scale fault",
    STATUS_UNDER_ZERO: "under zero: re-zero the scale",
    STATUS_OVER_WEIGHT_LIMIT: "over the weight limit",
    STATUS_REQUIRES_CALIBRATION: "the scale needs calibrating",
    STATUS_REQUIRES_REZEROING: "the scale needs re-zeroing",
}

#: Weight Unit selector (n of usage 0x50 + n) → the unit's name in `GRAMS_PER_UNIT`.
UNITS: dict[int, str] = {
    1: "mg",
    2: "g",
    3: "kg",
    4: "ct",
    6: "gr",
    7: "dwt",
    8: "t",
    9: "ton",
    10: "ozt",
    11: "oz",
    12: "lb",
}
_TAEL = 5


def decode_report(report: bytes, *, report_id: int | None = DATA_REPORT_ID) -> Decoded | None:
    """One HID input report → a decoded reading, or None when it is not a scale data report.

    `report_id` None reads reports of a device whose descriptor declares no report ids (the
    data report then starts with the status byte).
    """
    if report_id is not None:
        if not report:
            return Unreadable("empty report", bytes(report))
        if report[0] != report_id:
            return None
        body = report[1:DATA_REPORT_LEN]
    else:
        body = report[: DATA_REPORT_LEN - 1]
    if len(body) < DATA_REPORT_LEN - 1:
        return Unreadable(f"scale data report shorter than {DATA_REPORT_LEN} bytes", bytes(report))
    status, unit_code, exponent_byte, lsb, msb = body
    if status in _NO_WEIGHT:
        return NoWeight(_NO_WEIGHT[status])
    if status == STATUS_STABLE_AT_ZERO:
        return Reading(0, stable=True)
    if status not in (STATUS_IN_MOTION, STATUS_WEIGHT_STABLE):
        return Unreadable(f"unknown scale status {status}", bytes(report))
    unit = UNITS.get(unit_code)
    if unit is None:
        what = "taels (their gram value differs by country)" if unit_code == _TAEL else unit_code
        return Unreadable(f"unsupported weight unit {what}", bytes(report))
    exponent = exponent_byte - 256 if exponent_byte > 127 else exponent_byte
    grams = to_grams(Decimal(lsb | msb << 8).scaleb(exponent), unit)
    if grams is None:
        return Unreadable("weight out of range", bytes(report))
    return Reading(grams, stable=status == STATUS_WEIGHT_STABLE)


@dataclass(slots=True)
class _Claimed:
    """A scale the owner thread holds: the device, its endpoint, what was done to it."""

    device: Any
    endpoint: int
    packet_size: int
    driver_detached: bool


class HidPosScale(OwnedScale):
    """A USB HID POS scale, read by its own thread.

    `device` names the scale by USB ids, as a `PortSpec` or its text (``usb:0922:8003``,
    ``usb:0922:8003:SERIAL`` when two scales of one model hang on one station); the vendor id
    is required. `interface` is the scale's HID interface number. `backend` is passed to
    `usb.core.find` (None: the first of libusb 1.0, OpenUSB, libusb 0.1 that is installed).
    `read_timeout_s` bounds one interrupt read, and so how soon `stop` is seen; most scales
    send a report at least on every change. Events carry ``source=f"hidpos:{name}"``.
    """

    def __init__(
        self,
        name: str,
        bus: Bus,
        device: PortSpec | str,
        *,
        interface: int = 0,
        report_id: int | None = DATA_REPORT_ID,
        read_timeout_s: float = 0.1,
        reconnect_max_s: float = 5.0,
        backend: Any = None,
    ) -> None:
        spec = device if isinstance(device, PortSpec) else PortSpec.parse(device)
        if spec.usb_vid is None:
            raise ValueError(
                f"a HID POS scale is found by its USB ids (usb:VID:PID[:SERIAL]), not {spec}"
            )
        if not 0 <= interface <= 255:
            raise ValueError(f"interface must be 0…255, not {interface!r}")
        if report_id is not None and not 1 <= report_id <= 255:
            raise ValueError(f"report_id must be 1…255 or None, not {report_id!r}")
        if not 0 < read_timeout_s <= 1:
            raise ValueError(f"read_timeout_s must be in (0, 1], not {read_timeout_s}")
        self.device = spec
        self.interface = interface
        self.report_id = report_id
        self._read_timeout_ms = max(1, round(read_timeout_s * 1000))
        self._backend = backend
        super().__init__(name, bus, reconnect_max_s=reconnect_max_s)

    @property
    def source(self) -> str:
        """The name events carry: ``hidpos:<name>``."""
        return f"hidpos:{self.name}"

    def _where(self) -> str:
        return str(self.device)

    # Opening and closing ----------------------------------------------------------------------
    def _find(self) -> Any:
        ids: dict[str, int] = {"idVendor": self.device.usb_vid}  # type: ignore[dict-item]
        if self.device.usb_pid is not None:
            ids["idProduct"] = self.device.usb_pid
        wanted = self.device.serial_number

        def has_serial(dev: Any) -> bool:
            if wanted is None:
                return True
            try:
                return bool(dev.serial_number == wanted)
            except (usb.core.USBError, ValueError, NotImplementedError):
                return False  # no string descriptors readable: can't be the one asked for

        try:
            return usb.core.find(backend=self._backend, custom_match=has_serial, **ids)
        except usb.core.NoBackendError:
            raise OSError("no USB backend: install libusb-1.0") from None

    def _open(self) -> tuple[_Claimed, str]:
        dev = self._find()
        if dev is None:
            raise OSError(f"no USB scale {self.device}")
        where = f"usb:{dev.idVendor:04x}:{dev.idProduct:04x} (bus {dev.bus}, address {dev.address})"
        detached = False
        try:
            try:
                if dev.is_kernel_driver_active(self.interface):
                    dev.detach_kernel_driver(self.interface)
                    detached = True
                    log.debug("scale %s: kernel driver detached from %s", self.name, where)
            except NotImplementedError:
                pass  # a backend or OS without kernel drivers to detach (macOS, Windows)
            endpoint = self._interrupt_in(dev)
            usb.util.claim_interface(dev, self.interface)
        except usb.core.USBError as exc:
            self._release(dev, detached)
            if exc.errno == errno.EACCES:
                raise OSError(
                    f"{where}: permission denied (are the stationd udev rules installed?)"
                ) from exc
            raise
        except BaseException:
            self._release(dev, detached)
            raise
        claimed = _Claimed(dev, endpoint.bEndpointAddress, endpoint.wMaxPacketSize, detached)
        return claimed, where

    def _interrupt_in(self, dev: Any) -> Any:
        try:
            cfg = dev.get_active_configuration()
        except usb.core.USBError:
            # Not configured yet: no kernel driver took it. Its first configuration is the one.
            dev.set_configuration()
            cfg = dev.get_active_configuration()
        intf = usb.util.find_descriptor(cfg, bInterfaceNumber=self.interface)
        if intf is None:
            raise OSError(f"{self.device} has no interface {self.interface}")

        def interrupt_in(ep: Any) -> bool:
            return bool(
                usb.util.endpoint_direction(ep.bEndpointAddress) == usb.util.ENDPOINT_IN
                and usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
            )

        endpoint = usb.util.find_descriptor(intf, custom_match=interrupt_in)
        if endpoint is None:
            raise OSError(f"{self.device} interface {self.interface} has no interrupt IN endpoint")
        return endpoint

    def _close(self, handle: Any) -> None:
        self._release(handle.device, handle.driver_detached)

    def _release(self, dev: Any, driver_detached: bool) -> None:
        # Each step may fail when the scale is already gone; the next must run regardless.
        try:
            usb.util.release_interface(dev, self.interface)
        except (usb.core.USBError, ValueError) as exc:
            log.debug("scale %s: releasing the interface: %s", self.name, exc)
        if driver_detached:
            try:
                dev.attach_kernel_driver(self.interface)
                log.debug("scale %s: kernel driver given back", self.name)
            except (usb.core.USBError, NotImplementedError) as exc:
                log.debug("scale %s: giving the kernel driver back: %s", self.name, exc)
        try:
            usb.util.dispose_resources(dev)
        except usb.core.USBError as exc:
            log.debug("scale %s: closing: %s", self.name, exc)

    # Reading ----------------------------------------------------------------------------------
    def _serve(self, handle: Any) -> None:
        size = max(handle.packet_size, DATA_REPORT_LEN)
        while not self._stop.is_set():
            try:
                data = handle.device.read(handle.endpoint, size, timeout=self._read_timeout_ms)
            except usb.core.USBTimeoutError:
                continue
            except usb.core.USBError as exc:
                if exc.errno == errno.ETIMEDOUT:  # pyusb before 1.2 had no USBTimeoutError
                    continue
                raise
            report = bytes(data)
            wire_log.debug("%s <- %s", self.name, report.hex(" "))
            decoded = decode_report(report, report_id=self.report_id)
            if decoded is not None:
                self._tracker.update(decoded)
