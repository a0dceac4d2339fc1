"""Waiting in tests: the next event of a kind on the event bus, or a condition, with a
deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from stationd.events import DeviceStateChanged, Event, EventQueue

E = TypeVar("E", bound=Event)
T = TypeVar("T")

#: How long a device test waits for what a device should do (R21: back within 2 s).
WITHIN_S = 2.0


def next_event(
    q: EventQueue,
    kind: type[E],
    where: Callable[[E], bool] = lambda e: True,
    within_s: float = WITHIN_S,
) -> tuple[E, list[Event]]:
    """The first event of `kind` that `where` accepts, and the events that came before it."""
    deadline = time.monotonic() + within_s
    before: list[Event] = []
    while (left := deadline - time.monotonic()) > 0:
        event = q.get(timeout=left)
        if event is None:
            break
        if isinstance(event, kind) and where(event):
            return event, before
        before.append(event)
    raise AssertionError(f"no {kind.__name__} within {within_s} s; saw {before}")


def next_state(q: EventQueue, *states: str) -> DeviceStateChanged:
    """The next state change of a device to one of `states`."""
    return next_event(q, DeviceStateChanged, lambda e: e.state in states)[0]


def until(predicate: Callable[[], T], within_s: float = WITHIN_S, what: str = "condition met") -> T:
    """Wait until `predicate()` holds and give back what it returned; fail the test, naming
    `what` it waited for, when it doesn't within `within_s`. The one wait of every test."""
    deadline = time.monotonic() + within_s
    while not (found := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s} s: {what}")
        time.sleep(0.01)
    return found
