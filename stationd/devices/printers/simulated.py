"""A printer without hardware, for `stationd demo`, the kiosk's device page and the tests.

It implements the `Printer` protocol like the real ones: it keeps every payload it accepted (and,
given a folder, writes each to a file there), and it can be told to be in trouble — out of
paper, cover open, offline — so the print queue's holding and resuming (R20) can be seen
without a printer on the bench::

    printer = SimulatedPrinter("receipt", folder="/var/lib/stationd/prints")
    printer.set_state(PrinterState.PAPER_OUT)   # the queue holds, the kiosk says why
    printer.come_back()                         # and it resumes by itself
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from stationd.devices.printers.printer import PrinterError, PrinterState, PrinterStatus

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

#: What a person reads when the simulated printer is told to be in a state without a detail.
DEFAULT_DETAIL = {
    PrinterState.ONLINE: "",
    PrinterState.OFFLINE: "The printer does not answer (simulated).",
    PrinterState.PAPER_OUT: "The printer is out of paper (simulated).",
    PrinterState.COVER_OPEN: "The printer's cover is open (simulated).",
    PrinterState.ERROR: "The printer reports an error (simulated).",
    PrinterState.UNKNOWN: "",
}


class SimulatedPrinter:
    """A `Printer` that keeps what it is sent; safe to inspect from any thread.

    `printed` holds the accepted payloads in order. With `folder`, each payload is also written
    to ``<folder>/<name>-<nnnnnn>.<suffix>``, numbered on after the files already there, through
    a temporary name so a reader never sees half a job. `set_state`, `go_offline` and
    `come_back` play the trouble a real printer has; `fail_next_send` makes the next `send`
    fail although `status` said all is well, as when the paper runs out in the middle of a job.
    """

    def __init__(
        self,
        name: str,
        *,
        folder: str | os.PathLike[str] | None = None,
        suffix: str = "bin",
    ) -> None:
        self.name = name
        self.folder = Path(folder) if folder is not None else None
        self.suffix = suffix
        self._status = PrinterStatus(PrinterState.ONLINE)
        self._printed: list[bytes] = []
        self._fail_next: PrinterStatus | None = None
        self._next_file: int | None = None
        self._changed = threading.Condition()
        self.sends = 0  # every call to send, accepted or not
        self.closes = 0

    # -- the Printer protocol --------------------------------------------------------------

    def status(self) -> PrinterStatus:
        with self._changed:
            return self._status

    def send(self, data: bytes) -> None:
        with self._changed:
            self.sends += 1
            failure = self._fail_next
            self._fail_next = None
            if failure is None and not self._status.state.can_print:
                failure = self._status
            if failure is not None:
                raise PrinterError(failure)
            if self.folder is not None:
                self._write_file(self.folder, data)
            self._printed.append(bytes(data))
            wire_log.debug("%s accepted %d bytes: %r", self.name, len(data), data[:64])
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self.closes += 1

    # -- playing trouble -------------------------------------------------------------------

    def set_state(self, state: PrinterState, detail: str | None = None) -> None:
        """Be in `state` from now on; `detail` is what a person reads (a default if None)."""
        with self._changed:
            self._status = PrinterStatus(state, DEFAULT_DETAIL[state] if detail is None else detail)
            self._changed.notify_all()
        log.info("simulated printer %s is now %s", self.name, state.value)

    def go_offline(self, detail: str | None = None) -> None:
        """Stop answering, as a printer that was switched off or unplugged."""
        self.set_state(PrinterState.OFFLINE, detail)

    def come_back(self) -> None:
        """Be online again: paper in, cover closed, plugged in."""
        self.set_state(PrinterState.ONLINE)

    def fail_next_send(self, status: PrinterStatus | None = None) -> None:
        """Refuse the next `send` with `status` (paper out by default), whatever `status()` says."""
        with self._changed:
            self._fail_next = status or PrinterStatus(
                PrinterState.PAPER_OUT, DEFAULT_DETAIL[PrinterState.PAPER_OUT]
            )

    # -- looking at what was printed -------------------------------------------------------

    @property
    def printed(self) -> list[bytes]:
        """A copy of the accepted payloads, oldest first."""
        with self._changed:
            return list(self._printed)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until at least `count` payloads were accepted; False if `timeout` s passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._printed) >= count, timeout)

    def _write_file(self, folder: Path, data: bytes) -> None:
        if self._next_file is None:
            # Go on after the files of an earlier run instead of writing over them.
            numbers = [
                int(p.stem.rpartition("-")[2])
                for p in folder.glob(f"{self.name}-*.{self.suffix}")
                if p.stem.rpartition("-")[2].isdigit()
            ]
            self._next_file = max(numbers, default=0) + 1
        target = folder / f"{self.name}-{self._next_file:06d}.{self.suffix}"
        partial = target.with_name(target.name + ".part")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(data)
            partial.replace(target)
            self._next_file += 1
        except OSError as err:
            raise PrinterError(
                PrinterStatus(PrinterState.ERROR, f"can't write {target}: {err.strerror}")
            ) from None
