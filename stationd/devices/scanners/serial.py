"""A barcode scanner on a serial port (RS-232, or USB CDC-ACM showing up as ``/dev/ttyACM*``).

One thread owns the port: it opens it, reads, cuts the bytes into scans with a `FrameDecoder`
and publishes `ScanRead` / `ScanRejected` / `DeviceStateChanged` on the bus. When the port goes
away (the scanner is unplugged) the thread closes it and keeps looking for it with back-off, so
plugging the scanner back in is all it takes (R21).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import serial

from stationd.core.text import sentence
from stationd.devices.ports import PortSpec, open_serial
from stationd.devices.scanners.frames import FrameDecoder, Suffix
from stationd.devices.scanners.scanner import OwnedScanner
from stationd.events import Bus

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

_PARITIES = {
    "N": serial.PARITY_NONE,
    "E": serial.PARITY_EVEN,
    "O": serial.PARITY_ODD,
    "M": serial.PARITY_MARK,
    "S": serial.PARITY_SPACE,
}
_BYTESIZES = {5: serial.FIVEBITS, 6: serial.SIXBITS, 7: serial.SEVENBITS, 8: serial.EIGHTBITS}
_STOPBITS = {
    1: serial.STOPBITS_ONE,
    1.5: serial.STOPBITS_ONE_POINT_FIVE,
    2: serial.STOPBITS_TWO,
}


class SerialScanner(OwnedScanner):
    """A serial barcode scanner, read by its own thread.

    `port` is a `PortSpec` or its text form (``/dev/stationd-scanner``, ``usb:0c2e:0b61``); it
    is looked up again on every connect, so the scanner may come back under another
    ``/dev/ttyACM*`` name. The line settings are pyserial's; the framing settings are those of
    `FrameDecoder`. Events carry ``source=f"serial:{name}"``, and `DeviceStateChanged.device`
    is that same source.

    `read_timeout_s` bounds how long one blocking read waits: it sets how soon `stop` is seen
    and how finely partial frames expire. Scans themselves do not wait for it, a read returns
    as soon as bytes arrive.
    """

    def __init__(
        self,
        name: str,
        bus: Bus,
        port: PortSpec | str,
        *,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        suffix: Suffix = "auto",
        strip_prefix: bytes | str = b"",
        strip_suffix: bytes | str = b"",
        aim_ids: bool = True,
        max_frame_len: int = 256,
        frame_timeout_s: float = 0.2,
        reconnect_max_s: float = 5.0,
        read_timeout_s: float = 0.05,
    ) -> None:
        if baudrate <= 0:
            raise ValueError(f"baudrate must be positive, not {baudrate}")
        if bytesize not in _BYTESIZES:
            raise ValueError(f"bytesize must be 5, 6, 7 or 8, not {bytesize!r}")
        if parity.upper() not in _PARITIES:
            raise ValueError(f"parity must be one of N, E, O, M, S, not {parity!r}")
        if stopbits not in _STOPBITS:
            raise ValueError(f"stopbits must be 1, 1.5 or 2, not {stopbits!r}")
        super().__init__(name, bus, reconnect_max_s=reconnect_max_s)
        if not 0 < read_timeout_s <= 1:
            raise ValueError(f"read_timeout_s must be in (0, 1], not {read_timeout_s}")
        self.port = port if isinstance(port, PortSpec) else PortSpec.parse(port)
        self._serial_settings = {
            "baudrate": baudrate,
            "bytesize": _BYTESIZES[bytesize],
            "parity": _PARITIES[parity.upper()],
            "stopbits": _STOPBITS[stopbits],
            "timeout": read_timeout_s,
        }
        self._new_decoder = functools.partial(
            FrameDecoder,
            suffix=suffix,
            strip_prefix=strip_prefix,
            strip_suffix=strip_suffix,
            aim_ids=aim_ids,
            max_frame_len=max_frame_len,
            frame_timeout_s=frame_timeout_s,
        )
        self._new_decoder()  # bad framing settings fail here, in the caller, not in the thread

    @property
    def source(self) -> str:
        """The name events carry: ``serial:<name>``."""
        return f"serial:{self.name}"

    def _where(self) -> str:
        return str(self.port)

    def _open(self) -> tuple[serial.Serial, str]:
        return open_serial(self.port, **self._serial_settings)

    def _serve(self, handle: Any) -> None:
        ser: serial.Serial = handle
        decoder = self._new_decoder()
        try:
            while not self._stop.is_set():
                # Blocks until the first byte (or the read timeout), then takes what else is
                # there: the last byte of a scan is decoded the moment it lands.
                data = ser.read(ser.in_waiting or 1)
                now = time.monotonic()
                if data:
                    wire_log.debug("%s <- %r", self.name, data)
                    self._publish(decoder.feed(data, now))
                else:
                    self._publish(decoder.expire(now))
        finally:
            self._publish(decoder.flush(sentence("frame cut off: the port closed")))

    def _close(self, handle: Any) -> None:
        try:
            handle.close()
        except (serial.SerialException, OSError) as exc:
            # Closing a port whose device is gone can fail; it is closed for us either way.
            log.debug("closing %s: %s", handle.port, exc)
