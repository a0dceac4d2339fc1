"""A ZPL label printer on the network (raw TCP 9100), on USB, or behind a file (R20).

`ZplPrinter` implements the `Printer` protocol over one of three transports:

* `TcpTransport` — a raw socket to port 9100. A job gets its own connection: connect, send
  every byte, half-close, and wait for the printer to close its side too (what CUPS's socket
  backend calls *waiteof*), so a printer that resets the connection mid-job is an error, not a
  printed label. Status is Zebra's ``~HS`` host-status query, answered on the same socket.
* `UsbTransport` — pyusb, bulk OUT endpoint of the printer-class interface. The kernel's
  ``usblp`` driver is detached while we hold the interface and given back on `close`; "resource
  busy" (errno 16) says plainly that something else holds the printer. ``~HS`` is asked over
  the bulk IN endpoint when the printer has one.
* `FileTransport` — a path: ``/dev/usb/lp0`` or a plain file. Opened non-blocking, so a
  printer that stops taking data times out instead of hanging the worker.

Every failure is a `PrinterError` whose status says why; `send` never blocks longer than its
transport's timeouts. One thread owns a printer (ARCHITECTURE): nothing here is locked.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import select
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from stationd.core.text import Text, sentence
from stationd.devices.printers.printer import PrinterError, PrinterState, PrinterStatus

__all__ = [
    "FileTransport",
    "TcpTransport",
    "UsbTransport",
    "ZplPrinter",
    "ZplTransport",
    "host_status_complete",
    "parse_host_status",
]

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

HOST_STATUS_QUERY = b"~HS"
_FRAME = re.compile(rb"\x02([^\x02\x03]*)\x03")
_USB_PRINTER_CLASS = 7
_USB_CHUNK = 4096
# A reset seen by send, by shutdown (ENOTCONN: the reset came first) or by the final recv.
_DROPPED = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ECONNABORTED})


def _offline(detail: str) -> PrinterError:
    return PrinterError(PrinterStatus(PrinterState.OFFLINE, detail))


def _not_there(path: str) -> Text:
    return sentence("{path} is not there: is the printer plugged in and on?", path=path)


# --- ~HS ----------------------------------------------------------------------------------------


def host_status_complete(reply: bytes) -> bool:
    """True once ``reply`` holds the three STX…ETX strings a ``~HS`` is answered with."""
    return len(_FRAME.findall(reply)) >= 3


def parse_host_status(reply: bytes) -> PrinterStatus:
    """Read a Zebra ``~HS`` reply into a `PrinterStatus`.

    The reply is three strings, each ``<STX>…<ETX><CR><LF>`` (ZPL II Programming Guide, ~HS):
    string 1 ``aaa,b,c,dddd,…,j,k,l`` has the paper-out flag (b), the pause flag (c), the
    corrupt-RAM flag (j) and the under/over-temperature flags (k, l); string 2
    ``mmm,n,o,p,…`` has the head-up flag (o) and the ribbon-out flag (p). A reply cut short
    is read as far as it goes; one with no string 1 in it is UNKNOWN.
    """
    frames = [frame.decode("ascii", "replace").split(",") for frame in _FRAME.findall(reply)]
    if not frames or len(frames[0]) < 3:
        return PrinterStatus(PrinterState.UNKNOWN, f"unreadable ~HS reply {reply[:60]!r}")

    def flag(string: int, index: int) -> bool:
        if string >= len(frames) or index >= len(frames[string]):
            return False
        return frames[string][index].strip() == "1"

    if flag(1, 2):
        return PrinterStatus(PrinterState.COVER_OPEN, sentence("the print head is open"))
    if flag(0, 1):
        return PrinterStatus(PrinterState.PAPER_OUT, sentence("the printer is out of labels"))
    if flag(1, 3):
        return PrinterStatus(PrinterState.ERROR, sentence("the ribbon is out"))
    if flag(0, 2):
        return PrinterStatus(
            PrinterState.ERROR, sentence("the printer is paused (press PAUSE on it)")
        )
    if flag(0, 11):
        return PrinterStatus(PrinterState.ERROR, sentence("the print head is too hot"))
    if flag(0, 10):
        return PrinterStatus(PrinterState.ERROR, sentence("the print head is too cold"))
    if flag(0, 9):
        return PrinterStatus(PrinterState.ERROR, sentence("the printer lost its configuration"))
    return PrinterStatus(PrinterState.ONLINE)


# --- transports ---------------------------------------------------------------------------------


class ZplTransport(Protocol):
    """How the bytes reach a ZPL printer. Raises `PrinterError` for anything that went wrong."""

    description: str

    def write(self, data: bytes) -> None:
        """Deliver every byte of ``data``, or raise `PrinterError`."""
        ...

    def query(self, request: bytes, complete: Callable[[bytes], bool]) -> bytes | None:
        """Send ``request`` and collect the answer until ``complete`` says it is whole.

        Returns what arrived before the transport's status timeout (``b""`` for nothing), or
        None when this transport can't carry an answer back at all.
        """
        ...

    def close(self) -> None:
        """Let go of any handle; the next call opens it again."""
        ...


class TcpTransport:
    """Raw TCP to a printer's port 9100, one connection per job and per status query."""

    def __init__(
        self,
        host: str,
        port: int = 9100,
        *,
        connect_timeout_s: float = 3.0,
        send_timeout_s: float = 10.0,
        finish_timeout_s: float = 5.0,
        status_timeout_s: float = 1.5,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self.send_timeout_s = send_timeout_s
        self.finish_timeout_s = finish_timeout_s
        self.status_timeout_s = status_timeout_s
        self.description = f"tcp://{host}:{port}"

    def _connect(self) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except ConnectionRefusedError:
            raise _offline(
                sentence("{where} refused the connection", where=self.description)
            ) from None
        except TimeoutError:
            raise _offline(
                sentence(
                    "{where} did not answer within {seconds} s",
                    where=self.description,
                    seconds=f"{self.connect_timeout_s:g}",
                )
            ) from None
        except OSError as err:
            raise _offline(
                sentence(
                    "{where} can't be reached: {why}",
                    where=self.description,
                    why=err.strerror or str(err),
                )
            ) from err

    def write(self, data: bytes) -> None:
        with self._connect() as sock:
            try:
                sock.settimeout(self.send_timeout_s)
                # Since Python 3.5 the timeout bounds the whole sendall, not each send.
                sock.sendall(data)
                wire_log.debug("%s ← %d bytes %r", self.description, len(data), data[:200])
                sock.shutdown(socket.SHUT_WR)
                self._wait_for_close(sock)
            except TimeoutError:
                raise _offline(
                    sentence(
                        "{where} stopped taking data: the job was not sent within {seconds} s",
                        where=self.description,
                        seconds=f"{self.send_timeout_s:g}",
                    )
                ) from None
            except OSError as err:
                if err.errno in _DROPPED:
                    raise _offline(
                        sentence(
                            "{where} dropped the connection mid-job; nothing counts as printed",
                            where=self.description,
                        )
                    ) from None
                raise _offline(f"{self.description}: {err.strerror or err}") from err

    def _wait_for_close(self, sock: socket.socket) -> None:
        # Like CUPS's socket backend with waiteof: after our FIN, the printer closes once it
        # has read everything. A reset here means the job did not arrive whole. A printer that
        # keeps the connection open past the timeout has still taken every byte (sendall),
        # as CUPS also assumes when its wait ends.
        deadline = time.monotonic() + self.finish_timeout_s
        try:
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    return
                wire_log.debug("%s → %r", self.description, chunk)
        except TimeoutError:
            log.debug("%s kept the connection open after the job", self.description)

    def query(self, request: bytes, complete: Callable[[bytes], bool]) -> bytes | None:
        with self._connect() as sock:
            reply = b""
            deadline = time.monotonic() + self.status_timeout_s
            try:
                sock.settimeout(self.status_timeout_s)
                sock.sendall(request)
                while not complete(reply):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    sock.settimeout(left)
                    chunk = sock.recv(1024)
                    if not chunk:
                        break
                    reply += chunk
            except TimeoutError:
                pass
            except OSError as err:
                raise _offline(f"{self.description}: {err.strerror or err}") from err
            wire_log.debug("%s %r → %r", self.description, request, reply)
            return reply

    def close(self) -> None:
        """Nothing stays open between jobs."""


class FileTransport:
    """A path the job is written to: a printer device node such as ``/dev/usb/lp0``, or a file.

    Paths under ``/dev`` are never created (a missing node means the printer is unplugged);
    any other file is created and appended to, one job after the other.
    """

    def __init__(self, path: str | os.PathLike[str], *, write_timeout_s: float = 10.0) -> None:
        self.path = os.fspath(path)
        self.write_timeout_s = write_timeout_s
        self.description = f"file:{self.path}"
        self._is_device = self.path.startswith("/dev/")

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
        if not self._is_device:
            flags |= os.O_CREAT | os.O_APPEND
        try:
            return os.open(self.path, flags, 0o640)
        except OSError as err:
            raise _file_error(self.path, err) from err

    def write(self, data: bytes) -> None:
        fd = self._open()
        try:
            view = memoryview(data)
            deadline = time.monotonic() + self.write_timeout_s
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([], [fd], [], left)[1]:
                        raise _offline(
                            sentence(
                                "{path} stopped taking data: the job was not written within "
                                "{seconds} s",
                                path=self.path,
                                seconds=f"{self.write_timeout_s:g}",
                            )
                        ) from None
                except OSError as err:
                    raise _file_error(self.path, err, device=self._is_device) from err
            wire_log.debug("%s ← %d bytes %r", self.description, len(data), data[:200])
        finally:
            os.close(fd)

    def query(self, request: bytes, complete: Callable[[bytes], bool]) -> bytes | None:
        if not os.path.exists(self.path) and self._is_device:
            raise _offline(_not_there(self.path))
        return None

    def close(self) -> None:
        """Each job opens and closes the path itself."""


def _file_error(path: str, err: OSError, *, device: bool = False) -> PrinterError:
    if err.errno == errno.ENOSPC and device:
        # The kernel's usblp driver fails a write with ENOSPC when the printer reports
        # paper out (drivers/usb/class/usblp.c, usblp_check_status).
        return PrinterError(
            PrinterStatus(PrinterState.PAPER_OUT, sentence("{path}: out of paper", path=path))
        )
    if err.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return _offline(_not_there(path))
    if err.errno == errno.EBUSY:
        return _offline(sentence("{path} is busy: another program has the printer open", path=path))
    if err.errno == errno.EACCES:
        return _offline(
            sentence("no permission to write to {path}: check the udev rule and groups", path=path)
        )
    return _offline(f"{path}: {err.strerror or err}")


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


# --- the printer --------------------------------------------------------------------------------


class ZplPrinter:
    """A label printer that speaks ZPL II, over any `ZplTransport` (the `Printer` protocol)."""

    def __init__(self, name: str, transport: ZplTransport) -> None:
        self.name = name
        self.transport = transport

    def __repr__(self) -> str:
        return f"ZplPrinter({self.name!r}, {self.transport.description})"

    def status(self) -> PrinterStatus:
        """Ask ``~HS``. No answer is UNKNOWN: Zebra firmware stays silent to ``~HS`` while the
        media or ribbon is out or the head is open, so silence proves nothing either way."""
        try:
            reply = self.transport.query(HOST_STATUS_QUERY, host_status_complete)
        except PrinterError as err:
            return err.status
        if reply is None:
            return PrinterStatus(
                PrinterState.UNKNOWN,
                sentence("{where} can't report status", where=self.transport.description),
            )
        if not reply:
            return PrinterStatus(PrinterState.UNKNOWN, sentence("the printer did not answer ~HS"))
        return parse_host_status(reply)

    def send(self, data: bytes) -> None:
        """Send one job; returns once every byte was accepted, else raises `PrinterError`."""
        if not data:
            return
        self.transport.write(data)
        log.debug("%s: %d bytes sent", self.name, len(data))

    def close(self) -> None:
        self.transport.close()
