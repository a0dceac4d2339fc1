"""From key events to scans: `KeyFrameDecoder` turns the key presses of a scanner in USB
keyboard mode, typed for its layout (`keymaps`), into the same `Frame` / `Rejected` results as
the serial `FrameDecoder` gives. Pure: no I/O, no evdev import."""

from __future__ import annotations

import logging
import math
import unicodedata

from stationd.core.text import sentence
from stationd.devices.scanners.frames import ExpiringDecoder, Frame, FrameDecoder, Rejected
from stationd.devices.scanners.keymaps import (
    CTRL_POSITIONAL,
    CTRL_SHIFT_POSITIONAL,
    CTRLS,
    IGNORED_KEYS,
    KEY_CAPSLOCK,
    KEY_LEFTALT,
    KEY_RIGHTALT,
    KEYPAD_DIGITS,
    METAS,
    MODIFIER_KEYS,
    PRESS,
    REPEAT,
    SHIFTS,
    SPACING,
    TERMINATOR_KEYS,
    Keymap,
    get_keymap,
    is_dead,
    key_name,
)

log = logging.getLogger(__name__)


class KeyFrameDecoder(ExpiringDecoder):
    """Incremental decoder from key events (code, value) to `Frame` / `Rejected`.

    The framing rules are those of the serial `FrameDecoder` (which this class uses for them):
    ``strip_prefix`` / ``strip_suffix``, AIM identifiers with ``aim_ids``, ``max_frame_len``
    (in UTF-8 bytes), and only GS, RS and EOT among the control characters. On top of that:

    * Enter, keypad Enter and Tab end a scan (so do Ctrl+M and Ctrl+J); modifiers and key-up
      events only change state; auto-repeat events are ignored (a scanner never holds a key).
    * A key that gives no character in the layout (F5, Backspace, AltGr+letter…) spoils the
      scan it is in: the whole scan is rejected at its end, naming the key — never cut short
      and read as a shorter code.
    * ``frame_timeout_s`` bounds the silence between key events of one scan: a scan that has
      not ended by then is rejected as unterminated, so it never merges with the next one.

    `feed`, `expire` and `flush` never raise, whatever the events. Not thread-safe: it belongs
    to the thread that reads the device.
    """

    def __init__(
        self,
        layout: str | Keymap = "us",
        *,
        strip_prefix: bytes | str = b"",
        strip_suffix: bytes | str = b"",
        aim_ids: bool = True,
        max_frame_len: int = 256,
        frame_timeout_s: float = 0.2,
    ) -> None:
        if not frame_timeout_s > 0:
            raise ValueError(f"frame_timeout_s must be more than 0, not {frame_timeout_s}")
        self.keymap = get_keymap(layout)
        self.frame_timeout_s = frame_timeout_s
        # The timeout is kept here, where modifier and dead-key events count as activity too;
        # the inner decoder only frames the text.
        self._frames = FrameDecoder(
            suffix="lf",
            strip_prefix=strip_prefix,
            strip_suffix=strip_suffix,
            aim_ids=aim_ids,
            max_frame_len=max_frame_len,
            frame_timeout_s=math.inf,
        )
        self._raw_limit = 4 * max_frame_len
        self._held: set[int] = set()
        self._caps = False
        self._dead: str | None = None
        self._altcode: str | None = None
        self._spoiled: str | None = None  # why the scan under way will be rejected
        self._spoiled_raw = bytearray()
        self._spoiled_silent = False  # already reported (over-long): swallow to its end
        self._last_at: float | None = None

    @property
    def pending(self) -> bytes:
        """The partial scan so far, for diagnostics."""
        if self._spoiled is not None:
            return bytes(self._spoiled_raw)
        dead = SPACING[self._dead].encode() if self._dead else b""
        return self._frames.pending + dead

    @property
    def deadline(self) -> float | None:
        """The time after which `expire` drops the partial scan, or None when there is none."""
        if self._last_at is None or not self._has_partial():
            return None
        return self._last_at + self.frame_timeout_s

    def feed(self, code: int, value: int, now: float) -> list[Frame | Rejected]:
        """Take one key event (an EV_KEY code and value: 1 down, 0 up, 2 repeat) at `now`."""
        out: list[Frame | Rejected] = []
        try:
            if self._last_at is not None and now - self._last_at > self.frame_timeout_s:
                out.extend(self.expire(now))
            self._key(code, value, now, out)
        except Exception:  # a bug here must cost one scan, never the reader thread
            log.exception("key decoder failed on key %s value %s; dropping the scan", code, value)
            self._reset()
        return out

    def flush(self, reason: str) -> list[Rejected]:
        """Drop the partial scan now (say, the device went away), rejected with `reason`."""
        if self._spoiled is not None:
            out = (
                [] if self._spoiled_silent else [Rejected(self._spoiled, bytes(self._spoiled_raw))]
            )
            self._frames.flush(reason)
        else:
            raw = self.pending
            discarding = self._frames.deadline is not None and not self._frames.pending
            out = self._frames.flush(reason)
            if not out and raw and not discarding:
                out = [Rejected(reason, raw)]  # only a dead key was typed
        self._reset()
        return out

    # -- internals

    def _reset(self) -> None:
        self._frames.flush("")
        self._dead = None
        self._altcode = None
        self._spoiled = None
        self._spoiled_raw.clear()
        self._spoiled_silent = False

    def _has_partial(self) -> bool:
        return bool(
            self._spoiled is not None
            or self._dead
            or self._altcode
            or self._frames.deadline is not None  # text, or the rest of an over-long scan
        )

    def _key(self, code: int, value: int, now: float, out: list[Frame | Rejected]) -> None:
        if value == REPEAT:
            return
        self._last_at = now
        if code in MODIFIER_KEYS:
            if value == PRESS:
                self._held.add(code)
            else:
                self._held.discard(code)
                if self._is_alt_key(code) and self._altcode is not None:
                    self._end_altcode(out, now)
            return
        if value != PRESS or code in IGNORED_KEYS:
            return
        if code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return
        if code in TERMINATOR_KEYS:
            self._terminate(out, now)
            return
        ctrl = bool(self._held & CTRLS)
        left_alt = KEY_LEFTALT in self._held
        right_alt = KEY_RIGHTALT in self._held
        altgr = self.keymap.has_altgr and (right_alt or (ctrl and left_alt))
        alt = (left_alt or (right_alt and not self.keymap.has_altgr)) and not ctrl
        shift = bool(self._held & SHIFTS)
        if self._held & METAS:
            self._spoil(
                sentence("unsupported key combination {combo}", combo=f"Meta+{key_name(code)}"),
                code,
                now,
            )
        elif altgr:
            self._char(code, shift=shift, altgr=True, out=out, now=now)
        elif ctrl:
            self._control(code, shift, out, now)
        elif alt:
            if code in KEYPAD_DIGITS:
                self._altcode = (self._altcode or "") + KEYPAD_DIGITS[code]
            else:
                self._spoil(
                    sentence("unsupported key combination {combo}", combo=f"Alt+{key_name(code)}"),
                    code,
                    now,
                )
        else:
            if self._caps and self.keymap.is_alphabetic(code):
                shift = not shift
            self._char(code, shift=shift, altgr=False, out=out, now=now)

    def _is_alt_key(self, code: int) -> bool:
        return code == KEY_LEFTALT or (code == KEY_RIGHTALT and not self.keymap.has_altgr)

    def _char(
        self, code: int, *, shift: bool, altgr: bool, out: list[Frame | Rejected], now: float
    ) -> None:
        ch = self.keymap.char(code, shift=shift, altgr=altgr)
        if ch is None:
            level = ("AltGr+" if altgr else "") + ("Shift+" if shift else "")
            self._spoil(
                sentence(
                    "key {key} has no character in layout {layout}",
                    key=f"{level}{key_name(code)}",
                    layout=self.keymap.name,
                ),
                code,
                now,
            )
            return
        if is_dead(ch):
            if self._dead is not None:
                self._text(SPACING[self._dead], out, now)
            self._dead = ch
            return
        if self._dead is not None:
            dead, self._dead = self._dead, None
            if ch == " ":
                ch = SPACING[dead]
            else:
                composed = unicodedata.normalize("NFC", ch + dead)
                ch = composed if len(composed) == 1 else SPACING[dead] + ch
        self._text(ch, out, now)

    def _control(self, code: int, shift: bool, out: list[Frame | Rejected], now: float) -> None:
        ch: str | None
        if shift:
            ch = CTRL_SHIFT_POSITIONAL.get(code)
        else:
            ch = CTRL_POSITIONAL.get(code)
            if ch is None:
                letter = self.keymap.char(code)
                if letter is not None and len(letter) == 1 and "a" <= letter <= "z":
                    ch = chr(ord(letter) - 0x60)
        if ch is None:
            combo = "Ctrl+Shift+" if shift else "Ctrl+"
            self._spoil(
                sentence("unsupported key combination {combo}", combo=f"{combo}{key_name(code)}"),
                code,
                now,
            )
        elif ch in "\r\n":
            self._terminate(out, now)
        else:
            self._text(ch, out, now)

    def _end_altcode(self, out: list[Frame | Rejected], now: float) -> None:
        digits, self._altcode = self._altcode or "", None
        value = int(digits) if digits else 0
        ch = None
        if 0 < value < 256:
            try:
                ch = bytes([value]).decode("cp1252" if digits.startswith("0") else "cp437")
            except UnicodeDecodeError:
                ch = None
        if ch is None:
            self._spoil(
                sentence("{keys} is not a character", keys=f"Alt+{digits}"), KEY_LEFTALT, now
            )
        elif ch in "\r\n":
            self._terminate(out, now)
        else:
            self._text(ch, out, now)

    def _text(self, text: str, out: list[Frame | Rejected], now: float) -> None:
        if self._spoiled is not None:
            self._add_raw(text.encode("utf-8"))
            return
        out.extend(self._frames.feed(text.encode("utf-8"), now))

    def _terminate(self, out: list[Frame | Rejected], now: float) -> None:
        if self._dead is not None:
            self._text(SPACING[self._dead], out, now)
            self._dead = None
        if self._altcode is not None:
            self._end_altcode(out, now)
        if self._spoiled is not None:
            if not self._spoiled_silent:
                out.append(Rejected(self._spoiled, bytes(self._spoiled_raw)))
            self._reset()
            return
        out.extend(self._frames.feed(b"\n", now))

    def _spoil(self, reason: str, code: int, now: float) -> None:
        if self._spoiled is None:
            # An over-long scan already reported by the inner decoder: no second rejection.
            already = self._frames.deadline is not None and not self._frames.pending
            self._spoiled_raw[:] = self.pending
            self._spoiled = reason
            self._spoiled_silent = already
            self._dead = None
            self._frames.flush("")
        self._add_raw(f"<{key_name(code)}>".encode())

    def _add_raw(self, data: bytes) -> None:
        room = self._raw_limit - len(self._spoiled_raw)
        if room > 0:
            self._spoiled_raw += data[:room]
