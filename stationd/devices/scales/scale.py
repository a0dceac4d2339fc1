"""Parcel scales: the `WeightRead` event, what every scale offers, and a simulated scale.

A scale, whatever its bus (`SerialScale`, `HidPosScale`, `SimulatedScale`), publishes
`WeightRead` on the bus when it settles on a weight, and keeps its latest reading — settled or
not — in `last_weight` for whoever asks (the ship-out page, the label). Like scanners, a scale
knows nothing of orders: comparing the weight with the parcel's expected weight is
`stationd.core.weight`'s job.

The decoders of the real scales turn bytes into `Reading`, `NoWeight` or `Unreadable`, and a
`WeightTracker` turns those into events, so every scale publishes by the same rules:

* only a **stable** reading is published, and only once per weighing: a continuous scale sends
  the same stable weight ten times a second, and the bench wants one event when the parcel
  settles, not a stream. A stable reading is published again when the weight changes, or
  after the scale was unstable, had no weight, or went away in between (the parcel was lifted
  and put back).
* `last_weight` is the latest reading, stable or not, and None while the scale has no weight
  to give (over capacity, fault, offline, silent).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Protocol

from stationd.clock import utcnow
from stationd.devices.owner import OwnedDevice
from stationd.events import Bus, DeviceStateChanged, Event

log = logging.getLogger(__name__)

#: Grams per unit, for the units scales report. Exact by definition (the international
#: avoirdupois pound is 453.59237 g; the ounce is 1/16 of it; the troy ounce 31.1034768 g).
GRAMS_PER_UNIT: dict[str, Decimal] = {
    "mg": Decimal("0.001"),
    "g": Decimal(1),
    "kg": Decimal(1000),
    "t": Decimal(1_000_000),
    "ct": Decimal("0.2"),
    "gr": Decimal("0.06479891"),
    "dwt": Decimal("1.55517384"),
    "ozt": Decimal("31.1034768"),
    "oz": Decimal("28.349523125"),
    "lb": Decimal("453.59237"),
    "ton": Decimal("907184.74"),  # the short (avoirdupois) ton
}

#: No parcel scale weighs more: a decoded weight beyond this is line noise, not a parcel.
MAX_GRAMS = 10_000_000


class ScaleState(StrEnum):
    """Where a scale is; the value is what `DeviceStateChanged.state` carries."""

    STOPPED = "stopped"  # not started, or stopped: nobody is reading
    CONNECTING = "connecting"  # started, first attempt to open the device under way
    CONNECTED = "connected"  # open, and weights come through
    SILENT = "silent"  # open, but no readable weight for a while: switched off, wrong settings
    OFFLINE = "offline"  # not there or failed; retried with back-off until it comes back


@dataclass(frozen=True, slots=True)
class WeightRead(Event):
    """A weight read by a scale (or put on the simulated one).

    `grams` is the weight the scale shows, rounded to whole grams; it is negative when the
    scale shows less than zero (tared with the box, box taken off). `stable` is the scale's own
    "no motion" flag: only stable reads travel on the bus, unstable ones only show in
    `Scale.last_weight`. `net` is True when the scale says it shows a net weight (a tare is
    set), so the weight excludes whatever was tared. `source` names the device
    (``serial:bench-scale``, ``hidpos:dymo``, ``sim:scale``).
    """

    grams: int
    stable: bool
    source: str = "unknown"
    at: datetime = field(default_factory=utcnow)
    net: bool = False


@dataclass(frozen=True, slots=True)
class Reading:
    """A decoded weight, before it becomes an event."""

    grams: int
    stable: bool
    net: bool = False


@dataclass(frozen=True, slots=True)
class NoWeight:
    """A well-formed answer that holds no weight: over capacity, under zero, a fault."""

    reason: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Bytes that are not a scale frame: line noise, a wrong baud rate, another protocol."""

    reason: str
    raw: bytes = b""


Decoded = Reading | NoWeight | Unreadable


def to_grams(value: Decimal, unit: str) -> int | None:
    """`value` `unit`s in whole grams (rounded half up), or None for an unknown unit or a value
    no parcel scale shows (beyond `MAX_GRAMS`)."""
    factor = GRAMS_PER_UNIT.get(unit.lower())
    if factor is None or not value.is_finite():
        return None
    try:
        grams = (value * factor).to_integral_value(ROUND_HALF_UP)
    except InvalidOperation:
        return None
    if abs(grams) > MAX_GRAMS:
        return None
    return int(grams)


class Scale(Protocol):
    """What the station needs of any scale, real or simulated."""

    @property
    def source(self) -> str: ...

    @property
    def state(self) -> ScaleState: ...

    @property
    def last_weight(self) -> WeightRead | None: ...

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 1.0) -> None: ...


class WeightTracker:
    """Turns a scale's decoded readings into `WeightRead` events and `last_weight`.

    Used by the scale's owner thread (`update`, `clear`); `last` may be read from any thread.
    See the module docstring for when a reading is published.
    """

    def __init__(self, bus: Bus, source: str, name: str) -> None:
        self._bus = bus
        self._source = source
        self._name = name
        self._lock = threading.Lock()
        self._last: WeightRead | None = None
        self._published: Reading | None = None
        self._unreadable_warned = False

    @property
    def last(self) -> WeightRead | None:
        with self._lock:
            return self._last

    def update(self, decoded: Decoded) -> WeightRead | None:
        """Take one decoded frame; returns the `WeightRead` it published, if any."""
        if isinstance(decoded, Unreadable):
            # One warning per spell of garbage: a wrong baud rate produces it ten times a
            # second, and the log must not drown in it. Garbage does not clear the weight.
            level = logging.DEBUG if self._unreadable_warned else logging.WARNING
            log.log(level, "scale %s: unreadable %r: %s", self._name, decoded.raw, decoded.reason)
            self._unreadable_warned = True
            return None
        self._unreadable_warned = False
        if isinstance(decoded, NoWeight):
            if self.last is not None or self._published is not None:
                log.info("scale %s: no weight: %s", self._name, decoded.reason)
            self.clear()
            return None
        event = WeightRead(decoded.grams, decoded.stable, self._source, net=decoded.net)
        with self._lock:
            self._last = event
        if not decoded.stable:
            self._published = None
            return None
        if decoded == self._published:
            return None
        self._published = decoded
        log.debug("scale %s: %d g%s", self._name, decoded.grams, " net" if decoded.net else "")
        self._bus.publish(event)
        return event

    def clear(self) -> None:
        """The scale has no weight now (gone, silent, over capacity): forget the last one."""
        with self._lock:
            self._last = None
        self._published = None


class SimulatedScale:
    """A scale without hardware, for `stationd demo`, the kiosk's test page and the tests.

    Weights come in through `put`; events carry ``source=f"sim:{name}"``. `unplug` and
    `plug_in` play the scale going away and coming back.
    """

    def __init__(self, name: str, bus: Bus) -> None:
        self.name = name
        self._bus = bus
        self._state = ScaleState.STOPPED
        self._state_lock = threading.Lock()
        self._tracker = WeightTracker(bus, self.source, name)

    @property
    def source(self) -> str:
        """The name events carry: ``sim:<name>``."""
        return f"sim:{self.name}"

    @property
    def state(self) -> ScaleState:
        return self._state

    @property
    def last_weight(self) -> WeightRead | None:
        """The latest weight put on the scale, None when stopped or unplugged."""
        return self._tracker.last

    def start(self) -> None:
        """Become connected. Starting twice is a no-op."""
        if self._state == ScaleState.STOPPED:
            self._set_state(ScaleState.CONNECTED)

    def stop(self, timeout_s: float = 1.0) -> None:
        self._tracker.clear()
        self._set_state(ScaleState.STOPPED)

    def put(self, grams: int, *, stable: bool = True, net: bool = False) -> WeightRead | None:
        """Put `grams` on the scale; returns the `WeightRead` published (None when unstable).

        Every stable `put` is a new weighing and is published, even of the same weight: in a
        demo, putting the same parcel on twice should show twice. Raises `RuntimeError` when
        the scale is not started, and returns None (nothing read) while it is unplugged.
        """
        if self._state == ScaleState.STOPPED:
            raise RuntimeError(f"scale {self.source} is not started")
        if isinstance(grams, bool) or not isinstance(grams, int) or abs(grams) > MAX_GRAMS:
            raise ValueError(f"grams must be whole grams within ±{MAX_GRAMS}, not {grams!r}")
        if self._state != ScaleState.CONNECTED:
            log.info("scale %s: not connected, %d g not read", self.name, grams)
            return None
        self._tracker.clear()
        return self._tracker.update(Reading(grams, stable, net))

    def unplug(self, detail: str = "unplugged") -> None:
        """Act as if the scale was pulled out: OFFLINE, no weight until `plug_in`."""
        if self._state == ScaleState.STOPPED:
            raise RuntimeError(f"scale {self.source} is not started")
        self._tracker.clear()
        self._set_state(ScaleState.OFFLINE, detail)

    def plug_in(self) -> None:
        """Act as if the scale came back: CONNECTED again."""
        if self._state == ScaleState.STOPPED:
            raise RuntimeError(f"scale {self.source} is not started")
        self._set_state(ScaleState.CONNECTED, "plugged in")

    def _set_state(self, state: ScaleState, detail: str = "") -> None:
        with self._state_lock:
            if state == self._state:
                return
            self._state = state
        log.info("scale %s: %s %s", self.name, state.value, detail)
        self._bus.publish(DeviceStateChanged(self.source, state.value, detail))


class OwnedScale(OwnedDevice[ScaleState]):
    """A real scale and the one thread that owns its handle (a serial port, a USB device).

    The lifecycle is `OwnedDevice`'s: open, serve, close, and try again with back-off, so a
    scale that was unplugged works again as soon as it is back, with no restart (R21).
    Subclasses say how to open, serve and close, and feed what they read to `self._tracker`;
    they set SILENT themselves. The last weight is forgotten whenever the scale goes offline
    or is stopped.
    """

    states = ScaleState
    noun = "scale"

    def __init__(self, name: str, bus: Bus, *, reconnect_max_s: float) -> None:
        super().__init__(name, bus, reconnect_max_s=reconnect_max_s)
        self._tracker = WeightTracker(bus, self.source, name)

    @property
    def last_weight(self) -> WeightRead | None:
        """The latest reading, stable or not; None while there is no weight (thread-safe)."""
        return self._tracker.last

    def _on_stop(self) -> None:
        self._tracker.clear()

    def _offline(self, detail: str) -> None:
        self._tracker.clear()
        super()._offline(detail)
