"""An ESC/POS printer on USB, found by vendor and product id (and serial number), via pyusb (R20).

The handle stays open between jobs and is dropped on any failure; the next call opens it
again. Every transfer has a timeout (python-escpos's default is "wait forever").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import Usb

from stationd.devices.printers.escpos_transport import EscposTransport

__all__ = ["UsbTransport"]


@dataclass(frozen=True, slots=True)
class UsbTransport(EscposTransport):
    """Which USB printer, and its endpoints; every transfer has `timeout_s`."""

    vendor_id: int
    product_id: int
    in_ep: int = 0x82
    out_ep: int = 0x01
    timeout_s: float = 5.0
    serial_number: str | None = None  # tells two printers of one model apart

    def __str__(self) -> str:
        sn = f" serial {self.serial_number}" if self.serial_number else ""
        return f"USB {self.vendor_id:04x}:{self.product_id:04x}{sn}"

    def open(self) -> Escpos:
        """The claimed device as a python-escpos handle."""
        usb_args: dict[str, Any] = {}
        if self.serial_number is not None:
            import usb.util

            wanted = self.serial_number

            def same_serial(device) -> bool:  # type: ignore[no-untyped-def]
                try:
                    return usb.util.get_string(device, device.iSerialNumber) == wanted
                except (ValueError, usb.core.USBError):
                    return False

            usb_args["custom_match"] = same_serial
        handle = Usb(
            self.vendor_id,
            self.product_id,
            usb_args=usb_args,
            timeout=max(1, int(self.timeout_s * 1000)),
            in_ep=self.in_ep,
            out_ep=self.out_ep,
        )
        handle.open()
        # python-escpos checks the device with `assert`, which `python -O` strips.
        if not handle._device:
            raise DeviceNotFoundError(f"{self} not found")
        return handle

    def ask(self, handle: Escpos, request: bytes, want: int) -> bytes:
        """Send `request` and read up to `want` answer bytes within the timeout."""
        import usb.core

        device = handle._device
        deadline = time.monotonic() + self.timeout_s
        answer = b""
        device.write(self.out_ep, request, int(self.timeout_s * 1000))  # type: ignore[union-attr]
        while len(answer) < want and (left := deadline - time.monotonic()) > 0:
            left_ms = max(1, int(left * 1000))
            try:
                answer += bytes(device.read(self.in_ep, 16, left_ms))  # type: ignore[union-attr]
            except usb.core.USBTimeoutError:
                break
        return answer
