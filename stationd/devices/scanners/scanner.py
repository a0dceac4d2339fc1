"""What every scanner shares: its states, the interface the station uses, and the owner-thread
base that turns decoded frames into bus events (R19: a scan is the same event whichever
scanner made it)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from stationd.devices.owner import OwnedDevice
from stationd.devices.scanners.frames import Frame, Rejected
from stationd.events import ScanRead, ScanRejected

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")


class ScannerState(StrEnum):
    """Where a scanner is; the value is what `DeviceStateChanged.state` carries."""

    STOPPED = "stopped"  # not started, or stopped: nobody is reading
    CONNECTING = "connecting"  # started, first attempt to open the device under way
    CONNECTED = "connected"  # open and reading: scans come through
    OFFLINE = "offline"  # not there or failed; retried with back-off until it comes back


class Scanner(Protocol):
    """What the station needs of any scanner, real or simulated."""

    @property
    def source(self) -> str: ...

    @property
    def state(self) -> ScannerState: ...

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 1.0) -> None: ...


class OwnedScanner(OwnedDevice[ScannerState]):
    """A real scanner read by its own thread: subclasses open, serve and close the device and
    hand what their decoder made to `_publish`."""

    states = ScannerState
    noun = "scanner"

    def _publish(self, results: Sequence[Frame | Rejected]) -> None:
        """Put decoded frames on the bus as `ScanRead`, and rejections as `ScanRejected`."""
        for item in results:
            self._bus.publish(scan_event(item, self.name, self.source))


def scan_event(item: Frame | Rejected, name: str, source: str) -> ScanRead | ScanRejected:
    """The bus event for what a scanner's decoder made.

    What was scanned goes to the ".wire" log only ([logging] wire): codes are the shop's
    data, and a rejected frame may be anything.
    """
    if isinstance(item, Frame):
        wire_log.debug("scanner %s: read %r %s", name, item.code, item.symbology or "")
        return ScanRead(item.code, item.symbology, source)
    log.info("scanner %s: rejected %d bytes: %s", name, len(item.raw), item.reason)
    wire_log.debug("scanner %s: rejected %r", name, item.raw)
    return ScanRejected(source, item.reason, item.raw)
