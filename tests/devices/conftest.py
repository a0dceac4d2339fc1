"""What the device tests share: a queue of what the devices published on the event bus (the bus
and the kernel ptys that play a serial device at their far end come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stationd.devices.scales.scale import WeightRead
from stationd.events import Bus, DeviceStateChanged, EventQueue, ScanRead, ScanRejected


@pytest.fixture
def events(bus: Bus) -> Iterator[EventQueue]:
    """Everything a device publishes: scans, rejected scans, weights and state changes."""
    with bus.queue(ScanRead, ScanRejected, WeightRead, DeviceStateChanged) as q:
        yield q
