"""escpos_usb: EscposPrinter on USB, with a device object that has pyusb's interface."""

from __future__ import annotations

import errno

import pytest

from stationd.devices.printers.escpos_printer import EscposPrinter
from stationd.devices.printers.escpos_usb import UsbTransport
from stationd.devices.printers.printer import PrinterError, PrinterState

# --- USB: no bus here, so a device object with pyusb's interface -----------------------------


class BusyUsbDevice:
    """What usb.core.find returns, for a printer another driver has claimed."""

    class backend:  # mirrors pyusb's attribute
        __module__ = "usb.backend.libusb1"

    class _ctx:  # what usb.util.dispose_resources calls
        @staticmethod
        def dispose(device) -> None:  # type: ignore[no-untyped-def]
            pass

    def is_kernel_driver_active(self, interface: int) -> bool:
        return False

    def set_configuration(self) -> None:
        import usb.core

        raise usb.core.USBError("Resource busy", errno=errno.EBUSY)

    def reset(self) -> None: ...

    def write(self, endpoint, data, timeout=None):  # type: ignore[no-untyped-def]
        import usb.core

        raise usb.core.USBError("Resource busy", errno=errno.EBUSY)


def test_usb_resource_busy_is_explained(monkeypatch):
    import usb.core

    monkeypatch.setattr(usb.core, "find", lambda **kw: BusyUsbDevice())
    printer = EscposPrinter("receipt", UsbTransport(0x04B8, 0x0202, timeout_s=0.2))
    with pytest.raises(PrinterError) as caught:
        printer.send(b"x")
    assert caught.value.status.state is PrinterState.OFFLINE
    assert "busy (errno 16, resource busy)" in caught.value.status.detail
    assert "usblp" in caught.value.status.detail


def test_usb_printer_not_plugged_in_is_offline(monkeypatch):
    import usb.core

    monkeypatch.setattr(usb.core, "find", lambda **kw: None)
    printer = EscposPrinter("receipt", UsbTransport(0x04B8, 0x0202, timeout_s=0.2))
    status = printer.status()
    assert status.state is PrinterState.OFFLINE
    assert status.detail == "USB 04b8:0202 is not there (unplugged or switched off)."
