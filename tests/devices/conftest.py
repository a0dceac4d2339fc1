"""What the device tests share: an event bus, a queue of what the devices published on it, and
kernel ptys that play a serial device (scanner, scale, printer) at their far end."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pty_device import PtyDevice

from stationd.devices.scales.scale import WeightRead
from stationd.events import Bus, DeviceStateChanged, EventQueue, ScanRead, ScanRejected


@pytest.fixture
def ptys() -> Iterator[Callable[[], PtyDevice]]:
    """Makes `PtyDevice`s; each is unplugged when the test ends."""
    made: list[PtyDevice] = []

    def make() -> PtyDevice:
        made.append(PtyDevice())
        return made[-1]

    yield make
    for pty in made:
        pty.unplug()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def events(bus: Bus) -> Iterator[EventQueue]:
    """Everything a device publishes: scans, rejected scans, weights and state changes."""
    with bus.queue(ScanRead, ScanRejected, WeightRead, DeviceStateChanged) as q:
        yield q
