"""The in-process event bus and the typed events that travel on it.

Devices publish what they saw (`ScanRead`), use cases publish what changed (`OrderChanged`,
`ScanOutcome`), and the kiosk's server-sent-event streams and the workers listen. Handlers run in
the publisher's thread, so a handler must be quick: the ones that do real work hand the event to
their own thread through `Bus.queue()`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from stationd.clock import utcnow

if TYPE_CHECKING:
    from stationd.core.bench_screen import BenchScreen

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event on the bus."""


@dataclass(frozen=True, slots=True)
class ScanRead(Event):
    """A code read by a scanner, or typed into the kiosk: the same event either way (R19).

    `symbology` is the AIM identifier (``]E0``, ``]C1``…) when the scanner sent one, else None.
    `source` names the device (``serial:/dev/ttyACM0``, ``sim``, ``kiosk``).
    """

    code: str
    symbology: str | None = None
    source: str = "unknown"
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ScanRejected(Event):
    """Bytes from a scanner that were not a scan: garbage, an over-long or unterminated frame."""

    source: str
    reason: str
    raw: bytes = b""
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ScanOutcome(Event):
    """What the bench made of one scan: shown on the bench page and sounded (R12)."""

    ok: bool
    message: str
    order_id: int | None = None
    code: str = ""
    source: str = "unknown"
    sound: str = "ok"
    at: datetime = field(default_factory=utcnow)
    #: A good parcel id scanned with no order open at the bench: the ship-out page may take it.
    unclaimed_parcel: str = ""
    #: The bench page after this outcome (core `BenchScreen`): the kiosk draws it from here.
    screen: BenchScreen | None = None


@dataclass(frozen=True, slots=True)
class OrderChanged(Event):
    """An order's state or contents changed in the store (after the commit)."""

    order_id: int
    what: str


@dataclass(frozen=True, slots=True)
class PackScriptRunChanged(Event):
    """A pack-script run of this station started, got on (at most a few times a second) or
    ended. `run_id` is set once it has ended and been recorded; the runner has the details."""

    running: bool
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class OperatorChanged(Event):
    """Someone signed in or out at a station (badge, PIN, by hand, idle lock), after the commit.

    `operator_id` is who is signed in now (None: nobody).
    """

    station: str
    operator_id: int | None
    what: str  # "signed_in" | "signed_out" | "locked"


@dataclass(frozen=True, slots=True)
class DeviceStateChanged(Event):
    """A device came, went, or changed state (R21)."""

    device: str
    state: str
    detail: str = ""
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class DatabaseState(Event):
    """Whether the database answers, and how many scans wait for it (issue 10, items 2 and 3).

    Published when either changes: the bench shows the outage and counts the scans kept,
    then the catch-up as `waiting` falls back to 0 once `available`.
    """

    available: bool
    waiting: int = 0
    #: Scans kept during this outage (shown once it is back, until the catch-up is old).
    kept: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SyncState(Event):
    """Whether central answers this bench's push and pull, and how many changes wait for it
    (issue 11): the bench shows "offline since" and the changes waiting, then the catch-up as
    `waiting` falls to 0 once central is back. Never published by a single bench."""

    #: When the push or the pull first found central away (None: central answers).
    offline_since: datetime | None
    waiting: int = 0
    #: Changes that waited while central was away (shown until the catch-up is done).
    kept: int = 0


Handler = Callable[[Event], None]


class EventQueue:
    """A subscription that collects events into a queue for one consumer thread.

    Use as a context manager, or call `close()`, so the bus stops feeding it.
    """

    def __init__(self, bus: Bus, types: tuple[type[Event], ...], maxsize: int) -> None:
        self._bus = bus
        self._types = types
        self._queue: queue.Queue[Event] = queue.Queue(maxsize=maxsize)
        self.dropped = 0

    def _put(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            # A stalled consumer (a browser tab in the background) must not stall the scanner.
            self.dropped += 1

    def qsize(self) -> int:
        """How many events wait (approximately, as `queue.Queue.qsize`)."""
        return self._queue.qsize()

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None when `timeout` seconds passed without one."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus.unsubscribe(self._put)

    def __enter__(self) -> EventQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus:
    """Publish/subscribe by event type, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: list[tuple[tuple[type[Event], ...], Handler]] = []

    def subscribe(self, handler: Handler, *types: type[Event], first: bool = False) -> None:
        """Call `handler` for every published event of one of `types` (all events if none);
        `first`: before the handlers subscribed so far (the scan inbox: on disk before any
        other part hears of a scan)."""
        with self._lock:
            entry = (types or (Event,), handler)
            if first:
                self._handlers.insert(0, entry)
            else:
                self._handlers.append(entry)

    def unsubscribe(self, handler: Handler) -> None:
        with self._lock:
            self._handlers = [(t, h) for t, h in self._handlers if h != handler]

    def queue(self, *types: type[Event], maxsize: int = 1000) -> EventQueue:
        """Subscribe a fresh queue to `types`; the caller drains it from its own thread."""
        q = EventQueue(self, types or (Event,), maxsize)
        self.subscribe(q._put, *q._types)
        return q

    def publish(self, event: Event) -> None:
        """Deliver `event` to every matching handler; a failing handler is logged, not raised."""
        with self._lock:
            handlers = [h for types, h in self._handlers if isinstance(event, types)]
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler %r failed on %r", handler, event)
