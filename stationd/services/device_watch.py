"""What the station knows of its devices right now: each scanner, printer and scale with its
state, why it is in trouble, and when it was last seen — and the scans that came in lately.

`DeviceWatch` listens on the bus (it never touches a device: each has one owner thread) and
keeps, per device, the last state it announced and the last time it showed it was there: a
scan, a weight, a printed job, a state it reached by working. The devices page reads it, and
hears `DevicesChanged` after each change.

It also runs the scanner test (R19, R21: does this scanner read, after it was plugged in?):
while a person tests, scans from the scanners are shown on the devices page and not handled by
the bench (`diverting`, which the bench asks), for a limited time so a forgotten test never
leaves the bench deaf. A code typed into the test field is only classified and shown.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from stationd.clock import utcnow
from stationd.core.barcodes import Classified, classify
from stationd.devices.printers.printer import PrinterState, PrinterStatus
from stationd.devices.scales.scale import WeightRead
from stationd.events import Bus, DeviceStateChanged, Event, ScanRead, ScanRejected
from stationd.services.printing import PrinterStateChanged, PrintJobChanged, describe
from stationd.store.print_queue import JobState

log = logging.getLogger(__name__)

#: The longest a scanner test may keep scans from the bench, in seconds.
MAX_DIVERT_S = 600
#: Scans kept for the devices page, newest first.
KEEP_SCANS = 25
#: Device states in which the device works (the values of the scanner, scale and printer enums).
WORKING = frozenset({"connected", PrinterState.ONLINE.value})


class DeviceKind(StrEnum):
    SCANNER = "scanner"
    PRINTER = "printer"
    SCALE = "scale"


@dataclass(frozen=True, slots=True)
class DevicesChanged(Event):
    """The watch recorded something new: `part` is "state", "scan" or "test"."""

    part: str


@dataclass(frozen=True)
class DeviceStatus:
    """One device as a person sees it.

    `state` is the device's own state value (``connected``, ``offline``, ``paper_out``…),
    `detail` why, in a sentence (empty when all is well); `since` when it came into that state
    (None: as it was when the station started); `last_seen` the last time it showed it was
    there (None: not since the station started). `working` says whether it works now.
    """

    kind: DeviceKind
    name: str
    source: str
    state: str
    detail: str
    since: datetime | None
    last_seen: datetime | None
    working: bool


@dataclass(frozen=True)
class SeenScan:
    """A scan as it came in: `classified` is what core made of it (None for bytes a scanner
    sent that were no scan; `reason` then says why). `to_bench` is whether the bench got it."""

    seq: int
    at: datetime
    code: str
    symbology: str | None
    source: str
    classified: Classified | None
    reason: str = ""
    to_bench: bool = True


@dataclass
class _Seen:
    state: str | None = None
    detail: str = ""
    since: datetime | None = None
    last_seen: datetime | None = None


@dataclass
class DeviceWatch:
    """The devices of one station, as the bus tells of them; `start()` to listen."""

    bus: Bus
    scanners: Iterable[Any]
    printer_statuses: Callable[[], Mapping[str, PrinterStatus]]
    scale: Any = None
    clock: Callable[[], datetime] = utcnow
    _seen: dict[tuple[DeviceKind, str], _Seen] = field(default_factory=dict, init=False)
    _scans: deque[SeenScan] = field(default_factory=lambda: deque(maxlen=KEEP_SCANS), init=False)
    _seq: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _window: tuple[datetime, datetime] | None = field(default=None, init=False)
    _listening: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.scanners = list(self.scanners)

    # -- listening -------------------------------------------------------------------------

    def start(self) -> None:
        """Listen on the bus (before the devices start, to hear their first state)."""
        if not self._listening:
            self.bus.subscribe(
                self._on_event,
                DeviceStateChanged,
                ScanRead,
                ScanRejected,
                WeightRead,
                PrinterStateChanged,
                PrintJobChanged,
            )
            self._listening = True

    def stop(self) -> None:
        self.bus.unsubscribe(self._on_event)
        self._listening = False

    def _on_event(self, event: Event) -> None:
        part = "state"
        with self._lock:
            if isinstance(event, DeviceStateChanged):
                kind = self._kind_of(event.device)
                self._state(kind, event.device, event.state, event.detail, event.at)
            elif isinstance(event, PrinterStateChanged):
                self._state(DeviceKind.PRINTER, event.printer, event.state.value, "", event.at)
                if event.state.can_print:
                    self._alive(DeviceKind.PRINTER, event.printer, event.at)
            elif isinstance(event, PrintJobChanged):
                if event.state is not JobState.PRINTED:
                    return
                self._alive(DeviceKind.PRINTER, event.printer, event.at)
            elif isinstance(event, WeightRead):
                self._alive(DeviceKind.SCALE, event.source, event.at)
            elif isinstance(event, ScanRead | ScanRejected):
                part = "scan"
                self._alive(DeviceKind.SCANNER, event.source, event.at)
                self._scans.appendleft(self._seen_scan(event))
        self.bus.publish(DevicesChanged(part))

    def _kind_of(self, source: str) -> DeviceKind:
        if self.scale is not None and source == self.scale.source:
            return DeviceKind.SCALE
        return DeviceKind.SCANNER

    def _entry(self, kind: DeviceKind, source: str) -> _Seen:
        return self._seen.setdefault((kind, source), _Seen())

    def _state(self, kind: DeviceKind, source: str, state: str, detail: str, at: datetime) -> None:
        entry = self._entry(kind, source)
        if entry.state == "connected" and state != "connected":
            entry.last_seen = at  # there until this moment
        if entry.state != state:
            entry.since = at
        entry.state, entry.detail = state, detail
        if state in WORKING:
            entry.last_seen = at

    def _alive(self, kind: DeviceKind, source: str, at: datetime) -> None:
        self._entry(kind, source).last_seen = at

    def _seen_scan(self, event: ScanRead | ScanRejected) -> SeenScan:
        self._seq += 1
        to_bench = not self.diverted(event.at)
        if isinstance(event, ScanRejected):
            raw = event.raw.decode("latin-1")
            return SeenScan(
                self._seq, event.at, raw, None, event.source, None, event.reason, to_bench
            )
        return SeenScan(
            self._seq,
            event.at,
            event.code,
            event.symbology,
            event.source,
            classify(event.code, event.symbology),
            to_bench=to_bench,
        )

    # -- what the page shows ---------------------------------------------------------------

    def devices(self, printed_at: Mapping[str, datetime] | None = None) -> list[DeviceStatus]:
        """Every scanner, printer and the scale, in that order, as they are now.

        `printed_at` gives each printer's last printed job as the print queue keeps it, so a
        printer that printed before the station started was seen then.
        """
        printed_at = printed_at or {}
        out: list[DeviceStatus] = []
        with self._lock:
            for scanner in self.scanners:
                out.append(
                    self._status(DeviceKind.SCANNER, scanner.name, scanner.source, scanner.state)
                )
            for name, status in self.printer_statuses().items():
                seen = self._entry(DeviceKind.PRINTER, name)
                last = max(
                    (at for at in (seen.last_seen, printed_at.get(name)) if at is not None),
                    default=None,
                )
                # A printer is only asked how it is when it prints: before that it is unknown,
                # which is no trouble to explain.
                untried = status.state is PrinterState.UNKNOWN and seen.state is None
                detail = "" if status.state is PrinterState.ONLINE or untried else describe(status)
                out.append(
                    DeviceStatus(
                        DeviceKind.PRINTER,
                        name,
                        name,
                        status.state.value,
                        detail,
                        seen.since,
                        last,
                        status.state is PrinterState.ONLINE,
                    )
                )
            if self.scale is not None:
                scale = self.scale
                out.append(self._status(DeviceKind.SCALE, scale.name, scale.source, scale.state))
        return out

    def _status(self, kind: DeviceKind, name: str, source: str, state: object) -> DeviceStatus:
        seen = self._entry(kind, source)
        value = str(state)
        working = value in WORKING
        return DeviceStatus(
            kind,
            name,
            source,
            value,
            "" if working else seen.detail,
            seen.since,
            self.clock() if working else seen.last_seen,  # connected: there right now
            working,
        )

    def scans(self) -> list[SeenScan]:
        """The latest scans, newest first."""
        with self._lock:
            return list(self._scans)

    def typed(self, code: str) -> SeenScan:
        """A code typed (or wedge-scanned) into the devices page's test field: classified and
        shown, never handled by the bench."""
        with self._lock:
            self._seq += 1
            seen = SeenScan(
                self._seq, self.clock(), code, None, "kiosk", classify(code), to_bench=False
            )
            self._scans.appendleft(seen)
        self.bus.publish(DevicesChanged("scan"))
        return seen

    # -- the scanner test ------------------------------------------------------------------

    def divert(self, seconds: float) -> None:
        """For `seconds` (1 to `MAX_DIVERT_S`) from now, scans from the scanners are only
        shown here."""
        if not 1 <= seconds <= MAX_DIVERT_S:
            raise ValueError(f"A scanner test lasts 1 to {MAX_DIVERT_S} seconds, not {seconds}.")
        now = self.clock()
        with self._lock:
            self._window = (now, now + timedelta(seconds=seconds))
        log.info("scanner test: scans go to the devices page for %g s", seconds)
        self.bus.publish(DevicesChanged("test"))

    def end_diversion(self) -> None:
        """Scans read from now on go to the bench again."""
        now = self.clock()
        with self._lock:
            if self._window is not None and self._window[1] > now:
                self._window = (self._window[0], now)
        self.bus.publish(DevicesChanged("test"))

    def diverted(self, at: datetime) -> bool:
        """Whether a scan read at `at` was kept from the bench (the bench asks as it takes a
        scan off its queue: the moment the scan was read decides, not when it is handled)."""
        window = self._window
        return window is not None and window[0] <= at < window[1]

    @property
    def diverting_until(self) -> datetime | None:
        """When the scanner test running now ends, or None when none runs."""
        window = self._window
        return window[1] if window is not None and self.diverted(self.clock()) else None
