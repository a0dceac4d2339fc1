"""Cutting a scanner's byte stream into scans: the frame decoder.

A serial scanner sends each scan as ``[prefix][AIM id]code[suffix]<terminator>``. The
`FrameDecoder` turns such bytes, fed in whatever pieces the port hands out, into `Frame`s and
`Rejected`s. It does no I/O and keeps no thread: the caller passes in the bytes and the time, so
the same decoder serves the serial scanner, the simulated scanner's FIFO and the tests.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from stationd.core.text import sentence

log = logging.getLogger(__name__)

Suffix = Literal["auto", "cr", "lf", "crlf"]
SUFFIXES: tuple[str, ...] = ("auto", "cr", "lf", "crlf")

CR = 0x0D
LF = 0x0A

# Control characters a real code may carry. GS is FNC1 in GS1 codes (GS1-128, GS1 DataMatrix);
# RS and EOT frame ISO/IEC 15434 messages, which carrier labels (MaxiCode, PDF417) use.
ALLOWED_CONTROLS = frozenset("\x1d\x1e\x04")

# ISO/IEC 15424: "]" + symbology character + modifier character.
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")

_TERMINATORS: dict[str, re.Pattern[bytes]] = {
    "auto": re.compile(rb"[\r\n]"),
    "cr": re.compile(rb"\r"),
    "lf": re.compile(rb"\n"),
    # In "crlf" mode LF ends a frame only after a CR; the CR may have come in an earlier read.
    "crlf": re.compile(rb"\n"),
}


@dataclass(frozen=True, slots=True)
class Frame:
    """One scan: the code as text and its AIM symbology identifier (``]E0``), if it had one."""

    code: str
    symbology: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes that were not a scan, with the reason in words a person reads."""

    reason: str
    raw: bytes


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _is_unreadable(ch: str) -> bool:
    # C0 controls, DEL and the C1 controls: what a wrong baud rate or line noise produces.
    return (ch < " " and ch not in ALLOWED_CONTROLS) or "\x7f" <= ch <= "\x9f"


def _seconds(value: float) -> str:
    return f"{value:g} s"


class ExpiringDecoder:
    """What every scan decoder shares: an unfinished scan whose next piece is late is rejected.

    A subclass keeps `frame_timeout_s`, says when its scan is due (`deadline`), how to drop it
    (`flush`), and may word the rejection (`EXPIRED`, with `{timeout}`).
    """

    EXPIRED = "frame not terminated within {timeout}"
    frame_timeout_s: float

    @property
    def deadline(self) -> float | None:  # pragma: no cover - every decoder defines it
        raise NotImplementedError

    def flush(self, reason: str) -> list[Rejected]:  # pragma: no cover - likewise
        raise NotImplementedError

    def expire(self, now: float) -> list[Rejected]:
        """Reject the unfinished scan if its next piece did not come within the timeout."""
        deadline = self.deadline
        if deadline is None or now <= deadline:
            return []
        return self.flush(self.EXPIRED.format(timeout=_seconds(self.frame_timeout_s)))


class FrameDecoder(ExpiringDecoder):
    """Incremental decoder from scanner bytes to `Frame` / `Rejected`.

    Framing:

    * ``suffix`` names the terminator: ``"cr"``, ``"lf"``, ``"crlf"`` (a lone CR or LF is then
      data, and so rejected as a control character), or ``"auto"``, which ends a frame at CR or
      at LF, so CR, LF and CRLF all work. A bare terminator (the LF of a CRLF in ``"auto"``, an
      empty line) is not a scan and is dropped silently.
    * ``strip_prefix`` / ``strip_suffix`` are removed when the frame starts / ends with them (a
      frame without them is kept as is). The order is prefix, AIM id, code, suffix, as
      scanners send it.
    * With ``aim_ids`` a leading AIM identifier (``]`` + symbology letter + modifier, e.g.
      ``]E0`` EAN-13, ``]C1`` GS1-128, ``]d2`` GS1 DataMatrix, ``]Q3`` QR) goes into
      `Frame.symbology`; without it the identifier stays in the code.
    * A frame longer than ``max_frame_len`` bytes is rejected as soon as it is too long, and
      the rest of it is discarded up to the next terminator.
    * ``frame_timeout_s`` bounds the silence *between bytes* of one frame: a partial frame that
      has seen no byte for longer is rejected (by `expire`, or by the next `feed`), so it never
      merges with the next scan. Measuring from the last byte rather than the first means a long
      2D code at 9600 baud (about 1 ms per byte) is never cut off while it is still arriving.

    Text: a frame is decoded as UTF-8 when it is valid UTF-8, else as Latin-1 (every byte is a
    character then, so decoding never fails). A frame that holds control characters other than
    GS (FNC1), RS and EOT (ISO/IEC 15434), or C1 controls, is rejected as unreadable; GS stays
    in the code because GS1 codes need it.

    `feed` and `expire` never raise, whatever the bytes. The decoder is not thread-safe: it
    belongs to the one thread that reads the device.
    """

    def __init__(
        self,
        suffix: Suffix = "auto",
        strip_prefix: bytes | str = b"",
        strip_suffix: bytes | str = b"",
        aim_ids: bool = True,
        max_frame_len: int = 256,
        frame_timeout_s: float = 0.2,
    ) -> None:
        if suffix not in SUFFIXES:
            raise ValueError(f"suffix must be one of {', '.join(SUFFIXES)}, not {suffix!r}")
        if max_frame_len < 1:
            raise ValueError(f"max_frame_len must be at least 1, not {max_frame_len}")
        if not frame_timeout_s > 0:
            raise ValueError(f"frame_timeout_s must be more than 0, not {frame_timeout_s}")
        self.suffix: str = suffix
        self.strip_prefix = _as_bytes(strip_prefix)
        self.strip_suffix = _as_bytes(strip_suffix)
        self.aim_ids = aim_ids
        self.max_frame_len = max_frame_len
        self.frame_timeout_s = frame_timeout_s
        self._terminator = _TERMINATORS[suffix]
        # In "crlf" mode the CR sits in the buffer until its LF comes, one byte over the limit.
        self._limit = max_frame_len + (1 if suffix == "crlf" else 0)
        self._buf = bytearray()
        self._discarding = False  # inside an over-long frame, already reported
        self._last_at: float | None = None

    @property
    def pending(self) -> bytes:
        """The bytes of the partial frame received so far (for diagnostics)."""
        return bytes(self._buf)

    @property
    def deadline(self) -> float | None:
        """The time after which `expire` drops the partial frame, or None when there is none."""
        if self._last_at is None or not (self._buf or self._discarding):
            return None
        return self._last_at + self.frame_timeout_s

    def feed(self, data: bytes, now: float) -> list[Frame | Rejected]:
        """Take the bytes read at time `now` (monotonic seconds); return what they complete."""
        out: list[Frame | Rejected] = []
        try:
            out.extend(self.expire(now))
            if not data:
                return out
            self._last_at = now
            view = bytes(data)
            pos = 0
            while True:
                match = self._terminator.search(view, pos)
                end = match.start() if match else len(view)
                self._append(view[pos:end], out)
                if match is None:
                    break
                self._terminate(out)
                pos = match.end()
        except Exception:  # a bug here must cost one scan, never the reader thread
            log.exception("frame decoder failed on %r; dropping the partial frame", data)
            self._reset()
        return out

    def flush(self, reason: str) -> list[Rejected]:
        """Drop the partial frame now (say, the device went away), rejected with `reason`."""
        raw = bytes(self._buf)
        reported = self._discarding
        self._reset()
        if not raw or reported:
            return []
        return [Rejected(reason, raw)]

    def _reset(self) -> None:
        self._buf.clear()
        self._discarding = False

    def _append(self, chunk: bytes, out: list[Frame | Rejected]) -> None:
        if self._discarding or not chunk:
            return
        self._buf += chunk
        if len(self._buf) > self._limit:
            out.append(
                Rejected(
                    sentence("frame longer than {num} bytes", num=self.max_frame_len),
                    bytes(self._buf[: self.max_frame_len + 1]),
                )
            )
            self._buf.clear()
            self._discarding = True

    def _terminate(self, out: list[Frame | Rejected]) -> None:
        if self._discarding:
            self._reset()
            return
        if self.suffix == "crlf":
            if not self._buf.endswith(b"\r"):
                # A lone LF is data in this mode; it makes the frame unreadable later.
                self._append(b"\n", out)
                return
            del self._buf[-1]
        raw = bytes(self._buf)
        self._buf.clear()
        if raw:
            out.append(self._decode(raw))

    def _decode(self, raw: bytes) -> Frame | Rejected:
        body = raw
        if self.strip_prefix and body.startswith(self.strip_prefix):
            body = body[len(self.strip_prefix) :]
        if self.strip_suffix and body.endswith(self.strip_suffix):
            body = body[: -len(self.strip_suffix)]
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("latin-1")
        symbology = None
        if self.aim_ids and _AIM_ID.match(text):
            symbology, text = text[:3], text[3:]
        if any(_is_unreadable(ch) for ch in text):
            return Rejected(sentence("unreadable bytes (control characters)"), raw)
        if not text:
            return Rejected(sentence("empty code"), raw)
        return Frame(text, symbology)
