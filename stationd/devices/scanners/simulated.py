"""A scanner without hardware, for `stationd demo`, the kiosk's test page and the tests.

It has the interface of `SerialScanner` (`start`, `stop`, `state`, `source`) and publishes the
same events. Codes come in through `scan()`, or from a shell through a named pipe::

    echo 7310865004703 > /run/stationd/scan.fifo
    printf ']C1(01)07310865004703\\n' > /run/stationd/scan.fifo

FIFO lines go through the same `FrameDecoder` as serial bytes, so AIM ids are split off and
garbage is rejected exactly as from a real scanner.
"""

from __future__ import annotations

import logging
import os
import select
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from stationd.devices.scanners.frames import Frame, FrameDecoder, Rejected
from stationd.devices.scanners.scanner import ScannerState, scan_event
from stationd.events import Bus, DeviceStateChanged, ScanRead, ScanRejected

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

# How long the FIFO reader waits for bytes before it looks at the stop flag again.
_POLL_S = 0.05


class SimulatedScanner:
    """A scanner fed by `scan()` and, when `fifo_path` is given, by lines written to a FIFO.

    Events carry ``source=f"sim:{name}"``. `unplug` and `plug_in` play R21 (the device going
    away and coming back) for demos and tests of the screens that show device state.
    """

    def __init__(
        self,
        name: str,
        bus: Bus,
        *,
        fifo_path: str | os.PathLike[str] | None = None,
        aim_ids: bool = True,
    ) -> None:
        self.name = name
        self.fifo_path = Path(fifo_path) if fifo_path is not None else None
        self.aim_ids = aim_ids
        self._bus = bus
        self._state = ScannerState.STOPPED
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fds: tuple[int, int] | None = None

    @property
    def source(self) -> str:
        """The name events carry: ``sim:<name>``."""
        return f"sim:{self.name}"

    @property
    def state(self) -> ScannerState:
        """`ScannerState.CONNECTED` once started (unless unplugged), else STOPPED / OFFLINE."""
        return self._state

    def start(self) -> None:
        """Become connected; with a `fifo_path`, create the FIFO if missing and start reading it.

        Raises `OSError` when the FIFO can't be made or opened, and `ValueError` when the path
        exists but is not a FIFO: a demo that can't be fed should say so at once.
        """
        if self._state != ScannerState.STOPPED:
            return
        if self.fifo_path is not None:
            self._fds = _open_fifo(self.fifo_path)
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._read_fifo, args=(self._fds,), name=f"scanner-{self.name}", daemon=True
            )
            self._thread.start()
        self._set_state(ScannerState.CONNECTED, str(self.fifo_path or ""))

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop reading the FIFO (the FIFO file stays) and become STOPPED."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("scanner %s: FIFO reader did not stop within %g s", self.name, timeout_s)
            self._thread = None
        self._set_state(ScannerState.STOPPED)

    def scan(self, code: str, symbology: str | None = None) -> ScanRead | None:
        """Publish a scan of `code` and return it; None (nothing published) when unplugged.

        Raises `RuntimeError` when the scanner was not started: a test that forgot `start()`
        should fail loudly rather than wait for a scan that never comes.
        """
        if self._state == ScannerState.STOPPED:
            raise RuntimeError(f"scanner {self.source} is not started")
        event = ScanRead(code, symbology, self.source)
        return event if self._emit(event) else None

    def unplug(self, detail: str = "unplugged") -> None:
        """Act as if the scanner was pulled out: OFFLINE, and scans are lost until `plug_in`."""
        if self._state == ScannerState.STOPPED:
            raise RuntimeError(f"scanner {self.source} is not started")
        self._set_state(ScannerState.OFFLINE, detail)

    def plug_in(self) -> None:
        """Act as if the scanner came back: CONNECTED again."""
        if self._state == ScannerState.STOPPED:
            raise RuntimeError(f"scanner {self.source} is not started")
        self._set_state(ScannerState.CONNECTED, "plugged in")

    def _set_state(self, state: ScannerState, detail: str = "") -> None:
        with self._state_lock:
            if state == self._state:
                return
            self._state = state
        log.info("scanner %s: %s %s", self.name, state.value, detail)
        self._bus.publish(DeviceStateChanged(self.source, state.value, detail))

    def _read_fifo(self, fds: tuple[int, int]) -> None:
        reader, keep_open = fds
        decoder = FrameDecoder(suffix="auto", aim_ids=self.aim_ids)
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([reader], [], [], _POLL_S)
                now = time.monotonic()
                if not ready:
                    self._publish(decoder.expire(now))
                    continue
                try:
                    data = os.read(reader, 4096)
                except BlockingIOError:
                    continue
                wire_log.debug("%s <- %r", self.name, data)
                self._publish(decoder.feed(data, now))
        except Exception:  # a demo scanner that died quietly would look like a broken bench
            log.exception("scanner %s: FIFO reader failed", self.name)
            self._set_state(ScannerState.OFFLINE, "FIFO reader failed")
        finally:
            os.close(keep_open)
            os.close(reader)

    def _publish(self, results: Sequence[Frame | Rejected]) -> None:
        for item in results:
            self._emit(scan_event(item, self.name, self.source))

    def _emit(self, event: ScanRead | ScanRejected) -> bool:
        if self._state != ScannerState.CONNECTED:
            # An unplugged scanner reads nothing; the scan is lost as with real hardware.
            log.info("scanner %s: not connected, a scan lost", self.name)
            wire_log.debug("scanner %s: lost %r", self.name, event)
            return False
        self._bus.publish(event)
        return True


def _open_fifo(path: Path) -> tuple[int, int]:
    """Make the FIFO if missing and open it: (read end, our own write end)."""
    try:
        os.mkfifo(path, 0o660)
        log.info("made FIFO %s", path)
    except FileExistsError:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            raise ValueError(f"{path} exists and is not a FIFO") from None
    # Non-blocking, so opening does not wait for a writer. Holding a write end ourselves keeps
    # the FIFO from reporting end-of-file (and select from spinning) each time `echo` closes it.
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        keep_open = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        os.close(reader)
        raise
    return reader, keep_open
