"""Keyboard-mode scanners: Linux key codes to text, with the *scanner's* keyboard layout.

A scanner in USB keyboard mode types each code as key presses for the layout it was set up for
(the ``Country/Keyboard`` setting in its manual). The key codes only say which key went down;
the character depends on the layout. The Nordic and German layouts put ``- + / _ ' * : ; < >``
and the digits' shifted symbols on other keys than the US layout, so decoding with the wrong
layout garbles every scan (``12-34`` arrives as ``12/34`` or ``12ß34``). The tables here are the
scanner's layout, never the desktop's: the station translates key codes itself.

This module is pure: no I/O, no evdev import. Key codes are those of
``linux/input-event-codes.h`` (a stable kernel ABI), the same numbers as ``evdev.ecodes.KEY_*``.

Layouts: ``us``, ``se``, ``no``, ``dk``, ``de`` as XKB (and Windows) define them, with dead keys,
and ``se-nodeadkeys``, ``no-nodeadkeys``, ``dk-nodeadkeys``, ``de-nodeadkeys`` for scanners set
to a layout without dead keys. Levels: plain, Shift, and AltGr (right Alt, or Ctrl+Alt as on
Windows) for the characters a scanner sends with AltGr (``@ £ $ € { [ ] } \\ | ~ µ``). Dead keys
work as on Windows, which is what scanner firmware imitates: dead key + space gives the accent
itself (``^`` on the Nordic layouts is Shift+``¨`` then Space), dead key + letter gives the
accented letter, dead key + anything else gives the accent and then that character.

Control characters (GS1's FNC1 is GS, 0x1D), two forms:

* **Ctrl + key**, as Windows layouts produce them: Ctrl+letter gives 0x01…0x1A by the layout's
  letter (Ctrl+D is EOT), and Ctrl+``[`` ``\\`` ``]`` give ESC, FS, **GS** by the key at the US
  ``[ \\ ]`` position in every layout (KEY_LEFTBRACE, KEY_BACKSLASH, KEY_RIGHTBRACE: on a German
  keyboard GS is Strg + ``+``, on a Swedish one Ctrl + ``¨``); Ctrl+Shift+6 is RS, Ctrl+Shift+``-``
  US. This is the "Control + ASCII" keyboard-wedge mode of Honeywell, Zebra and Datalogic
  scanners.
* **Alt + numeric-keypad code** (``Alt+0029`` for GS): digits typed on the keypad while Alt is
  held give one character when Alt is let go; a leading 0 means Windows-1252, else code page 437,
  as on Windows.

Enter, keypad Enter and Tab end a scan. `KeyFrameDecoder` turns key events into the same
`Frame` / `Rejected` the serial `FrameDecoder` makes, and uses it for the framing rules.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from stationd.core.text import sentence
from stationd.devices.scanners.frames import ExpiringDecoder, Frame, FrameDecoder, Rejected

log = logging.getLogger(__name__)

# --- Linux key codes (linux/input-event-codes.h) ---------------------------------------------
KEY_ESC = 1
KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9, KEY_0 = range(2, 12)
KEY_MINUS = 12
KEY_EQUAL = 13
KEY_BACKSPACE = 14
KEY_TAB = 15
KEY_Q, KEY_W, KEY_E, KEY_R, KEY_T, KEY_Y, KEY_U, KEY_I, KEY_O, KEY_P = range(16, 26)
KEY_LEFTBRACE = 26
KEY_RIGHTBRACE = 27
KEY_ENTER = 28
KEY_LEFTCTRL = 29
KEY_A, KEY_S, KEY_D, KEY_F, KEY_G, KEY_H, KEY_J, KEY_K, KEY_L = range(30, 39)
KEY_SEMICOLON = 39
KEY_APOSTROPHE = 40
KEY_GRAVE = 41
KEY_LEFTSHIFT = 42
KEY_BACKSLASH = 43
KEY_Z, KEY_X, KEY_C, KEY_V, KEY_B, KEY_N, KEY_M = range(44, 51)
KEY_COMMA = 51
KEY_DOT = 52
KEY_SLASH = 53
KEY_RIGHTSHIFT = 54
KEY_KPASTERISK = 55
KEY_LEFTALT = 56
KEY_SPACE = 57
KEY_CAPSLOCK = 58
KEY_F1, KEY_F2, KEY_F3, KEY_F4, KEY_F5, KEY_F6, KEY_F7, KEY_F8, KEY_F9, KEY_F10 = range(59, 69)
KEY_NUMLOCK = 69
KEY_SCROLLLOCK = 70
KEY_KP7, KEY_KP8, KEY_KP9 = 71, 72, 73
KEY_KPMINUS = 74
KEY_KP4, KEY_KP5, KEY_KP6 = 75, 76, 77
KEY_KPPLUS = 78
KEY_KP1, KEY_KP2, KEY_KP3 = 79, 80, 81
KEY_KP0 = 82
KEY_KPDOT = 83
KEY_102ND = 86  # the extra key left of Z on ISO keyboards (< > on the Nordic and German ones)
KEY_F11, KEY_F12 = 87, 88
KEY_KPENTER = 96
KEY_RIGHTCTRL = 97
KEY_KPSLASH = 98
KEY_RIGHTALT = 100
KEY_HOME, KEY_UP, KEY_PAGEUP, KEY_LEFT, KEY_RIGHT = 102, 103, 104, 105, 106
KEY_END, KEY_DOWN, KEY_PAGEDOWN, KEY_INSERT, KEY_DELETE = 107, 108, 109, 110, 111
KEY_LEFTMETA = 125
KEY_RIGHTMETA = 126

# Key event values (struct input_event.value of an EV_KEY event).
RELEASE, PRESS, REPEAT = 0, 1, 2

TERMINATOR_KEYS = frozenset({KEY_ENTER, KEY_KPENTER, KEY_TAB})
_SHIFTS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
_CTRLS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL})
_METAS = frozenset({KEY_LEFTMETA, KEY_RIGHTMETA})
MODIFIER_KEYS = _SHIFTS | _CTRLS | _METAS | {KEY_LEFTALT, KEY_RIGHTALT}
_IGNORED_KEYS = frozenset({KEY_NUMLOCK, KEY_SCROLLLOCK})  # sent by some scanners before Alt codes
_KEYPAD_DIGITS = {
    KEY_KP0: "0",
    KEY_KP1: "1",
    KEY_KP2: "2",
    KEY_KP3: "3",
    KEY_KP4: "4",
    KEY_KP5: "5",
    KEY_KP6: "6",
    KEY_KP7: "7",
    KEY_KP8: "8",
    KEY_KP9: "9",
}

_KEYPAD_KEYS = frozenset(
    {*_KEYPAD_DIGITS, KEY_KPDOT, KEY_KPMINUS, KEY_KPPLUS, KEY_KPASTERISK, KEY_KPSLASH}
)
_KEY_NAMES = {value: name for name, value in globals().items() if name.startswith("KEY_")}


def key_name(code: int) -> str:
    """``KEY_A`` for 30: the kernel's name of a key code, for messages."""
    return _KEY_NAMES.get(code, f"KEY_{code}")


# --- Dead keys --------------------------------------------------------------------------------
# In the tables a dead key is its combining character; typed on its own (dead key + space) it
# gives the spacing character, as on Windows.
DEAD_ACUTE = "\u0301"
DEAD_GRAVE = "\u0300"
DEAD_CIRCUMFLEX = "\u0302"
DEAD_TILDE = "\u0303"
DEAD_DIAERESIS = "\u0308"
_SPACING = {
    DEAD_ACUTE: "´",
    DEAD_GRAVE: "`",
    DEAD_CIRCUMFLEX: "^",
    DEAD_TILDE: "~",
    DEAD_DIAERESIS: "¨",
}


def is_dead(char: str | None) -> bool:
    """True when a table entry is a dead key (a combining accent waiting for the next key)."""
    return char is not None and char in _SPACING


# --- Layouts ----------------------------------------------------------------------------------

Levels = tuple[str | None, str | None, str | None]  # plain, Shift, AltGr


@dataclass(frozen=True, slots=True)
class Keymap:
    """One keyboard layout: for each key code the character at the plain, Shift and AltGr level.

    None means the key gives nothing at that level; a combining accent is a dead key. A layout
    without AltGr (``us``) treats right Alt as Alt.
    """

    name: str
    description: str
    keys: Mapping[int, Levels]
    has_altgr: bool
    _typing: dict[str, tuple[int, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # char -> (key, level) for `keystrokes`: the main keys before the keypad, as a scanner
        # types them, and the lowest level first.
        typing: dict[str, tuple[int, int]] = {}
        for keys in (self.keys.keys() - _KEYPAD_KEYS, self.keys.keys() & _KEYPAD_KEYS):
            for level in range(3 if self.has_altgr else 2):
                for code in sorted(keys):
                    ch = self.keys[code][level]
                    if ch is not None:
                        typing.setdefault(ch, (code, level))
        object.__setattr__(self, "_typing", typing)

    def char(self, code: int, *, shift: bool = False, altgr: bool = False) -> str | None:
        """The character (or dead key) that `code` gives at that level, or None."""
        levels = self.keys.get(code)
        if levels is None:
            return None
        if altgr:
            return levels[2] if not shift else None
        return levels[1] if shift else levels[0]

    def is_alphabetic(self, code: int) -> bool:
        """Caps Lock inverts Shift for this key (letters, å ä ö æ ø ü)."""
        levels = self.keys.get(code)
        if levels is None or levels[0] is None or levels[1] is None:
            return False
        plain, shifted = levels[0], levels[1]
        return plain.isalpha() and plain != shifted and plain.upper() == shifted

    def keystrokes(self, text: str) -> list[tuple[int, int]]:
        """The key events (code, value) a scanner set to this layout sends to type `text`.

        ``"\\n"`` is Enter; GS, RS and EOT are sent as Ctrl + key. Raises ValueError for a
        character the layout cannot type. For tests, simulations and benchmarks.
        """
        out: list[tuple[int, int]] = []
        for ch in text:
            out.extend(self._strokes_for(ch))
        return out

    def _strokes_for(self, ch: str) -> list[tuple[int, int]]:
        if ch == "\n":
            return _tap(KEY_ENTER)
        if ch in _CONTROL_STROKES:
            code, shift = _CONTROL_STROKES[ch]
            return _chord(code, KEY_LEFTCTRL, KEY_LEFTSHIFT if shift else None)
        if ch in _CTRL_LETTERS:
            letter = _CTRL_LETTERS[ch]
            found = self._find(letter)
            if found is None:
                raise ValueError(f"layout {self.name} has no key for Ctrl+{letter}")
            return _chord(found[0], KEY_LEFTCTRL)
        found = self._find(ch)
        if found is not None:
            return self._press(*found)
        dead = next((d for d, spacing in _SPACING.items() if spacing == ch), None)
        if dead is not None and (where := self._find(dead)) is not None:
            return self._press(*where) + _tap(KEY_SPACE)
        decomposed = unicodedata.normalize("NFD", ch)
        if len(decomposed) == 2:
            base, accent = decomposed
            where_dead, where_base = self._find(accent), self._find(base)
            if where_dead is not None and where_base is not None:
                return self._press(*where_dead) + self._press(*where_base)
        raise ValueError(f"layout {self.name} cannot type {ch!r}")

    def _find(self, ch: str) -> tuple[int, int] | None:
        return self._typing.get(ch)

    def _press(self, code: int, level: int) -> list[tuple[int, int]]:
        if level == 0:
            return _tap(code)
        return _chord(code, KEY_LEFTSHIFT if level == 1 else KEY_RIGHTALT)


def _tap(code: int) -> list[tuple[int, int]]:
    return [(code, PRESS), (code, RELEASE)]


def _chord(code: int, *modifiers: int | None) -> list[tuple[int, int]]:
    mods = [m for m in modifiers if m is not None]
    return [(m, PRESS) for m in mods] + _tap(code) + [(m, RELEASE) for m in reversed(mods)]


# Ctrl + key at the US position, whatever the layout (see the module docstring).
_CTRL_POSITIONAL = {KEY_LEFTBRACE: "\x1b", KEY_BACKSLASH: "\x1c", KEY_RIGHTBRACE: "\x1d"}
_CTRL_SHIFT_POSITIONAL = {KEY_6: "\x1e", KEY_MINUS: "\x1f"}
_CONTROL_STROKES = {
    "\x1b": (KEY_LEFTBRACE, False),
    "\x1c": (KEY_BACKSLASH, False),
    "\x1d": (KEY_RIGHTBRACE, False),
    "\x1e": (KEY_6, True),
    "\x1f": (KEY_MINUS, True),
}
_CTRL_LETTERS = {chr(i): chr(i + 0x60) for i in range(1, 27)}  # "\x04" -> "d"

_LETTER_KEYS = dict(
    zip(
        "qwertyuiopasdfghjklzxcvbnm",
        (
            KEY_Q,
            KEY_W,
            KEY_E,
            KEY_R,
            KEY_T,
            KEY_Y,
            KEY_U,
            KEY_I,
            KEY_O,
            KEY_P,
            KEY_A,
            KEY_S,
            KEY_D,
            KEY_F,
            KEY_G,
            KEY_H,
            KEY_J,
            KEY_K,
            KEY_L,
            KEY_Z,
            KEY_X,
            KEY_C,
            KEY_V,
            KEY_B,
            KEY_N,
            KEY_M,
        ),
        strict=True,
    )
)
_DIGIT_KEYS = (KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9, KEY_0)
_DIGITS = "1234567890"


def _keymap(
    name: str,
    description: str,
    *,
    digits_shifted: str,
    keys: Mapping[int, str],
    altgr: Mapping[int, str] | None = None,
    kp_decimal: str,
    letters: str = "qwertyuiopasdfghjklzxcvbnm",
) -> Keymap:
    """Build a layout: `keys` maps a key to its plain and shifted character (two characters);
    `letters` lists the letters in the order of the US keys (German swaps y and z)."""
    table: dict[int, list[str | None]] = {}
    for us_letter, letter in zip("qwertyuiopasdfghjklzxcvbnm", letters, strict=True):
        table[_LETTER_KEYS[us_letter]] = [letter, letter.upper(), None]
    for code, digit, shifted in zip(_DIGIT_KEYS, _DIGITS, digits_shifted, strict=True):
        table[code] = [digit, shifted, None]
    for code, pair in keys.items():
        if len(pair) != 2:
            raise ValueError(f"{name}: {key_name(code)} needs plain + shifted, got {pair!r}")
        table[code] = [pair[0], pair[1], None]
    table[KEY_SPACE] = [" ", " ", None]
    for code, digit in _KEYPAD_DIGITS.items():
        table[code] = [digit, None, None]
    for code, ch in (
        (KEY_KPDOT, kp_decimal),
        (KEY_KPMINUS, "-"),
        (KEY_KPPLUS, "+"),
        (KEY_KPASTERISK, "*"),
        (KEY_KPSLASH, "/"),
    ):
        table[code] = [ch, None, None]
    for code, ch in (altgr or {}).items():
        table[code][2] = ch
    return Keymap(
        name,
        description,
        {code: (lv[0], lv[1], lv[2]) for code, lv in table.items()},
        has_altgr=altgr is not None,
    )


def _without_dead_keys(keymap: Keymap, name: str) -> Keymap:
    """The same layout with every dead key replaced by its spacing character (XKB's
    ``nodeadkeys`` variants)."""

    def spacing(ch: str | None) -> str | None:
        return _SPACING[ch] if is_dead(ch) else ch

    keys = {
        code: (spacing(lv[0]), spacing(lv[1]), spacing(lv[2])) for code, lv in keymap.keys.items()
    }
    return Keymap(name, keymap.description + " (no dead keys)", keys, keymap.has_altgr)


# The Nordic layouts share the number row of XKB's latin(type2) and the Windows Nordic layouts.
_NORDIC_DIGITS = '!"#¤%&/()='
_NORDIC_ALTGR = {
    KEY_2: "@",
    KEY_3: "£",
    KEY_4: "$",
    KEY_7: "{",
    KEY_8: "[",
    KEY_9: "]",
    KEY_0: "}",
    KEY_E: "€",
    KEY_M: "µ",
}
_NORDIC_BOTTOM = {KEY_COMMA: ",;", KEY_DOT: ".:", KEY_SLASH: "-_", KEY_102ND: "<>"}

US = _keymap(
    "us",
    "English (US)",
    digits_shifted="!@#$%^&*()",
    keys={
        KEY_GRAVE: "`~",
        KEY_MINUS: "-_",
        KEY_EQUAL: "=+",
        KEY_LEFTBRACE: "[{",
        KEY_RIGHTBRACE: "]}",
        KEY_SEMICOLON: ";:",
        KEY_APOSTROPHE: "'\"",
        KEY_BACKSLASH: "\\|",
        KEY_102ND: "<>",
        KEY_COMMA: ",<",
        KEY_DOT: ".>",
        KEY_SLASH: "/?",
    },
    kp_decimal=".",
)

SE = _keymap(
    "se",
    "Swedish",
    digits_shifted=_NORDIC_DIGITS,
    keys={
        KEY_GRAVE: "§½",
        KEY_MINUS: "+?",
        KEY_EQUAL: DEAD_ACUTE + DEAD_GRAVE,
        KEY_LEFTBRACE: "åÅ",
        KEY_RIGHTBRACE: DEAD_DIAERESIS + DEAD_CIRCUMFLEX,
        KEY_SEMICOLON: "öÖ",
        KEY_APOSTROPHE: "äÄ",
        KEY_BACKSLASH: "'*",
        **_NORDIC_BOTTOM,
    },
    altgr={
        **_NORDIC_ALTGR,
        KEY_5: "€",
        KEY_MINUS: "\\",
        KEY_RIGHTBRACE: DEAD_TILDE,
        KEY_102ND: "|",
    },
    kp_decimal=",",
)

NO = _keymap(
    "no",
    "Norwegian",
    digits_shifted=_NORDIC_DIGITS,
    keys={
        KEY_GRAVE: "|§",
        KEY_MINUS: "+?",
        KEY_EQUAL: "\\" + DEAD_GRAVE,
        KEY_LEFTBRACE: "åÅ",
        KEY_RIGHTBRACE: DEAD_DIAERESIS + DEAD_CIRCUMFLEX,
        KEY_SEMICOLON: "øØ",
        KEY_APOSTROPHE: "æÆ",
        KEY_BACKSLASH: "'*",
        **_NORDIC_BOTTOM,
    },
    altgr={**_NORDIC_ALTGR, KEY_EQUAL: DEAD_ACUTE, KEY_RIGHTBRACE: DEAD_TILDE},
    kp_decimal=",",
)

DK = _keymap(
    "dk",
    "Danish",
    digits_shifted=_NORDIC_DIGITS,
    keys={
        KEY_GRAVE: "½§",
        KEY_MINUS: "+?",
        KEY_EQUAL: DEAD_ACUTE + DEAD_GRAVE,
        KEY_LEFTBRACE: "åÅ",
        KEY_RIGHTBRACE: DEAD_DIAERESIS + DEAD_CIRCUMFLEX,
        KEY_SEMICOLON: "æÆ",
        KEY_APOSTROPHE: "øØ",
        KEY_BACKSLASH: "'*",
        **_NORDIC_BOTTOM,
    },
    altgr={**_NORDIC_ALTGR, KEY_EQUAL: "|", KEY_RIGHTBRACE: DEAD_TILDE, KEY_102ND: "\\"},
    kp_decimal=",",
)

DE = _keymap(
    "de",
    "German",
    digits_shifted='!"§$%&/()=',
    letters="qwertzuiopasdfghjklyxcvbnm",
    keys={
        KEY_GRAVE: DEAD_CIRCUMFLEX + "°",
        KEY_MINUS: "ß?",
        KEY_EQUAL: DEAD_ACUTE + DEAD_GRAVE,
        KEY_LEFTBRACE: "üÜ",
        KEY_RIGHTBRACE: "+*",
        KEY_SEMICOLON: "öÖ",
        KEY_APOSTROPHE: "äÄ",
        KEY_BACKSLASH: "#'",
        KEY_102ND: "<>",
        KEY_COMMA: ",;",
        KEY_DOT: ".:",
        KEY_SLASH: "-_",
    },
    altgr={
        KEY_Q: "@",
        KEY_7: "{",
        KEY_8: "[",
        KEY_9: "]",
        KEY_0: "}",
        KEY_MINUS: "\\",
        KEY_RIGHTBRACE: "~",
        KEY_102ND: "|",
        KEY_E: "€",
        KEY_M: "µ",
    },
    kp_decimal=",",
)

KEYMAPS: dict[str, Keymap] = {
    km.name: km
    for km in (
        US,
        SE,
        NO,
        DK,
        DE,
        *(_without_dead_keys(base, f"{base.name}-nodeadkeys") for base in (SE, NO, DK, DE)),
    )
}
LAYOUTS: tuple[str, ...] = tuple(KEYMAPS)


def get_keymap(layout: str | Keymap) -> Keymap:
    """The `Keymap` named `layout` (``us``, ``se``, ``no``, ``dk``, ``de``, ``se-nodeadkeys``…)."""
    if isinstance(layout, Keymap):
        return layout
    try:
        return KEYMAPS[layout.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown keyboard layout {layout!r}; known: {', '.join(LAYOUTS)}"
        ) from None


def translate(
    layout: str | Keymap, code: int, *, shift: bool = False, altgr: bool = False
) -> str | None:
    """The character `code` gives in `layout` at that level (a dead key as its combining
    accent), or None when the key gives nothing there."""
    return get_keymap(layout).char(code, shift=shift, altgr=altgr)


# --- From key events to scans ----------------------------------------------------------------


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
        dead = _SPACING[self._dead].encode() if self._dead else b""
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
        if value != PRESS or code in _IGNORED_KEYS:
            return
        if code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return
        if code in TERMINATOR_KEYS:
            self._terminate(out, now)
            return
        ctrl = bool(self._held & _CTRLS)
        left_alt = KEY_LEFTALT in self._held
        right_alt = KEY_RIGHTALT in self._held
        altgr = self.keymap.has_altgr and (right_alt or (ctrl and left_alt))
        alt = (left_alt or (right_alt and not self.keymap.has_altgr)) and not ctrl
        shift = bool(self._held & _SHIFTS)
        if self._held & _METAS:
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
            if code in _KEYPAD_DIGITS:
                self._altcode = (self._altcode or "") + _KEYPAD_DIGITS[code]
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
                self._text(_SPACING[self._dead], out, now)
            self._dead = ch
            return
        if self._dead is not None:
            dead, self._dead = self._dead, None
            if ch == " ":
                ch = _SPACING[dead]
            else:
                composed = unicodedata.normalize("NFC", ch + dead)
                ch = composed if len(composed) == 1 else _SPACING[dead] + ch
        self._text(ch, out, now)

    def _control(self, code: int, shift: bool, out: list[Frame | Rejected], now: float) -> None:
        ch: str | None
        if shift:
            ch = _CTRL_SHIFT_POSITIONAL.get(code)
        else:
            ch = _CTRL_POSITIONAL.get(code)
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
            self._text(_SPACING[self._dead], out, now)
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
