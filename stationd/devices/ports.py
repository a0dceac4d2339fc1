"""Finding a serial port: by USB vendor/product id and serial number, or by a path.

Device names like ``/dev/ttyACM0`` depend on the order things were plugged in, so a station
names its scanner by what it is (USB ids, serial number) or by a stable udev symlink
(``/dev/stationd-scanner``), and looks the port up again every time it (re)connects.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import serial
from serial.tools import list_ports

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PortSpec:
    """How to find one serial port: a `path`, or USB ids and/or a serial number (not both).

    USB fields that are None match anything; give `serial_number` when two scanners of one
    model hang on one station.
    """

    path: str | None = None
    usb_vid: int | None = None
    usb_pid: int | None = None
    serial_number: str | None = None

    def __post_init__(self) -> None:
        usb = (self.usb_vid, self.usb_pid, self.serial_number)
        if self.path is not None and any(v is not None for v in usb):
            raise ValueError("a port is found by a path or by USB ids, not both")
        if self.path is None and all(v is None for v in usb):
            raise ValueError("a port needs a path, or a USB vendor/product id or serial number")
        if self.path is not None and not self.path:
            raise ValueError("the port path is empty")
        for field_name, value in (("usb_vid", self.usb_vid), ("usb_pid", self.usb_pid)):
            if value is not None and not 0 <= value <= 0xFFFF:
                raise ValueError(f"{field_name} must be 0x0000…0xffff, not {value!r}")

    @classmethod
    def parse(cls, text: str) -> PortSpec:
        """Read a spec from text: a path, or ``usb:VID:PID[:SERIAL]`` with hex ids.

        ``usb:0c2e:0b61``, ``usb:0c2e:0b61:18123B4C2A``, ``usb:0c2e::18123B4C2A`` (any product
        of the vendor with that serial number) and ``/dev/stationd-scanner`` are all valid.
        """
        text = text.strip()
        if not text.startswith("usb:"):
            return cls(path=text)
        parts = text[4:].split(":", 2)
        if len(parts) < 2:
            raise ValueError(f"expected usb:VID:PID[:SERIAL], got {text!r}")
        vid, pid = (_hex_id(p, text) for p in parts[:2])
        serial_number = parts[2] if len(parts) == 3 and parts[2] else None
        return cls(usb_vid=vid, usb_pid=pid, serial_number=serial_number)

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        vid = f"{self.usb_vid:04x}" if self.usb_vid is not None else ""
        pid = f"{self.usb_pid:04x}" if self.usb_pid is not None else ""
        text = f"usb:{vid}:{pid}"
        return f"{text}:{self.serial_number}" if self.serial_number is not None else text


def _hex_id(part: str, text: str) -> int | None:
    if not part:
        return None
    try:
        return int(part, 16)
    except ValueError:
        raise ValueError(f"{part!r} in {text!r} is not a hex USB id") from None


def _matches(spec: PortSpec, port: Any) -> bool:
    return (
        (spec.usb_vid is None or port.vid == spec.usb_vid)
        and (spec.usb_pid is None or port.pid == spec.usb_pid)
        and (spec.serial_number is None or port.serial_number == spec.serial_number)
    )


def find_port(spec: PortSpec) -> str | None:
    """The device path of the port `spec` names, or None when it is not there now.

    A path spec returns the path itself when it leads to an existing file, following symlinks,
    so a udev symlink keeps naming the device across replugs; a dangling symlink is None. A USB
    spec returns the first matching port by device name, and warns when several match.
    """
    if spec.path is not None:
        return spec.path if os.path.exists(spec.path) else None
    found = sorted(p.device for p in list_ports.comports() if _matches(spec, p))
    if len(found) > 1:
        log.warning(
            "%d serial ports match %s (%s); using %s — add the serial number to tell them apart",
            len(found),
            spec,
            ", ".join(found),
            found[0],
        )
    return found[0] if found else None


def list_serial_ports() -> list[dict[str, Any]]:
    """Every serial port the system sees now, as plain dicts for ``stationd devices``.

    Keys: ``device``, ``description``, ``hwid``, ``usb_vid``, ``usb_pid``, ``serial_number``,
    ``manufacturer``, ``product``, ``location`` and ``spec`` (the `PortSpec.parse` text that
    finds this port by its USB ids, or its path when it is not a USB device).
    """
    ports = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is not None:
            spec = PortSpec(usb_vid=p.vid, usb_pid=p.pid, serial_number=p.serial_number or None)
        else:
            spec = PortSpec(path=p.device)
        ports.append(
            {
                "device": p.device,
                "description": p.description,
                "hwid": p.hwid,
                "usb_vid": p.vid,
                "usb_pid": p.pid,
                "serial_number": p.serial_number,
                "manufacturer": p.manufacturer,
                "product": p.product,
                "location": p.location,
                "spec": str(spec),
            }
        )
    return ports


def open_serial(spec: PortSpec, **settings: Any) -> tuple[serial.Serial, str]:
    """Open the port `spec` finds, exclusively, with pyserial `settings`; (port, its path).

    Raises OSError when the port is not there or cannot be opened, which the device owners
    treat as "retry later".
    """
    path = find_port(spec)
    if path is None:
        raise OSError(f"no serial port {spec}")
    try:
        # exclusive: a second stationd (or a stray `screen`) must not steal half the bytes.
        ser = serial.Serial(path, exclusive=True, **settings)
    except ValueError as exc:
        # pyserial raises ValueError for some ports it cannot open: to us, not there.
        raise OSError(str(exc)) from exc
    return ser, ser.port or path
