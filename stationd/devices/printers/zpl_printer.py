"""A ZPL label printer on the network (raw TCP 9100), on USB, or behind a file (R20).

`ZplPrinter` implements the `Printer` protocol over one of three transports, each a file of
its own as in python-escpos: `zpl_network.TcpTransport` (raw TCP 9100, one connection per job),
`zpl_usb.UsbTransport` (pyusb, bulk endpoints, usblp detached while held) and
`zpl_file.FileTransport` (``/dev/usb/lp0`` or a plain file, written non-blocking). They share
one small interface, `ZplTransport`.

Every failure is a `PrinterError` whose status says why; `send` never blocks longer than its
transport's timeouts. One thread owns a printer (ARCHITECTURE): nothing here is locked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Protocol

from stationd.core.text import sentence
from stationd.devices.printers.printer import PrinterError, PrinterState, PrinterStatus

__all__ = [
    "ZplPrinter",
    "ZplTransport",
    "host_status_complete",
    "parse_host_status",
]

log = logging.getLogger(__name__)

HOST_STATUS_QUERY = b"~HS"
_FRAME = re.compile(rb"\x02([^\x02\x03]*)\x03")


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
