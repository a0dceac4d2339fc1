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

Enter, keypad Enter and Tab end a scan. `key_frames.KeyFrameDecoder` turns key events into the
same `Frame` / `Rejected` the serial `FrameDecoder` makes, and uses it for the framing rules.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

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
SHIFTS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
CTRLS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL})
METAS = frozenset({KEY_LEFTMETA, KEY_RIGHTMETA})
MODIFIER_KEYS = SHIFTS | CTRLS | METAS | {KEY_LEFTALT, KEY_RIGHTALT}
IGNORED_KEYS = frozenset({KEY_NUMLOCK, KEY_SCROLLLOCK})  # sent by some scanners before Alt codes
KEYPAD_DIGITS = {
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
    {*KEYPAD_DIGITS, KEY_KPDOT, KEY_KPMINUS, KEY_KPPLUS, KEY_KPASTERISK, KEY_KPSLASH}
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
SPACING = {
    DEAD_ACUTE: "´",
    DEAD_GRAVE: "`",
    DEAD_CIRCUMFLEX: "^",
    DEAD_TILDE: "~",
    DEAD_DIAERESIS: "¨",
}


def is_dead(char: str | None) -> bool:
    """True when a table entry is a dead key (a combining accent waiting for the next key)."""
    return char is not None and char in SPACING


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
        dead = next((d for d, spacing in SPACING.items() if spacing == ch), None)
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
CTRL_POSITIONAL = {KEY_LEFTBRACE: "\x1b", KEY_BACKSLASH: "\x1c", KEY_RIGHTBRACE: "\x1d"}
CTRL_SHIFT_POSITIONAL = {KEY_6: "\x1e", KEY_MINUS: "\x1f"}
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
    for code, digit in KEYPAD_DIGITS.items():
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
        return SPACING[ch] if is_dead(ch) else ch

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
