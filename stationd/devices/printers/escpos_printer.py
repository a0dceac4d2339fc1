"""An ESC/POS receipt printer on the network, a serial line, USB or a device file (SPEC R20).

`EscposPrinter(name, transport)` is the `Printer` the print queue's worker thread owns: it
sends the bytes `rendering.escpos.render()` made and asks the printer how it is. It talks through
python-escpos's transports, made from a small frozen description (`NetworkTransport`,
`SerialTransport`, `UsbTransport`, `FileTransport`) so the printer can open a fresh handle after
any failure. Nothing here waits without a limit: every connect, write and read has the
transport's `timeout_s`.

Each transport is a file of its own, as in python-escpos: `escpos_network` (raw TCP 9100, one
connection per job), `escpos_serial`, `escpos_usb` and `escpos_file`. Each speaks the same small
interface (`escpos_transport.EscposTransport`): open a handle, finish a job, ask a status
request, or say what it knows without asking.

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
import logging
import socket

from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError

from stationd.core.text import Text, sentence
from stationd.devices.printers.escpos_file import FileTransport
from stationd.devices.printers.escpos_network import NetworkTransport
from stationd.devices.printers.escpos_serial import SerialTransport
from stationd.devices.printers.escpos_transport import EscposTransport
from stationd.devices.printers.escpos_usb import UsbTransport
from stationd.devices.printers.printer import PrinterError, PrinterState, PrinterStatus

__all__ = ["EscposPrinter", "Transport", "parse_status"]

log = logging.getLogger(__name__)
wire = logging.getLogger(__name__ + ".wire")

DLE_EOT = b"\x10\x04"
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12  # bits 0, 1, 4, 7 of every DLE EOT answer: 0, 1, 1, 0


Transport = NetworkTransport | SerialTransport | UsbTransport | FileTransport


# --- what went wrong, in words for the kiosk -------------------------------------------------


def _errno_of(exc: BaseException) -> int | None:
    seen: BaseException | None = exc
    while seen is not None:
        number = getattr(seen, "errno", None)
        if isinstance(number, int):
            return number
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(exc: BaseException, transport: EscposTransport) -> Text:
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
        self.transport: EscposTransport = transport
        self._handle: Escpos | None = None

    def __repr__(self) -> str:
        return f"EscposPrinter({self.name!r}, {self.transport!r})"

    # --- the Printer protocol ---------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write `data`; returns once every byte was accepted, else raises `PrinterError`
        (OFFLINE, with the reason). The handle is dropped on failure and opened anew next time."""
        try:
            handle = self._open()
            if wire.isEnabledFor(logging.DEBUG):
                wire.debug("%s ← %d bytes %s", self.name, len(data), data[:64].hex(" "))
            handle._raw(data)
            self.transport.finish(handle)
        except PrinterError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            status = PrinterStatus(PrinterState.OFFLINE, _describe(exc, self.transport))
            log.warning("printer %s: %s", self.name, status.detail)
            raise PrinterError(status) from exc
        if self.transport.per_job:
            self.close()

    def status(self) -> PrinterStatus:
        """How the printer is, by DLE EOT where the transport can read back; never raises.

        On the network, the connection that asked stays open when the printer can print, for
        the `send` that normally follows; call `close` when none will."""
        known = self.transport.status()
        if known is not None:
            return known
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
        if self.transport.per_job and not status.state.can_print:
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
                self._handle = self.transport.open()
            except Exception as exc:
                status = PrinterStatus(PrinterState.OFFLINE, _describe(exc, self.transport))
                raise PrinterError(status) from exc
        return self._handle

    def _query(self, handle: Escpos, ns: tuple[int, ...]) -> list[int | None]:
        """Send DLE EOT n for each of `ns` in one write; the answer bytes in that order, None
        for those that did not come within the transport's timeout."""
        request = b"".join(DLE_EOT + bytes([n]) for n in ns)
        want = len(ns)
        answer = self.transport.ask(handle, request, want) or b""
        if wire.isEnabledFor(logging.DEBUG):
            asked = ", ".join(map(str, ns))
            wire.debug("%s DLE EOT %s → %s", self.name, asked, bytes(answer).hex(" ") or "nothing")
        return [answer[i] if i < len(answer) else None for i in range(want)]
