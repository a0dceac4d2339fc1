"""zpl_usb: ZplPrinter on USB.

USB: this machine has no USB bus. The USB transport runs through pyusb's real classes
(``usb.core.find``, ``Device``, ``Configuration``, ``Interface``, ``Endpoint``, ``usb.util``);
the only fake is `FakeUsbBackend` below, which stands where libusb would — it implements
pyusb's backend interface (``usb.backend.IBackend``), reporting one printer-class interface
with a bulk OUT and a bulk IN endpoint and keeping track of the kernel driver, the claimed
interface and the bytes written. Like libusb, it refuses to claim an interface the kernel
driver still holds ("resource busy").
"""

from __future__ import annotations

import array
import errno
import struct
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import usb.backend
import usb.core
from shipping_labels import hs_reply, make_label

from stationd.devices.printers.printer import PrinterError, PrinterState
from stationd.devices.printers.zpl_printer import ZplPrinter
from stationd.devices.printers.zpl_usb import UsbTransport
from stationd.devices.rendering.zpl import render_zpl

# --- a printer on USB, through pyusb ---------------------------------------------------------

_GET_DESCRIPTOR = 6
_STRING = 3


@dataclass
class FakeUsbPrinter:
    """What the fake backend knows of one attached printer."""

    serial: str = "ZD421-0001"
    vendor: int = 0x0A5F
    product: int = 0x0185
    kernel_driver: bool = True  # usblp bound, as after plugging in
    claimed: bool = False
    written: bytearray = field(default_factory=bytearray)
    replies: list[bytes] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    fail_write: OSError | None = None
    held_elsewhere: bool = False  # another program claimed the interface


class FakeUsbBackend(usb.backend.IBackend):
    """Where libusb would be: pyusb's backend interface over `FakeUsbPrinter` records."""

    def __init__(self, *printers: FakeUsbPrinter) -> None:
        self.printers = list(printers)

    def enumerate_devices(self):
        yield from self.printers

    def get_device_descriptor(self, dev):
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=dev.vendor, idProduct=dev.product,
            bcdDevice=0x0100, iManufacturer=0, iProduct=0, iSerialNumber=3,
            bNumConfigurations=1, address=self.printers.index(dev) + 2, bus=1, port_number=1,
            port_numbers=(1,), speed=3,
        )  # fmt: skip

    def get_configuration_descriptor(self, dev, config):
        return SimpleNamespace(
            bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0xC0, bMaxPower=1,
            extra_descriptors=[],
        )  # fmt: skip

    def get_interface_descriptor(self, dev, intf, alt, config):
        # Printer class 7, subclass 1, protocol 2 (bidirectional), as Zebra printers report.
        return SimpleNamespace(
            bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
            bNumEndpoints=2, bInterfaceClass=7, bInterfaceSubClass=1, bInterfaceProtocol=2,
            iInterface=0, extra_descriptors=[],
        )  # fmt: skip

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        address = (0x01, 0x81)[ep]
        return SimpleNamespace(
            bLength=7, bDescriptorType=5, bEndpointAddress=address, bmAttributes=2,
            wMaxPacketSize=64, bInterval=0, bRefresh=0, bSynchAddress=0, extra_descriptors=[],
        )  # fmt: skip

    def open_device(self, dev):
        if dev not in self.printers:
            raise usb.core.USBError("No such device", -4, errno.ENODEV)
        dev.events.append("open")
        return dev

    def close_device(self, dev_handle):
        dev_handle.events.append("close")

    def get_configuration(self, dev_handle):
        return 1

    def set_configuration(self, dev_handle, config_value):
        dev_handle.events.append(f"set_configuration {config_value}")

    def claim_interface(self, dev_handle, intf):
        if dev_handle.kernel_driver or dev_handle.held_elsewhere:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        dev_handle.claimed = True
        dev_handle.events.append(f"claim {intf}")

    def release_interface(self, dev_handle, intf):
        dev_handle.claimed = False
        dev_handle.events.append(f"release {intf}")

    def is_kernel_driver_active(self, dev_handle, intf):
        return dev_handle.kernel_driver

    def detach_kernel_driver(self, dev_handle, intf):
        dev_handle.kernel_driver = False
        dev_handle.events.append(f"detach {intf}")

    def attach_kernel_driver(self, dev_handle, intf):
        if dev_handle.claimed:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        dev_handle.kernel_driver = True
        dev_handle.events.append(f"attach {intf}")

    def bulk_write(self, dev_handle, ep, intf, data, timeout):
        assert ep == 0x01 and dev_handle.claimed
        if dev_handle.fail_write is not None:
            raise dev_handle.fail_write
        dev_handle.written += data.tobytes()
        if data.tobytes() == b"~HS" and dev_handle.replies:
            pass  # the reply waits for bulk_read
        return len(data)

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):
        assert ep == 0x81 and dev_handle.claimed
        if not dev_handle.replies:
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        chunk = dev_handle.replies.pop(0)[: len(buff)]
        buff[: len(chunk)] = array.array("B", chunk)
        return len(chunk)

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        # Only GET_DESCRIPTOR(STRING): index 0 is the language list, 3 the serial number.
        assert (bmRequestType, bRequest, wValue >> 8) == (0x80, _GET_DESCRIPTOR, _STRING)
        if wValue & 0xFF == 0:
            payload = struct.pack("<H", 0x0409)
        else:
            payload = dev_handle.serial.encode("utf-16-le")
        descriptor = bytes([2 + len(payload), _STRING]) + payload
        data[: len(descriptor)] = array.array("B", descriptor)
        return len(descriptor)


def usb_printer(backend: FakeUsbBackend, serial: str | None = None) -> ZplPrinter:
    transport = UsbTransport(0x0A5F, 0x0185, serial, backend=backend, status_timeout_s=0.2)
    return ZplPrinter("usb-labels", transport)


def test_usb_detaches_usblp_writes_the_bulk_out_endpoint_and_gives_usblp_back():
    device = FakeUsbPrinter()
    printer = usb_printer(FakeUsbBackend(device))
    zpl = render_zpl(make_label())
    printer.send(zpl)
    printer.send(zpl)
    assert bytes(device.written) == zpl + zpl
    assert device.kernel_driver is False  # held between jobs
    printer.close()
    assert device.kernel_driver is True and device.claimed is False
    assert device.events == ["open", "detach 0", "claim 0", "release 0", "attach 0", "close"]


def test_usb_picks_the_printer_by_serial_number():
    first, second = FakeUsbPrinter(serial="A-1"), FakeUsbPrinter(serial="B-2")
    printer = usb_printer(FakeUsbBackend(first, second), serial="B-2")
    printer.send(b"^XA^XZ")
    assert (bytes(first.written), bytes(second.written)) == (b"", b"^XA^XZ")
    printer.close()


def test_usb_resource_busy_is_said_plainly_and_usblp_is_given_back():
    device = FakeUsbPrinter(held_elsewhere=True)
    printer = usb_printer(FakeUsbBackend(device))
    with pytest.raises(PrinterError) as raised:
        printer.send(b"^XA^XZ")
    assert raised.value.status.state is PrinterState.OFFLINE
    assert "busy (resource busy)" in raised.value.status.detail
    assert device.kernel_driver is True  # detached to claim, reattached on the failure
    assert device.events[-2:] == ["attach 0", "close"]


def test_usb_printer_unplugged_mid_job_then_back():
    device = FakeUsbPrinter()
    backend = FakeUsbBackend(device)
    printer = usb_printer(backend)
    device.fail_write = usb.core.USBError("No such device", -4, errno.ENODEV)
    with pytest.raises(PrinterError, match="went away"):
        printer.send(b"^XA^XZ")
    backend.printers.clear()
    with pytest.raises(PrinterError, match="is not connected"):
        printer.send(b"^XA^XZ")
    assert printer.status().state is PrinterState.OFFLINE
    device.fail_write = None
    backend.printers.append(device)
    printer.send(b"^XA^XZ")
    assert bytes(device.written) == b"^XA^XZ"


def test_usb_write_timeout_is_an_error_not_a_hang():
    device = FakeUsbPrinter(fail_write=usb.core.USBTimeoutError("timed out", -7, errno.ETIMEDOUT))
    with pytest.raises(PrinterError, match="stopped taking data"):
        usb_printer(FakeUsbBackend(device)).send(b"^XA^XZ")


def test_usb_status_asks_hs_over_the_bulk_in_endpoint():
    reply = hs_reply(head_up=1)
    device = FakeUsbPrinter(replies=[reply[:30], reply[30:]])  # two USB packets
    printer = usb_printer(FakeUsbBackend(device))
    assert printer.status().state is PrinterState.COVER_OPEN
    assert bytes(device.written) == b"~HS"
    assert printer.status().state is PrinterState.UNKNOWN  # no reply this time: timed out
    printer.close()
