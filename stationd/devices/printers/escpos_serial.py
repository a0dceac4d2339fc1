"""An ESC/POS printer on a serial line (RS-232 or a USB serial adapter), through pyserial (R20).

The handle stays open between jobs and is dropped on any failure; the next call opens it
again. pyserial gets a write timeout: python-escpos sets none, and with DSR/DTR flow control a
switched-off printer blocks a write forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import Serial

from stationd.devices.printers.escpos_transport import EscposTransport

__all__ = ["SerialTransport"]


@dataclass(frozen=True, slots=True)
class SerialTransport(EscposTransport):
    """A serial port and its line settings; every write and read has `timeout_s`."""

    devfile: str
    baudrate: int = 9600
    timeout_s: float = 5.0
    dsrdtr: bool = True  # hardware flow control as python-escpos does; False for RTS/CTS
    xonxoff: bool = False

    def __str__(self) -> str:
        return self.devfile

    def open(self) -> Escpos:
        """The open port as a python-escpos handle."""
        handle = Serial(
            devfile=self.devfile,
            baudrate=self.baudrate,
            timeout=self.timeout_s,
            dsrdtr=self.dsrdtr,
            xonxoff=self.xonxoff,
        )
        handle.open()
        if not handle._device:
            raise DeviceNotFoundError(f"serial port {self.devfile} did not open")
        handle._device.write_timeout = self.timeout_s
        return handle

    def ask(self, handle: Escpos, request: bytes, want: int) -> bytes:
        """Send `request` and read up to `want` answer bytes within the timeout."""
        device = handle._device
        device.reset_input_buffer()  # type: ignore[union-attr]
        device.write(request)  # type: ignore[union-attr]
        return bytes(device.read(want))  # type: ignore[union-attr]
