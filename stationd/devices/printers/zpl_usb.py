"""A ZPL label printer on USB: pyusb, the bulk OUT endpoint of the printer-class interface (R20).

The kernel's ``usblp`` driver is detached while we hold the interface and given back on
`close`; "resource busy" (errno 16) says plainly that something else holds the printer.
``~HS`` is asked over the bulk IN endpoint when the printer has one.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from typing import Any

from stationd.core.text import sentence
from stationd.devices.printers.printer import PrinterError
from stationd.devices.printers.printer import offline as _offline

__all__ = ["UsbTransport"]

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

_USB_PRINTER_CLASS = 7
_USB_CHUNK = 4096


class UsbTransport:
    """A USB printer found by vendor and product id (and serial number), spoken to by pyusb.

    ``backend`` is handed to ``usb.core.find``; None means pyusb's own choice (libusb).
    """

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        serial_number: str | None = None,
        *,
        write_timeout_s: float = 10.0,
        status_timeout_s: float = 1.5,
        backend: Any = None,
    ) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.serial_number = serial_number
        self.write_timeout_s = write_timeout_s
        self.status_timeout_s = status_timeout_s
        self.backend = backend
        self.description = f"usb:{vendor_id:04x}:{product_id:04x}" + (
            f":{serial_number}" if serial_number else ""
        )
        self._device: Any = None
        self._interface: int | None = None
        self._ep_out: Any = None
        self._ep_in: Any = None
        self._detached = False

    # pyusb is imported here so that a station without USB printers never loads libusb.
    def _open(self) -> None:
        if self._device is not None:
            return
        import usb.core
        import usb.util

        def wanted(dev: Any) -> bool:
            if self.serial_number is None:
                return True
            try:
                return dev.serial_number == self.serial_number
            except (usb.core.USBError, ValueError):
                return False

        try:
            device = usb.core.find(
                idVendor=self.vendor_id,
                idProduct=self.product_id,
                custom_match=wanted,
                backend=self.backend,
            )
        except usb.core.NoBackendError:
            raise _offline(
                sentence("libusb is not installed, so no USB printer can be used")
            ) from None
        except usb.core.USBError as err:
            raise self._usb_error(err) from err
        if device is None:
            raise _offline(sentence("{where} is not connected", where=self.description))
        try:
            self._claim(device)
        except usb.core.USBError as err:
            self._release(device)
            raise self._usb_error(err) from err

    def _claim(self, device: Any) -> None:
        import usb.core
        import usb.util

        self._device = device
        try:
            config = device.get_active_configuration()
        except usb.core.USBError:
            device.set_configuration()  # unconfigured: no kernel driver is bound either
            config = device.get_active_configuration()
        interface = usb.util.find_descriptor(
            config, custom_match=lambda i: i.bInterfaceClass == _USB_PRINTER_CLASS
        ) or usb.util.find_descriptor(config)
        if interface is None:
            raise usb.core.USBError("the device has no interface", errno=errno.ENODEV)
        number = interface.bInterfaceNumber
        self._interface = number
        if device.is_kernel_driver_active(number):
            device.detach_kernel_driver(number)  # usblp: given back in close()
            self._detached = True
        usb.util.claim_interface(device, number)

        def endpoint(direction: int) -> Any:
            return usb.util.find_descriptor(
                interface,
                custom_match=lambda e: (
                    usb.util.endpoint_direction(e.bEndpointAddress) == direction
                    and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
                ),
            )

        self._ep_out = endpoint(usb.util.ENDPOINT_OUT)
        self._ep_in = endpoint(usb.util.ENDPOINT_IN)
        if self._ep_out is None:
            raise usb.core.USBError("the printer has no bulk OUT endpoint", errno=errno.ENODEV)
        log.info("%s: interface %d claimed", self.description, number)

    def _usb_error(self, err: Exception) -> PrinterError:
        import usb.core

        if isinstance(err, usb.core.USBTimeoutError) or getattr(err, "errno", None) in (
            errno.ETIMEDOUT,
        ):
            return _offline(
                sentence(
                    "{where} stopped taking data: the job was not sent within {seconds} s",
                    where=self.description,
                    seconds=f"{self.write_timeout_s:g}",
                )
            )
        code = getattr(err, "errno", None)
        if code == errno.EBUSY:
            return _offline(
                sentence(
                    "{where} is busy (resource busy): another program or driver holds the "
                    "printer — stop CUPS from using it, or unbind usblp",
                    where=self.description,
                )
            )
        if code in (errno.ENODEV, errno.ENOENT, errno.EPIPE, errno.EIO):
            return _offline(
                sentence("{where} went away (unplugged or switched off)", where=self.description)
            )
        if code == errno.EACCES:
            return _offline(
                sentence(
                    "no permission to use {where}: check the udev rule and groups",
                    where=self.description,
                )
            )
        return _offline(f"{self.description}: {err}")

    def write(self, data: bytes) -> None:
        import usb.core

        self._open()
        timeout_ms = max(1, round(self.write_timeout_s * 1000))
        sent = 0
        try:
            while sent < len(data):
                sent += self._device.write(self._ep_out, data[sent : sent + _USB_CHUNK], timeout_ms)
        except usb.core.USBError as err:
            self.close()
            raise self._usb_error(err) from err
        wire_log.debug("%s ← %d bytes %r", self.description, len(data), data[:200])

    def query(self, request: bytes, complete: Callable[[bytes], bool]) -> bytes | None:
        import usb.core

        self._open()
        if self._ep_in is None:
            return None
        reply = b""
        deadline = time.monotonic() + self.status_timeout_s
        try:
            self._device.write(self._ep_out, request, round(self.status_timeout_s * 1000))
            while not complete(reply):
                left_ms = round((deadline - time.monotonic()) * 1000)
                if left_ms <= 0:
                    break
                size = self._ep_in.wMaxPacketSize or 64
                reply += bytes(self._device.read(self._ep_in, size, left_ms))
        except usb.core.USBTimeoutError:
            pass
        except usb.core.USBError as err:
            self.close()
            raise self._usb_error(err) from err
        wire_log.debug("%s %r → %r", self.description, request, reply)
        return reply

    def close(self) -> None:
        if self._device is not None:
            self._release(self._device)

    def _release(self, device: Any) -> None:
        import usb.core
        import usb.util

        try:
            if self._interface is not None:
                try:
                    usb.util.release_interface(device, self._interface)
                except usb.core.USBError as err:
                    log.debug("%s: release failed: %s", self.description, err)
                if self._detached:
                    try:
                        device.attach_kernel_driver(self._interface)
                    except usb.core.USBError as err:
                        # Gone (unplugged) or already rebound: nothing left to give back.
                        log.debug("%s: usblp not reattached: %s", self.description, err)
            usb.util.dispose_resources(device)
        finally:
            self._device = None
            self._interface = None
            self._ep_out = self._ep_in = None
            self._detached = False
