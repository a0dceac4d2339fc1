"""An ESC/POS receipt printer on the network, a serial line, USB or a device file (SPEC R20).

`EscposPrinter(name, transport)` is the `Printer` the print queue's worker thread owns: it
sends the bytes `rendering.escpos.render()` made and asks the printer how it is. It talks through
python-escpos's transports, made from a small frozen description (`NetworkTransport`,
`SerialTransport`, `UsbTransport`, `FileTransport`) so the printer can open a fresh handle after
any failure. Nothing here waits without a limit: every connect, write and read has the
transport's `timeout_s`.

- **Network** (raw TCP, port 9100): one connection per job, as the CUPS socket backend does; a
  printer that drops idle connections can't swallow a job, and print servers that print on
  end-of-connection get one. The status request before a job is asked on that job's connection
  (`status` keeps it open when the printer can print, `send` uses and closes it): a second
  connection per job cost a connect, an accept and a close on both sides, most of the queue →
  wire time (issue 3). A job counts as accepted once the printer's TCP stack has acknowledged
  every byte (the socket's send queue is empty), not merely once the bytes left our buffer.
- **Serial** and **USB** keep their handle open between jobs and drop it on any failure; the
  next call opens it again. pyserial gets a write timeout (python-escpos sets none, and with
  DSR/DTR flow control a switched-off printer blocks a write forever) and USB transfers get a
  timeout (python-escpos's default is "wait forever").
- **File** (e.g. /dev/usb/lp0, or a plain file for tests): written with O_NONBLOCK and poll(),
  because a blocking write to usblp waits forever while the printer is out of paper. It cannot
  answer a status request: `status()` says UNKNOWN.

Status: the ESC/POS real-time requests DLE EOT 1 (printer), 2 (offline cause), 3 (error cause,
only to explain an error) and 4 (roll paper sensor), bits as in Epson's ESC/POS reference for
DLE EOT. Every answer byte has the fixed pattern 0xx1 xx10; a byte without it is not taken as a
status. 1, 2 and 4 go out in one write and their answers are read back in order: a printer
executes real-time commands as they arrive, even offline or with a full receive buffer (the
reference's notes on DLE EOT), and answers each with its own byte, so one round trip asks all
three instead of three. A printer that answers none of them costs one timeout, as before.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import select
import socket
import struct
import time
from dataclasses import dataclass

from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import File, Network, Serial, Usb

from stationd.core.text import Text, sentence
from stationd.devices.printers.printer import PrinterError, PrinterState, PrinterStatus

try:  # Linux: bytes not yet acknowledged by the peer (SIOCOUTQ is TIOCOUTQ's number).
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    _SIOCOUTQ = None

__all__ = [
    "EscposPrinter",
    "FileTransport",
    "NetworkTransport",
    "SerialTransport",
    "Transport",
    "UsbTransport",
    "parse_status",
]

log = logging.getLogger(__name__)
wire = logging.getLogger(__name__ + ".wire")

DLE_EOT = b"\x10\x04"
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12  # bits 0, 1, 4, 7 of every DLE EOT answer: 0, 1, 1, 0


# --- transports ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkTransport:
    host: str
    port: int = 9100
    timeout_s: float = 5.0

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SerialTransport:
    devfile: str
    baudrate: int = 9600
    timeout_s: float = 5.0
    dsrdtr: bool = True  # hardware flow control as python-escpos does; False for RTS/CTS
    xonxoff: bool = False

    def __str__(self) -> str:
        return self.devfile


@dataclass(frozen=True, slots=True)
class UsbTransport:
    vendor_id: int
    product_id: int
    in_ep: int = 0x82
    out_ep: int = 0x01
    timeout_s: float = 5.0
    serial_number: str | None = None  # tells two printers of one model apart

    def __str__(self) -> str:
        sn = f" serial {self.serial_number}" if self.serial_number else ""
        return f"USB {self.vendor_id:04x}:{self.product_id:04x}{sn}"


@dataclass(frozen=True, slots=True)
class FileTransport:
    devfile: str
    timeout_s: float = 5.0

    def __str__(self) -> str:
        return self.devfile


Transport = NetworkTransport | SerialTransport | UsbTransport | FileTransport


# --- python-escpos transports, with the limits stationd needs --------------------------------


class _NetworkJob(Network):
    """python-escpos's Network, opened and closed without its root-logger INFO lines (one per
    job and per status poll) and with connection errors left as the OSError they are."""

    def open(self, raise_not_found: bool = True) -> None:
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.settimeout(self.timeout)
        self.device = sock

    def close(self) -> None:
        sock, self._device = self._device, False
        if sock:
            sock.close()


class _NonBlockingFile(File):
    """python-escpos's File, written with O_NONBLOCK and poll() so a write never blocks for
    longer than `timeout` (usblp blocks writes while the printer is out of paper). Appends, so
    a plain file keeps every job."""

    def __init__(self, devfile: str, timeout: float) -> None:
        super().__init__(devfile=devfile)
        self.timeout = timeout

    def open(self, raise_not_found: bool = True) -> None:
        self.close()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
        self.device = io.FileIO(os.open(self.devfile, flags, 0o640), "wb")

    def _raw(self, msg: bytes) -> None:
        fd = self.device.fileno()  # type: ignore[union-attr]
        view, deadline = memoryview(msg), time.monotonic() + self.timeout
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        while view:
            left_ms = (deadline - time.monotonic()) * 1000
            if left_ms <= 0:
                raise TimeoutError(errno.ETIMEDOUT, "the device took no data")
            if not poller.poll(left_ms):
                continue
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue

    def close(self) -> None:
        device, self._device = self._device, False
        if device:
            device.close()


def _open_handle(transport: Transport) -> Escpos:
    if isinstance(transport, NetworkTransport):
        handle: Escpos = _NetworkJob(transport.host, transport.port, transport.timeout_s)
        handle.open()
        return handle
    if isinstance(transport, FileTransport):
        handle = _NonBlockingFile(transport.devfile, transport.timeout_s)
        handle.open()
        return handle
    if isinstance(transport, SerialTransport):
        handle = Serial(
            devfile=transport.devfile,
            baudrate=transport.baudrate,
            timeout=transport.timeout_s,
            dsrdtr=transport.dsrdtr,
            xonxoff=transport.xonxoff,
        )
        handle.open()
        if not handle._device:
            raise DeviceNotFoundError(f"serial port {transport.devfile} did not open")
        handle._device.write_timeout = transport.timeout_s
        return handle
    usb_args: dict = {}
    if transport.serial_number is not None:
        import usb.util

        wanted = transport.serial_number

        def same_serial(device) -> bool:  # type: ignore[no-untyped-def]
            try:
                return usb.util.get_string(device, device.iSerialNumber) == wanted
            except (ValueError, usb.core.USBError):
                return False

        usb_args["custom_match"] = same_serial
    handle = Usb(
        transport.vendor_id,
        transport.product_id,
        usb_args=usb_args,
        timeout=max(1, int(transport.timeout_s * 1000)),
        in_ep=transport.in_ep,
        out_ep=transport.out_ep,
    )
    handle.open()
    # python-escpos checks the device with `assert`, which `python -O` strips.
    if not handle._device:
        raise DeviceNotFoundError(f"{transport} not found")
    return handle


# --- what went wrong, in words for the kiosk -------------------------------------------------


def _errno_of(exc: BaseException) -> int | None:
    seen: BaseException | None = exc
    while seen is not None:
        number = getattr(seen, "errno", None)
        if isinstance(number, int):
            return number
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(exc: BaseException, transport: Transport) -> Text:
    number = _errno_of(exc)
    text = str(exc).strip().replace("\n", " ")
    where = str(transport)
    if number == errno.EBUSY or "resource busy" in text.lower():
        return sentence(
            "{where} is busy (errno 16, resource busy): another program or the kernel's usblp "
            "driver has claimed it. Stop whatever else prints to it (CUPS, a second stationd) "
            "or unbind usblp.",
            where=where,
        )
    if isinstance(exc, ConnectionRefusedError) or number == errno.ECONNREFUSED:
        return sentence(
            "{where} refused the connection: the printer is off, or the port is wrong.",
            where=where,
        )
    if isinstance(exc, TimeoutError | socket.timeout) or number == errno.ETIMEDOUT:
        return sentence(
            "{where} did not answer within {seconds} s: the printer is off, unreachable, or "
            "stopped taking data (paper out, buffer full).",
            where=where,
            seconds=f"{transport.timeout_s:g}",
        )
    if isinstance(exc, BrokenPipeError | ConnectionResetError) or number in (
        errno.EPIPE,
        errno.ECONNRESET,
        errno.ENOTCONN,  # the half-close after a job found the connection reset already
    ):
        return sentence("{where} dropped the connection in the middle of the job.", where=where)
    if number in (errno.EACCES, errno.EPERM):
        return sentence(
            "{where}: permission denied; the stationd user needs the device's group. {text}",
            where=where,
            text=text,
        )
    if number in (errno.ENODEV, errno.ENOENT, errno.ENXIO) or isinstance(exc, DeviceNotFoundError):
        log.debug("%s not found: %s", where, text)
        return sentence("{where} is not there (unplugged or switched off).", where=where)
    return sentence("{where}: {error}: {text}", where=where, error=type(exc).__name__, text=text)


# --- DLE EOT ---------------------------------------------------------------------------------


def _valid(byte: int | None) -> bool:
    return byte is not None and byte & _FIXED_MASK == _FIXED_BITS


def parse_status(
    printer: int | None,
    offline: int | None = None,
    paper: int | None = None,
    error: int | None = None,
) -> PrinterStatus:
    """Map the answers to DLE EOT 1, 2, 4 (and 3) to a `PrinterStatus`. A missing or malformed
    answer to DLE EOT 1 means the printer can't tell: UNKNOWN."""
    if printer is None or not _valid(printer):
        return PrinterStatus(
            PrinterState.UNKNOWN, sentence("the printer did not answer the status request")
        )
    offline = offline if _valid(offline) else 0
    paper = paper if _valid(paper) else 0
    error = error if _valid(error) else 0
    if offline & 0x04:
        return PrinterStatus(PrinterState.COVER_OPEN, sentence("the cover is open"))
    if paper & 0x60 or offline & 0x20:
        return PrinterStatus(PrinterState.PAPER_OUT, sentence("out of paper"))
    if offline & 0x40:
        causes = [
            text
            for bit, text in (
                (0x08, sentence("the auto-cutter jammed")),
                (0x20, sentence("an error it cannot recover from")),
                (
                    0x40,
                    sentence("the print head is too hot, or another error that clears by itself"),
                ),
            )
            if error & bit
        ]
        said = causes[-1] if causes else sentence("the printer reports an error")
        for cause in reversed(causes[:-1]):  # "a; b", each part still translatable
            said = sentence("{cause}; {more}", cause=cause, more=said)
        return PrinterStatus(PrinterState.ERROR, said)
    if printer & 0x08:
        return PrinterStatus(PrinterState.OFFLINE, sentence("the printer is offline"))
    if paper & 0x0C:
        return PrinterStatus(PrinterState.ONLINE, sentence("paper is running low"))
    return PrinterStatus(PrinterState.ONLINE)


class EscposPrinter:
    """The `Printer` of an ESC/POS receipt printer; used by one thread only (its queue's)."""

    def __init__(self, name: str, transport: Transport) -> None:
        self.name = name
        self.transport = transport
        self._handle: Escpos | None = None

    def __repr__(self) -> str:
        return f"EscposPrinter({self.name!r}, {self.transport!r})"

    # --- the Printer protocol ---------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write `data`; returns once every byte was accepted, else raises `PrinterError`
        (OFFLINE, with the reason). The handle is dropped on failure and opened anew next time."""
        per_job = isinstance(self.transport, NetworkTransport)
        try:
            handle = self._open()
            if wire.isEnabledFor(logging.DEBUG):
                wire.debug("%s ← %d bytes %s", self.name, len(data), data[:64].hex(" "))
            handle._raw(data)
            if per_job:
                self._wait_acknowledged(handle)
        except PrinterError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            status = PrinterStatus(PrinterState.OFFLINE, _describe(exc, self.transport))
            log.warning("printer %s: %s", self.name, status.detail)
            raise PrinterError(status) from exc
        if per_job:
            self.close()

    def status(self) -> PrinterStatus:
        """How the printer is, by DLE EOT where the transport can read back; never raises.

        On the network, the connection that asked stays open when the printer can print, for
        the `send` that normally follows; call `close` when none will."""
        if isinstance(self.transport, FileTransport):
            return self._file_status(self.transport)
        try:
            handle = self._open()
            printer, offline, paper = self._query(handle, (1, 2, 4))
            error = None
            if _valid(printer) and _valid(offline) and offline & 0x40:  # type: ignore[operator]
                (error,) = self._query(handle, (3,))  # only to say what the error is
        except PrinterError as err:
            self.close()
            return err.status
        except Exception as exc:
            self.close()
            return PrinterStatus(PrinterState.OFFLINE, _describe(exc, self.transport))
        status = parse_status(printer, offline, paper, error)
        if isinstance(self.transport, NetworkTransport) and not status.state.can_print:
            self.close()  # no job follows: don't hold the printer's connection while it waits
        return status

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except Exception as exc:  # closing a handle that already failed may fail again
                log.debug("printer %s: closing: %s", self.name, exc)

    # --- internals --------------------------------------------------------------------------

    def _open(self) -> Escpos:
        if self._handle is None:
            try:
                self._handle = _open_handle(self.transport)
            except Exception as exc:
                status = PrinterStatus(PrinterState.OFFLINE, _describe(exc, self.transport))
                raise PrinterError(status) from exc
        return self._handle

    def _wait_acknowledged(self, handle: Escpos) -> None:
        """Half-close, then wait until the peer acknowledged every byte sent and the end of the
        job (Linux SIOCOUTQ reaches 0)."""
        sock = handle._device
        if not isinstance(sock, socket.socket):
            return  # pragma: no cover - python-escpos changed
        # The end of the job first, as CUPS's socket backend does: a print server that prints
        # on end-of-connection gets it now, and a FIN is acknowledged at once. Without it the
        # last data segment waits for the printer's delayed ACK — 40 ms and more on Linux once
        # the status answers made the connection look interactive (RFC 1122 4.2.3.2).
        sock.shutdown(socket.SHUT_WR)
        if _SIOCOUTQ is None:
            return  # pragma: no cover - not Linux
        deadline = time.monotonic() + self.transport.timeout_s
        delay = 0.0002
        while True:
            unacked = struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0\0\0\0"))[0]
            if unacked == 0:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(errno.ETIMEDOUT, f"{unacked} bytes not acknowledged")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _query(self, handle: Escpos, ns: tuple[int, ...]) -> list[int | None]:
        """Send DLE EOT n for each of `ns` in one write; the answer bytes in that order, None
        for those that did not come within the transport's timeout."""
        request = b"".join(DLE_EOT + bytes([n]) for n in ns)
        want = len(ns)
        timeout = self.transport.timeout_s
        deadline = time.monotonic() + timeout
        device = handle._device
        answer = b""
        if isinstance(self.transport, NetworkTransport):
            device.sendall(request)  # type: ignore[union-attr]
            while len(answer) < want and (left := deadline - time.monotonic()) > 0:
                device.settimeout(left)  # type: ignore[union-attr]
                try:
                    chunk = device.recv(16)  # type: ignore[union-attr]
                except TimeoutError:
                    break
                if not chunk:
                    raise ConnectionResetError(
                        errno.ECONNRESET, "the printer closed the connection"
                    )
                answer += chunk
            device.settimeout(timeout)  # type: ignore[union-attr]
        elif isinstance(self.transport, SerialTransport):
            device.reset_input_buffer()  # type: ignore[union-attr]
            device.write(request)  # type: ignore[union-attr]
            answer = device.read(want)  # type: ignore[union-attr]
        else:
            import usb.core

            device.write(self.transport.out_ep, request, int(timeout * 1000))  # type: ignore[union-attr]
            while len(answer) < want and (left := deadline - time.monotonic()) > 0:
                left_ms = max(1, int(left * 1000))
                try:
                    answer += bytes(device.read(self.transport.in_ep, 16, left_ms))  # type: ignore[union-attr]
                except usb.core.USBTimeoutError:
                    break
        if wire.isEnabledFor(logging.DEBUG):
            asked = ", ".join(map(str, ns))
            wire.debug("%s DLE EOT %s → %s", self.name, asked, bytes(answer).hex(" ") or "nothing")
        return [answer[i] if i < len(answer) else None for i in range(want)]

    @staticmethod
    def _file_status(transport: FileTransport) -> PrinterStatus:
        path = transport.devfile
        parent = os.path.dirname(path) or "."
        if os.path.exists(path) or (not path.startswith("/dev/") and os.path.isdir(parent)):
            return PrinterStatus(
                PrinterState.UNKNOWN, sentence("a file cannot answer status requests")
            )
        return PrinterStatus(
            PrinterState.OFFLINE,
            sentence("{path} is not there (printer unplugged?)", path=path),
        )
