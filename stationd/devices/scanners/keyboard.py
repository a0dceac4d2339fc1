"""A barcode scanner in USB keyboard mode, read through Linux evdev.

One thread owns the input device: it finds it by USB ids (or a path), **grabs** it exclusively
(``EVIOCGRAB``) so no scan ever types into the kiosk or a terminal, reads key events, turns them
into scans with a `KeyFrameDecoder` in the scanner's own layout, and publishes `ScanRead` /
`ScanRejected` / `DeviceStateChanged`. When the device goes away (unplugged: reads fail with
ENODEV) the thread closes it and looks for it again with back-off, so plugging the scanner back
in is all it takes (R21). Stopping gives the device back (ungrab) and closes it.
"""

from __future__ import annotations

import errno
import functools
import logging
import select
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from stationd.core.text import sentence
from stationd.devices.ports import PortSpec
from stationd.devices.scanners.key_frames import KeyFrameDecoder
from stationd.devices.scanners.keymaps import get_keymap
from stationd.devices.scanners.scanner import OwnedScanner
from stationd.devices.usb_find import find_input_device, scanner_hint
from stationd.events import Bus

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

EV_KEY = 0x01  # linux/input-event-codes.h; the same as evdev.ecodes.EV_KEY


class InputDeviceLike(Protocol):
    """The part of `evdev.InputDevice` the scanner uses."""

    path: str
    name: str

    def fileno(self) -> int: ...

    def read(self) -> Iterable[Any]: ...

    def grab(self) -> None: ...

    def ungrab(self) -> None: ...

    def close(self) -> None: ...


DeviceFinder = Callable[[PortSpec], InputDeviceLike | None]


class KeyboardScanner(OwnedScanner):
    """A keyboard-mode barcode scanner, read by its own thread.

    `device_spec` is a `PortSpec` or its text: ``usb:VID:PID[:SERIAL]`` (matched against the
    input devices' ids and ``uniq``), or a path such as ``/dev/input/by-id/usb-…-event-kbd`` or
    the udev symlink ``/dev/stationd-scanner-<serial>``. It is looked up again on every
    connect. Only the device the spec names is ever opened for reading: a keyboard is never
    taken for a scanner unless the config names it.

    `layout` is the keyboard layout the *scanner* is set to (``us``, ``se``, ``no``, ``dk``,
    ``de``, ``se-nodeadkeys``…); the framing settings are those of `KeyFrameDecoder`, with
    ``frame_timeout_s`` as the longest pause between two keys of one scan. Events carry
    ``source=f"hid:{name}"``, and `DeviceStateChanged.device` is that same source.

    `find_device` finds and opens the device for a spec; the default looks among the evdev
    devices in ``/dev/input``. Tests and simulations pass their own.
    """

    def __init__(
        self,
        name: str,
        bus: Bus,
        device_spec: PortSpec | str,
        *,
        layout: str = "us",
        strip_prefix: bytes | str = b"",
        strip_suffix: bytes | str = b"",
        aim_ids: bool = True,
        max_frame_len: int = 256,
        frame_timeout_s: float = 0.2,
        reconnect_max_s: float = 5.0,
        read_timeout_s: float = 0.05,
        find_device: DeviceFinder | None = None,
    ) -> None:
        super().__init__(name, bus, reconnect_max_s=reconnect_max_s)
        if not 0 < read_timeout_s <= 1:
            raise ValueError(f"read_timeout_s must be in (0, 1], not {read_timeout_s}")
        self.spec = (
            device_spec if isinstance(device_spec, PortSpec) else PortSpec.parse(device_spec)
        )
        self.keymap = get_keymap(layout)
        self.read_timeout_s = read_timeout_s
        self._find_device: DeviceFinder = find_device or find_input_device
        self._new_decoder = functools.partial(
            KeyFrameDecoder,
            self.keymap,
            strip_prefix=strip_prefix,
            strip_suffix=strip_suffix,
            aim_ids=aim_ids,
            max_frame_len=max_frame_len,
            frame_timeout_s=frame_timeout_s,
        )
        self._new_decoder()  # bad framing settings fail here, in the caller, not in the thread

    @property
    def source(self) -> str:
        """The name events carry: ``hid:<name>``."""
        return f"hid:{self.name}"

    def _where(self) -> str:
        return str(self.spec)

    def _describe(self, exc: BaseException) -> str:
        return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)

    def _lost_detail(self, handle: Any, where: str, exc: BaseException) -> str:
        return f"lost {handle.path}: {self._describe(exc)}"

    def _open(self) -> tuple[InputDeviceLike, str]:
        device = self._find_device(self.spec)
        if device is None:
            raise OSError(errno.ENODEV, f"no input device {self.spec}")
        info = getattr(device, "info", None)
        if scanner_hint(device.name, getattr(info, "vendor", None)) is None:
            log.warning(
                "scanner %s: %s (%s) does not look like a barcode scanner; using it because the "
                "config names it",
                self.name,
                device.path,
                device.name,
            )
        try:
            # Exclusive: no other reader (the kiosk's display server above all) sees the keys.
            device.grab()
        except OSError as exc:
            device.close()
            if exc.errno == errno.EBUSY:
                raise OSError(errno.EBUSY, f"{device.path} is grabbed by another program") from exc
            raise
        return device, f"{device.path} ({device.name})"

    def _serve(self, handle: Any) -> None:
        device: InputDeviceLike = handle
        decoder = self._new_decoder()
        fd = device.fileno()
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], self.read_timeout_s)
                now = time.monotonic()
                if not ready:
                    self._publish(decoder.expire(now))
                    continue
                try:
                    # Everything the kernel has queued: the last key of a scan is decoded the
                    # moment it is read.
                    events = list(device.read())
                except BlockingIOError:
                    continue
                for event in events:
                    if event.type != EV_KEY:
                        continue  # EV_SYN, EV_MSC (scan codes), EV_LED
                    wire_log.debug("%s <- key %s value %s", self.name, event.code, event.value)
                    self._publish(decoder.feed(event.code, event.value, now))
        finally:
            self._publish(decoder.flush(sentence("frame cut off: the device went away")))

    def _close(self, handle: Any) -> None:
        device: InputDeviceLike = handle
        try:
            device.ungrab()
        except OSError as exc:
            # A device that is gone can't be ungrabbed; the kernel drops the grab with it.
            log.debug("ungrab %s: %s", device.path, exc)
        try:
            device.close()
        except OSError as exc:
            log.debug("closing %s: %s", device.path, exc)
