"""An ESC/POS printer behind a device file (e.g. /dev/usb/lp0), or a plain file for tests (R20).

Written with O_NONBLOCK and poll(), because a blocking write to usblp waits forever while the
printer is out of paper. A file cannot answer a status request: its status is UNKNOWN while the
path is there, OFFLINE when it is not.
"""

from __future__ import annotations

import errno
import io
import os
import select
import time
from dataclasses import dataclass

from escpos.escpos import Escpos
from escpos.printer import File

from stationd.core.text import sentence
from stationd.devices.printers.escpos_transport import EscposTransport
from stationd.devices.printers.printer import PrinterState, PrinterStatus

__all__ = ["FileTransport"]


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


@dataclass(frozen=True, slots=True)
class FileTransport(EscposTransport):
    """A device file or plain file; a write that takes no data for `timeout_s` fails."""

    devfile: str
    timeout_s: float = 5.0

    def __str__(self) -> str:
        return self.devfile

    def open(self) -> Escpos:
        """The file opened for appending, as a python-escpos handle."""
        handle = _NonBlockingFile(self.devfile, self.timeout_s)
        handle.open()
        return handle

    def ask(self, handle: Escpos, request: bytes, want: int) -> bytes | None:
        """A file carries no answer back."""
        return None

    def status(self) -> PrinterStatus:
        """UNKNOWN while the file is there (or can be made), OFFLINE when it is not."""
        path = self.devfile
        parent = os.path.dirname(path) or "."
        if os.path.exists(path) or (not path.startswith("/dev/") and os.path.isdir(parent)):
            return PrinterStatus(
                PrinterState.UNKNOWN, sentence("a file cannot answer status requests")
            )
        return PrinterStatus(
            PrinterState.OFFLINE,
            sentence("{path} is not there (printer unplugged?)", path=path),
        )
