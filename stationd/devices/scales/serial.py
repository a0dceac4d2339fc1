"""A parcel scale on a serial port (RS-232, or a USB serial adapter), in one of two protocols.

**continuous** — the indicator sends a line per reading, several times a second, unasked. The
format is the one of many industrial weighing indicators (CAS, A&D, T-Scale, and the generic
XK3190 family)::

    ST,GS,+  1.234 kg<CR><LF>       stable, gross, 1.234 kg
    US,NT,-  0.120kg<CR><LF>        unstable, net, -0.120 kg
    ST,GS    20.7g<CR><LF>          no comma after the mode
    ST,+00123.45  g<CR><LF>         no mode field (A&D)
    ST,GS,  1.234,kg<CR><LF>        a comma before the unit
    OL,GS,+  --.-- kg<CR><LF>       over capacity: no weight

Exactly: ``<status>,[<mode>[,]]<sign><value>[,]<unit>`` between line ends (CR, LF or CRLF),
spaces allowed around every field, letters in either case. `status` is ``ST`` (stable), ``US``
(unstable) or ``OL`` (overload); `mode` is ``GS``/``G``/``GW`` (gross), ``NT``/``N``/``NW``
(net) or ``TR``/``T``/``TW`` (the display shows the tare: no parcel weight); `value` is digits
with an optional decimal point; `unit` is ``kg``, ``g``, ``lb``/``lbs`` or ``oz``. Any other
line is ignored (logged), and so is the first line after connecting when it is unreadable, as
the port may open mid-line.

**request** — NCI's "SCP-01" protocol (also called NCI standard or 3825; spoken by NCI,
Avery Weigh-Tronix, Brecknell and many POS scales). The station sends ``W<CR>`` and the scale
answers::

    <LF>  1.234KG<CR><LF>00<CR><ETX>         weight, units, two status bytes
    <LF>0002.50LB<CR><LF>S100<CR><ETX>       SCP-02 style: "S" before three status bytes
    <LF> 2lb  3.5oz<CR><LF>00<CR><ETX>       pounds and ounces
    <LF>02<CR><ETX>                          status only (no weight to give)
    <LF>?<CR><ETX>                           command not understood

The reply ends at ETX; a reply that does not come within `reply_timeout_s` is given up and
asked again. Status bytes have bits 4 and 5 set, so they are printable ("0" is all clear); bit
7 (parity) is ignored. Byte 1: bit 0 in motion, bit 1 at zero, bit 2 RAM error, bit 3 EEPROM
error. Byte 2: bit 0 under capacity, bit 1 over capacity, bit 2 ROM error, bit 3 faulty
calibration, bit 6 another byte follows. Byte 3 (optional): bits 0–1 range, bit 2 net weight,
bit 3 initial zero error. Over or under capacity and any error give no weight; motion gives an
unstable reading.

In both protocols a reading is published as `WeightRead` only when stable (see
`stationd.devices.scales.scale`). When no readable answer comes for `silence_timeout_s` (the
scale is switched off behind a USB adapter that stays plugged in, or the baud rate is wrong) the
scale goes `SILENT` until one does.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import serial

from stationd.devices.ports import PortSpec, open_serial
from stationd.devices.scales.scale import (
    Decoded,
    NoWeight,
    OwnedScale,
    Reading,
    ScaleState,
    Unreadable,
    to_grams,
)
from stationd.events import Bus

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

WireProtocol = Literal["continuous", "request"]
PROTOCOLS: tuple[str, ...] = ("continuous", "request")

ETX = b"\x03"

_PARITIES = {
    "N": serial.PARITY_NONE,
    "E": serial.PARITY_EVEN,
    "O": serial.PARITY_ODD,
    "M": serial.PARITY_MARK,
    "S": serial.PARITY_SPACE,
}
_BYTESIZES = {7: serial.SEVENBITS, 8: serial.EIGHTBITS}
_STOPBITS = {1: serial.STOPBITS_ONE, 2: serial.STOPBITS_TWO}

# Anything a line of text may hold: printable ASCII and the tab.
_PRINTABLE = re.compile(rb"[\x20-\x7e\t]*")

_CONTINUOUS = re.compile(
    r"""\s*(?P<status>ST|US)\s*,\s*
    (?:(?P<mode>GS|GW|G|NT|NW|N|TR|TW|T)\s*,?\s*)?
    (?P<sign>[+-]?)\s*(?P<value>\d+(?:\.\d*)?|\.\d+)
    \s*,?\s*(?P<unit>kg|g|lbs|lb|oz)\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_OVERLOAD = re.compile(r"\s*OL\s*,.*", re.IGNORECASE)
_NET_MODES = frozenset({"NT", "NW", "N"})
_TARE_MODES = frozenset({"TR", "TW", "T"})

_NCI_WEIGHT = re.compile(
    r"\s*(?P<sign>[+-]?)\s*(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>kg|g|lb|oz)\s*",
    re.IGNORECASE,
)
_NCI_LB_OZ = re.compile(
    r"\s*(?P<sign>[+-]?)\s*(?P<lb>\d+)\s*lb\s+(?P<oz>\d+(?:\.\d*)?|\.\d+)\s*oz\s*",
    re.IGNORECASE,
)


def _text(raw: bytes) -> str | None:
    """`raw` as text when it is printable ASCII, else None."""
    return raw.decode("ascii") if _PRINTABLE.fullmatch(raw) else None


def _value(sign: str, digits: str) -> Decimal | None:
    try:
        value = Decimal(digits)
    except InvalidOperation:  # the patterns only pass numbers; belt and braces for a decoder
        return None
    return -value if sign == "-" else value


def parse_continuous_line(line: bytes) -> Decoded:
    """One line of a continuous-output scale (without its line end) → a decoded reading."""
    text = _text(line)
    if text is None:
        return Unreadable("unreadable bytes (control characters)", line)
    if _OVERLOAD.fullmatch(text):
        return NoWeight("over capacity")
    m = _CONTINUOUS.fullmatch(text)
    if m is None:
        return Unreadable("not a weight line", line)
    mode = (m["mode"] or "GS").upper()
    if mode in _TARE_MODES:
        return NoWeight("the scale shows the tare, not a weight")
    unit = m["unit"].lower()
    value = _value(m["sign"], m["value"])
    grams = to_grams(value, "lb" if unit == "lbs" else unit) if value is not None else None
    if grams is None:
        return Unreadable("weight out of range", line)
    return Reading(grams, stable=m["status"].upper() == "ST", net=mode in _NET_MODES)


class ContinuousDecoder:
    """Incremental decoder for the continuous protocol: bytes in, decoded lines out.

    Lines end at CR or LF (so CRLF too); empty lines are skipped. A line longer than
    `max_line_len` is reported once and dropped up to its end. A partial line older than
    `line_timeout_s` when more bytes come (`expire`, or `feed` after a pause) is dropped, so a
    line cut off mid-way never merges with the next one into a wrong weight. The first line,
    when unreadable, is dropped silently: the port may have opened mid-line.
    """

    def __init__(self, *, max_line_len: int = 64, line_timeout_s: float = 0.5) -> None:
        if max_line_len < 8:
            raise ValueError(f"max_line_len must be at least 8, not {max_line_len}")
        if line_timeout_s <= 0:
            raise ValueError(f"line_timeout_s must be positive, not {line_timeout_s}")
        self.max_line_len = max_line_len
        self.line_timeout_s = line_timeout_s
        self._buf = bytearray()
        self._started_at = 0.0
        self._overflow = False
        self._first = True

    def feed(self, data: bytes, now: float | None = None) -> list[Decoded]:
        now = time.monotonic() if now is None else now
        out = self.expire(now)
        for chunk in re.split(rb"([\r\n])", bytes(data)):
            if chunk in (b"\r", b"\n"):
                line, overflow = bytes(self._buf), self._overflow
                self._buf.clear()
                self._overflow = False
                if line and not overflow:
                    out.extend(self._line(line))
                continue
            if not chunk or self._overflow:
                continue
            if not self._buf:
                self._started_at = now
            self._buf += chunk
            if len(self._buf) > self.max_line_len:
                out.append(
                    Unreadable(f"line longer than {self.max_line_len} bytes", bytes(self._buf))
                )
                self._buf.clear()
                self._overflow = True
                self._first = False
        return out

    def expire(self, now: float) -> list[Decoded]:
        """Drop a partial line older than `line_timeout_s`."""
        if self._buf and now - self._started_at > self.line_timeout_s:
            raw = bytes(self._buf)
            self._buf.clear()
            self._first = False
            return [Unreadable(f"line not ended within {self.line_timeout_s:g} s", raw)]
        return []

    def _line(self, line: bytes) -> list[Decoded]:
        decoded = parse_continuous_line(line)
        first, self._first = self._first, False
        if first and isinstance(decoded, Unreadable):
            log.debug("dropped the first, partial line %r", line)
            return []
        return [decoded]


@dataclass(frozen=True, slots=True)
class NciStatus:
    """The status bytes of an NCI reply, decoded."""

    motion: bool
    at_zero: bool
    under_capacity: bool
    over_capacity: bool
    net: bool
    errors: tuple[str, ...]


def parse_nci_status(raw: bytes) -> NciStatus | None:
    """NCI status bytes (with or without the SCP-02 ``S``) → `NciStatus`, None if not status."""
    if raw[:1] == b"S":
        raw = raw[1:]
    if not 2 <= len(raw) <= 4:
        return None
    masked = [b & 0x7F for b in raw]  # bit 7 is parity on 7-bit lines
    if masked[0] & 0x70 != 0x30 or any(b & 0x30 != 0x30 for b in masked[1:]):
        return None
    b1, b2 = masked[0], masked[1]
    b3 = masked[2] if len(masked) > 2 else 0x30
    errors = [
        name
        for present, name in (
            (b1 & 0x04, "RAM error"),
            (b1 & 0x08, "EEPROM error"),
            (b2 & 0x04, "ROM error"),
            (b2 & 0x08, "faulty calibration"),
            (b3 & 0x08, "initial zero error"),
        )
        if present
    ]
    return NciStatus(
        motion=bool(b1 & 0x01),
        at_zero=bool(b1 & 0x02),
        under_capacity=bool(b2 & 0x01),
        over_capacity=bool(b2 & 0x02),
        net=bool(b3 & 0x04),
        errors=tuple(errors),
    )


def parse_nci_reply(reply: bytes) -> Decoded:
    """One NCI reply, up to (without) its ETX → a decoded reading."""
    parts = [p.lstrip(b"\n") for p in reply.split(b"\r")]
    parts = [p for p in parts if p.strip()]
    if parts == [b"?"]:
        return Unreadable("the scale did not understand the request", reply)
    if not 1 <= len(parts) <= 2:
        return Unreadable("not an NCI reply", reply)
    status = parse_nci_status(parts[-1])
    if status is None:
        return Unreadable("no NCI status bytes", reply)
    if status.errors:
        return NoWeight("scale fault: " + ", ".join(status.errors))
    if status.over_capacity:
        return NoWeight("over capacity")
    if status.under_capacity:
        return NoWeight("under capacity")
    if len(parts) == 1:
        return NoWeight("in motion" if status.motion else "the scale gave no weight")
    text = _text(parts[0])
    grams = _nci_grams(text) if text is not None else None
    if grams is None:
        return Unreadable("not an NCI weight", reply)
    return Reading(grams, stable=not status.motion, net=status.net)


def _nci_grams(text: str) -> int | None:
    if m := _NCI_WEIGHT.fullmatch(text):
        value = _value(m["sign"], m["value"])
        return to_grams(value, m["unit"]) if value is not None else None
    if m := _NCI_LB_OZ.fullmatch(text):
        pounds, ounces = _value("", m["lb"]), _value("", m["oz"])
        if pounds is None or ounces is None:
            return None
        total = to_grams(pounds * 16 + ounces, "oz")
        return -total if total is not None and m["sign"] == "-" else total
    return None


class NciReplyDecoder:
    """Collects the bytes of one NCI reply until its ETX."""

    def __init__(self, max_reply_len: int = 64) -> None:
        self.max_reply_len = max_reply_len
        self._buf = bytearray()

    def feed(self, data: bytes) -> Decoded | None:
        """The decoded reply once its ETX came, else None (more bytes needed)."""
        self._buf += data
        end = self._buf.find(ETX)
        if end >= 0:
            reply = bytes(self._buf[:end])
            self._buf.clear()
            return parse_nci_reply(reply)
        if len(self._buf) > self.max_reply_len:
            raw = bytes(self._buf)
            self._buf.clear()
            return Unreadable(f"reply longer than {self.max_reply_len} bytes", raw)
        return None

    def pending(self) -> bytes:
        return bytes(self._buf)


class SerialScale(OwnedScale):
    """A serial parcel scale, read by its own thread (see the module docstring for frames).

    `port` is a `PortSpec` or its text form (``/dev/stationd-scale``, ``usb:067b:2303``), looked
    up again on every connect. In ``"request"`` mode the scale is asked with `request`
    (``W<CR>``) every `poll_interval_s`, and a reply is awaited for `reply_timeout_s`. Events
    carry ``source=f"serial:{name}"``.
    """

    _lost = (serial.SerialException, OSError)

    def __init__(
        self,
        name: str,
        bus: Bus,
        port: PortSpec | str,
        *,
        protocol: WireProtocol = "continuous",
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: int = 1,
        request: bytes = b"W\r",
        poll_interval_s: float = 0.2,
        reply_timeout_s: float = 1.0,
        silence_timeout_s: float = 3.0,
        reconnect_max_s: float = 5.0,
        read_timeout_s: float = 0.05,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        if baudrate <= 0:
            raise ValueError(f"baudrate must be positive, not {baudrate}")
        if bytesize not in _BYTESIZES:
            raise ValueError(f"bytesize must be 7 or 8, not {bytesize!r}")
        if parity.upper() not in _PARITIES:
            raise ValueError(f"parity must be one of N, E, O, M, S, not {parity!r}")
        if stopbits not in _STOPBITS:
            raise ValueError(f"stopbits must be 1 or 2, not {stopbits!r}")
        if not request:
            raise ValueError("request must not be empty")
        if not 0 < read_timeout_s <= 1:
            raise ValueError(f"read_timeout_s must be in (0, 1], not {read_timeout_s}")
        if poll_interval_s < 0:
            raise ValueError(f"poll_interval_s must be ≥ 0, not {poll_interval_s}")
        if reply_timeout_s < read_timeout_s:
            raise ValueError("reply_timeout_s must be at least read_timeout_s")
        if silence_timeout_s <= reply_timeout_s + poll_interval_s:
            raise ValueError("silence_timeout_s must be longer than one request and its reply")
        self.port = port if isinstance(port, PortSpec) else PortSpec.parse(port)
        self.protocol = protocol
        self.request = bytes(request)
        self.poll_interval_s = poll_interval_s
        self.reply_timeout_s = reply_timeout_s
        self.silence_timeout_s = silence_timeout_s
        self._serial_settings = {
            "baudrate": baudrate,
            "bytesize": _BYTESIZES[bytesize],
            "parity": _PARITIES[parity.upper()],
            "stopbits": _STOPBITS[stopbits],
            "timeout": read_timeout_s,
            "write_timeout": max(1.0, reply_timeout_s),
        }
        self._heard_at = 0.0
        super().__init__(name, bus, reconnect_max_s=reconnect_max_s)

    @property
    def source(self) -> str:
        """The name events carry: ``serial:<name>``."""
        return f"serial:{self.name}"

    def _where(self) -> str:
        return str(self.port)

    def _open(self) -> tuple[serial.Serial, str]:
        return open_serial(self.port, **self._serial_settings)

    def _close(self, handle: Any) -> None:
        try:
            handle.close()
        except (serial.SerialException, OSError) as exc:
            # Closing a port whose device is gone can fail; it is closed for us either way.
            log.debug("closing %s: %s", handle.port, exc)

    def _serve(self, handle: Any) -> None:
        self._heard_at = time.monotonic()
        if self.protocol == "continuous":
            self._serve_continuous(handle)
        else:
            self._serve_requests(handle)

    def _serve_continuous(self, ser: serial.Serial) -> None:
        decoder = ContinuousDecoder()
        while not self._stop.is_set():
            # Blocks until the first byte (or the read timeout), then takes what else is there.
            data = ser.read(ser.in_waiting or 1)
            now = time.monotonic()
            if data:
                wire_log.debug("%s <- %r", self.name, data)
                results = decoder.feed(data, now)
            else:
                results = decoder.expire(now)
            for decoded in results:
                self._take(decoded, now)
            self._check_silence(now)

    def _serve_requests(self, ser: serial.Serial) -> None:
        while not self._stop.is_set():
            # A late reply to the last request must not be taken for the answer to this one.
            if stale := ser.read(ser.in_waiting):
                wire_log.debug("%s <- %r (stale, dropped)", self.name, stale)
            wire_log.debug("%s -> %r", self.name, self.request)
            ser.write(self.request)
            decoded = self._await_reply(ser)
            now = time.monotonic()
            if decoded is not None:
                self._take(decoded, now)
            self._check_silence(now)
            self._stop.wait(self.poll_interval_s)

    def _await_reply(self, ser: serial.Serial) -> Decoded | None:
        decoder = NciReplyDecoder()
        deadline = time.monotonic() + self.reply_timeout_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            data = ser.read(ser.in_waiting or 1)
            if data:
                wire_log.debug("%s <- %r", self.name, data)
                decoded = decoder.feed(data)
                if decoded is not None:
                    return decoded
        if self._stop.is_set():
            return None
        if decoder.pending():
            return Unreadable(
                f"reply not ended within {self.reply_timeout_s:g} s", decoder.pending()
            )
        log.debug("scale %s: no reply within %g s", self.name, self.reply_timeout_s)
        return None

    def _take(self, decoded: Decoded, now: float) -> None:
        if not isinstance(decoded, Unreadable):
            self._heard_at = now
            if self._state == ScaleState.SILENT:
                self._set_state(ScaleState.CONNECTED, str(self.port))
        self._tracker.update(decoded)

    def _check_silence(self, now: float) -> None:
        if self._state == ScaleState.CONNECTED and now - self._heard_at > self.silence_timeout_s:
            self._tracker.clear()
            self._set_state(
                ScaleState.SILENT,
                f"no readable weight for {self.silence_timeout_s:g} s: is the scale on, "
                f"and set to {self.protocol} output at {self._serial_settings['baudrate']} baud?",
            )
