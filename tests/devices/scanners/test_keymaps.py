"""keymaps: the keyboard layouts of keyboard-mode scanners.

The layout tables are checked against an independent source: libxkbcommon compiling the XKB
layouts of this machine (xkb-data), the layouts a Linux desktop itself uses.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator

import evdev
import pytest
from evdev import ecodes

from stationd.devices.scanners import keymaps
from stationd.devices.scanners.keymaps import (
    KEYMAPS,
    LAYOUTS,
    PRESS,
    RELEASE,
    REPEAT,
    get_keymap,
    is_dead,
    translate,
)


def k(name: str) -> int:
    return ecodes.ecodes[name]


# --- the key codes are the kernel's -----------------------------------------------------------


def test_key_codes_are_the_kernels() -> None:
    names = [
        n for n in dir(keymaps) if n.startswith("KEY_") and isinstance(getattr(keymaps, n), int)
    ]
    assert len(names) >= 80
    for name in names:
        assert getattr(keymaps, name) == ecodes.ecodes[name], name
    assert (
        evdev.KeyEvent.key_up,
        evdev.KeyEvent.key_down,
        evdev.KeyEvent.key_hold,
    ) == (RELEASE, PRESS, REPEAT)
    assert keymaps.key_name(k("KEY_RIGHTBRACE")) == "KEY_RIGHTBRACE"


# --- the layouts against libxkbcommon ---------------------------------------------------------


class _RuleNames(ctypes.Structure):
    _fields_ = [(f, ctypes.c_char_p) for f in ("rules", "model", "layout", "variant", "options")]


class Xkb:
    """libxkbcommon through ctypes: compiles an XKB layout and says what a key gives."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        vp = ctypes.c_void_p
        lib.xkb_context_new.restype = vp
        lib.xkb_context_new.argtypes = [ctypes.c_int]
        lib.xkb_keymap_new_from_names.restype = vp
        lib.xkb_keymap_new_from_names.argtypes = [vp, ctypes.POINTER(_RuleNames), ctypes.c_int]
        lib.xkb_keymap_mod_get_index.restype = ctypes.c_uint32
        lib.xkb_keymap_mod_get_index.argtypes = [vp, ctypes.c_char_p]
        lib.xkb_state_new.restype = vp
        lib.xkb_state_new.argtypes = [vp]
        lib.xkb_state_unref.argtypes = [vp]
        lib.xkb_state_update_key.argtypes = [vp, ctypes.c_uint32, ctypes.c_int]
        lib.xkb_state_update_mask.argtypes = [vp] + [ctypes.c_uint32] * 6
        lib.xkb_state_key_get_utf8.argtypes = [
            vp,
            ctypes.c_uint32,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        lib.xkb_state_key_get_one_sym.restype = ctypes.c_uint32
        lib.xkb_state_key_get_one_sym.argtypes = [vp, ctypes.c_uint32]
        lib.xkb_keysym_get_name.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
        self.ctx = lib.xkb_context_new(0)
        if not self.ctx:
            raise OSError("xkb_context_new failed")

    def keymap(self, layout: str, variant: str = "") -> int:
        names = _RuleNames(b"evdev", b"pc105", layout.encode(), variant.encode(), b"")
        keymap = self.lib.xkb_keymap_new_from_names(self.ctx, ctypes.byref(names), 0)
        if not keymap:
            raise OSError(f"XKB cannot compile {layout}({variant})")
        return keymap

    def key(self, keymap: int, code: int, *held: int, numlock: bool = False) -> tuple[str, str]:
        """(UTF-8 text, keysym name) of evdev key `code` with keys `held` down."""
        state = self.lib.xkb_state_new(keymap)
        try:
            if numlock:
                mod2 = self.lib.xkb_keymap_mod_get_index(keymap, b"Mod2")
                self.lib.xkb_state_update_mask(state, 0, 0, 1 << mod2, 0, 0, 0)
            for h in held:
                self.lib.xkb_state_update_key(state, h + 8, 1)  # XKB keycode = evdev + 8
            text = ctypes.create_string_buffer(64)
            self.lib.xkb_state_key_get_utf8(state, code + 8, text, 64)
            sym = self.lib.xkb_state_key_get_one_sym(state, code + 8)
            name = ctypes.create_string_buffer(64)
            self.lib.xkb_keysym_get_name(sym, name, 64)
            return text.value.decode(), name.value.decode()
        finally:
            self.lib.xkb_state_unref(state)


@pytest.fixture(scope="module")
def xkb() -> Iterator[Xkb]:
    path = ctypes.util.find_library("xkbcommon")
    if path is None or not os.path.isdir("/usr/share/X11/xkb/symbols"):
        pytest.skip("libxkbcommon or xkb-data is not installed: no XKB to compare with")
    yield Xkb(ctypes.CDLL(path))


_DEAD_NAMES = {
    keymaps.DEAD_ACUTE: "dead_acute",
    keymaps.DEAD_GRAVE: "dead_grave",
    keymaps.DEAD_CIRCUMFLEX: "dead_circumflex",
    keymaps.DEAD_TILDE: "dead_tilde",
    keymaps.DEAD_DIAERESIS: "dead_diaeresis",
}
_KEYPAD = {k(f"KEY_KP{d}") for d in range(10)} | {
    k(n) for n in ("KEY_KPDOT", "KEY_KPMINUS", "KEY_KPPLUS", "KEY_KPASTERISK", "KEY_KPSLASH")
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_matches_xkb(xkb: Xkb, layout: str) -> None:
    name, _, variant = layout.partition("-")
    xkb_keymap = xkb.keymap(name, variant)
    keymap = get_keymap(layout)
    shift, altgr = k("KEY_LEFTSHIFT"), k("KEY_RIGHTALT")
    compared = 0
    for code, (plain, shifted, third) in keymap.keys.items():
        if code in _KEYPAD:
            # Scanners type keypad keys with NumLock on; Shift is not used there.
            assert xkb.key(xkb_keymap, code, numlock=True)[0] == plain, keymaps.key_name(code)
            compared += 1
            continue
        wanted = [((), plain), ((shift,), shifted)]
        if third is not None:  # AltGr: only what the layout sends, but that must agree
            wanted.append(((altgr,), third))
        for held, ours in wanted:
            text, sym = xkb.key(xkb_keymap, code, *held)
            where = f"{layout} {keymaps.key_name(code)} with {held}"
            if is_dead(ours):
                assert sym == _DEAD_NAMES[ours], where  # type: ignore[index]
            else:
                assert text == ours, where
            compared += 1
    assert compared > 100


def test_the_nordic_and_german_layouts_move_the_punctuation() -> None:
    # The point of it all: the same key gives another character (what garbles scans).
    slash, minus = k("KEY_SLASH"), k("KEY_MINUS")
    assert [translate(lay, slash) for lay in ("us", "se", "no", "dk", "de")] == list("/----")
    assert [translate(lay, minus) for lay in ("us", "se", "no", "dk", "de")] == list("-+++ß")
    seven = k("KEY_7")
    assert translate("us", seven, shift=True) == "&"
    assert translate("se", seven, shift=True) == "/"
    assert translate("de", k("KEY_Y")) == "z"
    assert translate("de", k("KEY_Q"), altgr=True) == "@"
    assert translate("se", k("KEY_2"), altgr=True) == "@"
    assert translate("us", k("KEY_2"), altgr=True) is None


def test_unknown_layout_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: us, se, no, dk, de"):
        get_keymap("sv")
    assert get_keymap(" SE ") is KEYMAPS["se"]
