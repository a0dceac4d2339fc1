"""A ZPL label printer behind a path: ``/dev/usb/lp0`` or a plain file (R20).

Opened non-blocking, so a printer that stops taking data times out instead of hanging the
worker. A file carries no answer back: status is UNKNOWN while the path is there.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import time
from collections.abc import Callable

from stationd.core.text import Text, sentence
from stationd.devices.printers.printer import PrinterError, PrinterState, PrinterStatus
from stationd.devices.printers.printer import offline as _offline

__all__ = ["FileTransport"]

wire_log = logging.getLogger(__name__ + ".wire")


def _not_there(path: str) -> Text:
    return sentence("{path} is not there: is the printer plugged in and on?", path=path)


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
