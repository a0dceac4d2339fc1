"""Finding USB scanners: keyboard-mode ones among the evdev input devices, HID POS ones on the USB
bus (pyusb), by vendor/product id and serial number — never by ``/dev/input/event3``, whose number
depends on the order things were plugged in.

Matching is by the configured ids only: a keyboard is never taken for a scanner unless the
config names it. To help an installer pick the right ids, the listings mark likely scanners
with a hint (a name with "scanner" or "barcode" in it, or a known scanner maker's vendor id).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from typing import Any

import usb.core
import usb.util

from stationd.devices.ports import PortSpec

log = logging.getLogger(__name__)

#: USB vendor ids of barcode-scanner makers (from the USB ID repository).
SCANNER_VENDORS: dict[int, str] = {
    0x0C2E: "Honeywell (Metrologic)",
    0x0536: "Honeywell (Hand Held Products)",
    0x05E0: "Zebra (Symbol Technologies)",
    0x05F9: "Datalogic (PSC Scanning)",
    0x1EAB: "Newland",
    0x065A: "Opticon",
}
_SCANNER_WORDS = re.compile(r"scanner|barcode|bar code|hid ?pos", re.IGNORECASE)

BUS_USB = 0x03  # linux/input.h BUS_USB, the bustype of a USB input device
HID_CLASS = 0x03  # USB interface class HID


def scanner_hint(name: str | None, vendor_id: int | None) -> str | None:
    """Why a device looks like a barcode scanner, or None. Only a hint for listings."""
    if name and (match := _SCANNER_WORDS.search(name)):
        return f"name contains {match.group(0).lower()!r}"
    if vendor_id is not None and vendor_id in SCANNER_VENDORS:
        return f"vendor {vendor_id:04x} is {SCANNER_VENDORS[vendor_id]}"
    return None


# --- evdev (keyboard mode) --------------------------------------------------------------------


def _event_number(path: str) -> int:
    digits = re.search(r"(\d+)$", path)
    return int(digits.group(1)) if digits else -1


def _input_paths(input_dir: str) -> list[str]:
    import evdev  # Linux only; imported where it is used so the rest of the package is not

    return sorted(evdev.list_devices(input_dir), key=_event_number)


def _types_text(device: Any) -> bool:
    """A device that can type a scan: it has Enter and the digit keys (not a mouse, not the
    power button, not the "Consumer Control" node a scanner's USB interface may also make)."""
    from evdev import ecodes

    keys = set(device.capabilities().get(ecodes.EV_KEY, ()))
    return bool(keys & {ecodes.KEY_ENTER, ecodes.KEY_KPENTER}) and ecodes.KEY_1 in keys


def _matches(spec: PortSpec, device: Any) -> bool:
    info = device.info
    return (
        (spec.usb_vid is None or info.vendor == spec.usb_vid)
        and (spec.usb_pid is None or info.product == spec.usb_pid)
        and (spec.serial_number is None or (device.uniq or "") == spec.serial_number)
    )


def find_input_device(spec: PortSpec, *, input_dir: str = "/dev/input") -> Any | None:
    """Open the evdev input device `spec` names, or return None when it is not there now.

    A path spec (``/dev/input/by-id/usb-…-event-kbd``, a udev symlink such as
    ``/dev/stationd-scanner-18123B4C2A``) is opened as it is. A USB spec is matched against the
    vendor/product id and serial number (``uniq``) of every input device that can type text;
    the first match by event number is returned, with a warning when several match. The caller
    owns the returned `evdev.InputDevice` and must close it.
    """
    import evdev

    if spec.path is not None:
        if not os.path.exists(spec.path):
            return None
        return evdev.InputDevice(spec.path)
    found: list[Any] = []
    for path in _input_paths(input_dir):
        try:
            device = evdev.InputDevice(path)
        except OSError as exc:  # gone meanwhile, or not ours to open
            log.debug("cannot open %s: %s", path, exc)
            continue
        if _matches(spec, device) and _types_text(device):
            found.append(device)
        else:
            device.close()
    if len(found) > 1:
        log.warning(
            "%d input devices match %s (%s); using %s — add the serial number to tell them apart",
            len(found),
            spec,
            ", ".join(d.path for d in found),
            found[0].path,
        )
        for extra in found[1:]:
            extra.close()
    return found[0] if found else None


def list_input_devices(input_dir: str = "/dev/input") -> list[dict[str, Any]]:
    """Every input device that can type text, as plain dicts for ``stationd devices``.

    Keys: ``path``, ``name``, ``phys``, ``usb_vid``, ``usb_pid``, ``serial_number``,
    ``bustype``, ``scanner_hint`` (why it looks like a scanner, or None: then it is most likely
    a keyboard) and ``spec`` (the `PortSpec.parse` text that finds it by its USB ids).
    """
    import evdev

    out = []
    for path in _input_paths(input_dir):
        try:
            device = evdev.InputDevice(path)
        except OSError as exc:
            log.debug("cannot open %s: %s", path, exc)
            continue
        try:
            if not _types_text(device):
                continue
            info = device.info
            serial_number = device.uniq or None
            spec = PortSpec(usb_vid=info.vendor, usb_pid=info.product, serial_number=serial_number)
            out.append(
                {
                    "path": path,
                    "name": device.name,
                    "phys": device.phys,
                    "usb_vid": info.vendor,
                    "usb_pid": info.product,
                    "serial_number": serial_number,
                    "bustype": info.bustype,
                    "scanner_hint": scanner_hint(device.name, info.vendor),
                    "spec": str(spec),
                }
            )
        finally:
            device.close()
    return out


# --- pyusb (HID POS) --------------------------------------------------------------------------


def _serial_of(device: Any) -> str | None:
    try:
        return device.serial_number
    except (usb.core.USBError, ValueError, NotImplementedError) as exc:
        # No permission to read string descriptors (udev rule missing), or none there.
        log.debug("serial number of %04x:%04x: %s", device.idVendor, device.idProduct, exc)
        return None


def _dispose(device: Any) -> None:
    try:
        usb.util.dispose_resources(device)
    except usb.core.USBError as exc:
        log.debug("releasing %s: %s", device, exc)


def find_usb_device(
    vid: int, pid: int, serial_number: str | None = None, *, backend: Any = None
) -> Any | None:
    """The `usb.core.Device` with these ids (and serial number), or None when it is not there.

    `backend` is pyusb's (None picks libusb as pyusb does); raises `usb.core.NoBackendError`
    when there is no libusb at all. With several matches the first is used, with a warning.
    """
    found = []
    for device in usb.core.find(find_all=True, idVendor=vid, idProduct=pid, backend=backend):
        if serial_number is None or _serial_of(device) == serial_number:
            found.append(device)
        else:
            _dispose(device)
    if len(found) > 1:
        log.warning(
            "%d USB devices match %04x:%04x; using the one on bus %s address %s — configure the "
            "serial number to tell them apart",
            len(found),
            vid,
            pid,
            found[0].bus,
            found[0].address,
        )
        for extra in found[1:]:
            _dispose(extra)
    return found[0] if found else None


def _hid_interfaces(device: Any) -> Iterator[int]:
    for cfg in device:
        for intf in cfg:
            if intf.bInterfaceClass == HID_CLASS:
                yield intf.bInterfaceNumber


def list_usb_devices(*, backend: Any = None) -> list[dict[str, Any]]:
    """Every USB device with a HID interface, as plain dicts for ``stationd devices``.

    Keys: ``usb_vid``, ``usb_pid``, ``serial_number``, ``manufacturer``, ``product``, ``bus``,
    ``address``, ``hid_interfaces``, ``scanner_hint`` and ``spec`` (``usb:VID:PID[:SERIAL]``).
    Strings a device won't give (no permission yet) are None.
    """
    out = []
    for device in usb.core.find(find_all=True, backend=backend):
        try:
            interfaces = sorted(set(_hid_interfaces(device)))
            if not interfaces:
                continue
            serial_number = _serial_of(device)
            product = _string(device, "product")
            spec = PortSpec(
                usb_vid=device.idVendor, usb_pid=device.idProduct, serial_number=serial_number
            )
            out.append(
                {
                    "usb_vid": device.idVendor,
                    "usb_pid": device.idProduct,
                    "serial_number": serial_number,
                    "manufacturer": _string(device, "manufacturer"),
                    "product": product,
                    "bus": device.bus,
                    "address": device.address,
                    "hid_interfaces": interfaces,
                    "scanner_hint": scanner_hint(product, device.idVendor),
                    "spec": str(spec),
                }
            )
        except usb.core.USBError as exc:
            log.debug("listing %s: %s", device, exc)
        finally:
            _dispose(device)
    return out


def _string(device: Any, attribute: str) -> str | None:
    try:
        return getattr(device, attribute)
    except (usb.core.USBError, ValueError, NotImplementedError):
        return None
