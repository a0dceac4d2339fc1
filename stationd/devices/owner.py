"""The one thread that owns a device: `OwnedDevice`, the base of every real scanner and scale.

A device handle (a serial port, an evdev device, a claimed USB interface) is only ever touched
by its owner thread. The thread opens the device, serves it until it fails or `stop` is
called, closes it, and tries again with back-off (0.1 s doubling up to `reconnect_max_s`), so a
device that was unplugged works again as soon as it is back, with no restart (R21). Every
change of state is published on the bus as `DeviceStateChanged`.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from stationd.events import Bus, DeviceStateChanged

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.1

StateT = TypeVar("StateT", bound=StrEnum)


class OwnedDevice(ABC, Generic[StateT]):
    """A device and the one thread that owns its handle.

    Subclasses set `states`, the device's state enum (a `StrEnum` with at least STOPPED,
    CONNECTING, CONNECTED and OFFLINE; the value is what `DeviceStateChanged.state` carries),
    and `noun` ("scanner", "scale"), which names the device in log lines and the thread
    (``<noun>-<name>``). They say how to open, serve and close the device (`_open`, `_serve`,
    `_close`) and where it is looked for (`_where`); `_lost` lists the exceptions that mean
    "the device went away". Any other exception is a bug: it is logged in full, the device is
    reported offline, and the thread carries on.
    """

    #: The device's state enum.
    states: ClassVar[type[StrEnum]]
    #: What the device is, for log lines and the thread name.
    noun: ClassVar[str] = "device"
    #: Exceptions that mean the device is gone or failed; anything else is a bug, logged in full.
    _lost: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, name: str, bus: Bus, *, reconnect_max_s: float) -> None:
        if reconnect_max_s < BACKOFF_START_S:
            raise ValueError(f"reconnect_max_s must be at least {BACKOFF_START_S}")
        self.name = name
        self.reconnect_max_s = reconnect_max_s
        self._bus = bus
        self._state: StateT = self._named("STOPPED")
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    @abstractmethod
    def source(self) -> str:
        """The name events carry, and `DeviceStateChanged.device`."""

    @property
    def state(self) -> StateT:
        """The current state (a `StrEnum`, equal to its string value)."""
        return self._state

    def start(self) -> None:
        """Start the owner thread; the device need not be there yet. Starting twice is a no-op."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._set_state(self._named("CONNECTING"), self._where())
        self._thread = threading.Thread(
            target=self._run, name=f"{self.noun}-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop, close the device and wait up to `timeout_s` for the thread to end."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                log.error(
                    "%s %s: owner thread did not stop within %g s", self.noun, self.name, timeout_s
                )
                return
        self._thread = None
        self._on_stop()
        self._set_state(self._named("STOPPED"))

    # For subclasses ---------------------------------------------------------------------------
    @abstractmethod
    def _where(self) -> str:
        """Where the device is looked for: the detail of CONNECTING."""

    @abstractmethod
    def _open(self) -> tuple[Any, str]:
        """Open the device: (handle, where it was found). Raises one of `_lost` when absent."""

    @abstractmethod
    def _serve(self, handle: Any) -> None:
        """Read the device until `self._stop` is set (return) or it fails (raise)."""

    @abstractmethod
    def _close(self, handle: Any) -> None:
        """Close the handle; never raises."""

    def _describe(self, exc: BaseException) -> str:
        """One of `_lost`, as the OFFLINE detail says it."""
        return str(exc)

    def _lost_detail(self, handle: Any, where: str, exc: BaseException) -> str:
        """The OFFLINE detail when the device at `where` failed while served."""
        return f"lost {where}: {self._describe(exc)}"

    def _on_stop(self) -> None:
        """Called once the thread has ended, before the state becomes STOPPED."""

    def _named(self, member: str) -> StateT:
        return self.states[member]  # type: ignore[return-value]

    def _set_state(self, state: StateT, detail: str = "") -> None:
        with self._state_lock:
            if state == self._state:
                return
            self._state = state
        log.info("%s %s: %s %s", self.noun, self.name, state.value, detail)
        self._bus.publish(DeviceStateChanged(self.source, state.value, detail))

    def _offline(self, detail: str) -> None:
        offline = self._named("OFFLINE")
        if self._state != offline:
            log.warning("%s %s: offline: %s", self.noun, self.name, detail)
        self._set_state(offline, detail)

    # The owner thread -------------------------------------------------------------------------
    def _run(self) -> None:
        delay = BACKOFF_START_S
        while not self._stop.is_set():
            connected_at = None
            try:
                handle, where = self._open()
            except self._lost as exc:
                self._offline(self._describe(exc))
            except Exception as exc:  # the owner thread must outlive any bug
                log.exception("%s %s: opening failed", self.noun, self.name)
                self._offline(f"opening failed: {exc!r}")
            else:
                connected_at = time.monotonic()
                self._set_state(self._named("CONNECTED"), where)
                failure = None
                try:
                    self._serve(handle)
                except self._lost as exc:
                    failure = self._lost_detail(handle, where, exc)
                except Exception as exc:  # the owner thread must outlive any bug
                    log.exception("%s %s: reader failed", self.noun, self.name)
                    failure = f"reader failed: {exc!r}"
                finally:
                    # Closed before "offline" goes out: whoever reacts to it finds the device
                    # released (and the kernel driver back).
                    self._close(handle)
                if failure is not None:
                    self._offline(failure)
            if self._stop.is_set():
                break
            # A device that opens and dies at once (a flaky cable) must not reset the back-off
            # into a 10 Hz reconnect loop; only a connection that held for a while does.
            if connected_at is not None and time.monotonic() - connected_at >= self.reconnect_max_s:
                delay = BACKOFF_START_S
            log.debug("%s %s: next attempt in %g s", self.noun, self.name, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, self.reconnect_max_s)
