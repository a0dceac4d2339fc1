"""key_frames: the key-event decoder of keyboard-mode scanners: text typed in each layout read
back, dead keys, Caps Lock, Ctrl and Alt codes for GS, rejected and unterminated scans, and
random key sequences that must never raise nor yield a scan that was not ended."""

from __future__ import annotations

import pytest
from decoder_stress import frame_may_end_at, stress_key_decoder
from evdev import ecodes
from hypothesis import given, settings
from hypothesis import strategies as st

from stationd.devices.scanners import keymaps
from stationd.devices.scanners.frames import Frame, Rejected
from stationd.devices.scanners.key_frames import KeyFrameDecoder
from stationd.devices.scanners.keymaps import LAYOUTS, get_keymap, is_dead

GS = "\x1d"


def k(name: str) -> int:
    return ecodes.ecodes[name]


def decode(
    events: list[tuple[int, int]], layout: str, step_s: float = 0.002, **kwargs: object
) -> list[Frame | Rejected]:
    decoder = KeyFrameDecoder(layout, **kwargs)  # type: ignore[arg-type]
    out: list[Frame | Rejected] = []
    for i, (code, value) in enumerate(events):
        out += decoder.feed(code, value, i * step_s)
    return out


def typed(spec: str) -> list[tuple[int, int]]:
    """Key events from a compact notation: ``S-KEY_A`` is Shift+A, ``G-`` AltGr, ``C-`` Ctrl,
    ``CS-`` Ctrl+Shift; each token is one press and release."""
    mods = {"S": "KEY_LEFTSHIFT", "G": "KEY_RIGHTALT", "C": "KEY_LEFTCTRL"}
    out: list[tuple[int, int]] = []
    for token in spec.split():
        prefix, _, key = token.rpartition("-")
        held = [k(mods[m]) for m in prefix]
        out += [(m, 1) for m in held] + [(k(key), 1), (k(key), 0)] + [(m, 0) for m in held]
    return out


# --- the decoder ------------------------------------------------------------------------------

SAMPLES = [
    "ORD-1042",
    "12-34+56/78_9",
    "]C1" + "0107310865004703" + GS + "10LOT-42" + GS + "21ABC",
    "Ab:c;d'e*f<g>h",
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("text", SAMPLES)
def test_text_typed_in_a_layout_is_read_back(layout: str, text: str) -> None:
    events = get_keymap(layout).keystrokes(text + "\n")
    frame = decode(events, layout)
    code, symbology = (text[3:], "]C1") if text.startswith("]C1") else (text, None)
    assert frame == [Frame(code, symbology)]


def test_a_scan_read_with_the_wrong_layout_is_garbled() -> None:
    events = get_keymap("se").keystrokes("12-34+56/78_9\n")
    assert decode(events, "us") == [Frame("12/34-56&78?9")]


@pytest.mark.parametrize(
    ("layout", "spec", "text"),
    [
        # Swedish: ^ is Shift + the ¨ key, then Space; ~ is AltGr + it, then Space.
        ("se", "S-KEY_RIGHTBRACE KEY_SPACE KEY_A G-KEY_RIGHTBRACE KEY_SPACE", "^a~"),
        # dead key + letter composes, dead key + other character gives both
        ("se", "KEY_EQUAL KEY_E S-KEY_RIGHTBRACE KEY_1", "é^1"),
        # German: ^ is the key left of 1, a dead key
        ("de", "KEY_GRAVE KEY_SPACE KEY_GRAVE KEY_O", "^ô"),
        # Norwegian: \ unshifted where the US = is; ´ is AltGr + it
        ("no", "KEY_EQUAL G-KEY_EQUAL KEY_SPACE KEY_GRAVE", "\\´|"),
        # Danish: | is AltGr + the ´ key, \ AltGr + <
        ("dk", "G-KEY_EQUAL G-KEY_102ND", "|\\"),
        # no dead keys: the same keys give the accents at once
        ("se-nodeadkeys", "S-KEY_RIGHTBRACE KEY_A", "^a"),
        ("de-nodeadkeys", "KEY_GRAVE KEY_O", "^o"),
    ],
)
def test_dead_keys(layout: str, spec: str, text: str) -> None:
    assert decode(typed(spec + " KEY_ENTER"), layout) == [Frame(text)]


def test_dead_key_before_enter_is_kept() -> None:
    assert decode(typed("KEY_A S-KEY_RIGHTBRACE KEY_ENTER"), "se") == [Frame("a^")]


def test_caps_lock_inverts_shift_for_letters_only() -> None:
    spec = "KEY_CAPSLOCK KEY_A S-KEY_B KEY_APOSTROPHE KEY_1 KEY_SLASH KEY_CAPSLOCK KEY_C KEY_ENTER"
    assert decode(typed(spec), "se") == [Frame("AbÄ1-c")]


@pytest.mark.parametrize("layout", ["us", "se", "no", "dk", "de"])
def test_gs_as_ctrl_right_bracket_key(layout: str) -> None:
    # GS1-128 "(01)07310865004703(10)LOT": FNC1 as Ctrl + the key at the US "]" position.
    head = get_keymap(layout).keystrokes("0107310865004703")
    tail = get_keymap(layout).keystrokes("10LOT\n")
    events = head + typed("C-KEY_RIGHTBRACE") + tail
    assert decode(events, layout) == [Frame("0107310865004703" + GS + "10LOT")]


def test_gs_as_alt_keypad_code() -> None:
    alt = k("KEY_LEFTALT")
    altcode = [(alt, 1), *typed("KEY_KP0 KEY_KP0 KEY_KP2 KEY_KP9"), (alt, 0)]
    events = typed("KEY_0 KEY_1") + altcode + typed("KEY_1 KEY_0 KEY_ENTER")
    assert decode(events, "se") == [Frame("01" + GS + "10")]
    # On the US layout right Alt is plain Alt; a code without a leading 0 is code page 437.
    ralt = k("KEY_RIGHTALT")
    events = [(ralt, 1), *typed("KEY_KP1 KEY_KP3 KEY_KP0"), (ralt, 0), *typed("KEY_ENTER")]
    assert decode(events, "us") == [Frame("é")]
    # Alt + 13 is Enter.
    events = [*typed("KEY_A"), (alt, 1), *typed("KEY_KP1 KEY_KP3"), (alt, 0)]
    assert decode(events, "us") == [Frame("a")]


def test_ctrl_letters_and_ctrl_alt_as_altgr() -> None:
    # Ctrl+D is EOT (ISO/IEC 15434), by the layout's letter; Ctrl+Alt+2 is AltGr+2 = @.
    ctrl, alt = k("KEY_LEFTCTRL"), k("KEY_LEFTALT")
    events = [*typed("C-KEY_D KEY_X"), (ctrl, 1), (alt, 1), *typed("KEY_2")]
    events += [(alt, 0), (ctrl, 0), *typed("KEY_ENTER")]
    assert decode(events, "se") == [Frame("\x04x@")]
    # German Ctrl+Z is the key the US calls Y.
    assert decode(typed("KEY_A C-KEY_Y KEY_ENTER"), "de") == [
        Rejected("unreadable bytes (control characters)", b"a\x1a")
    ]


@pytest.mark.parametrize(
    ("spec", "reason", "raw"),
    [
        ("KEY_1 KEY_2 KEY_F5 KEY_3", "key KEY_F5 has no character in layout se", b"12<KEY_F5>3"),
        ("KEY_1 KEY_BACKSPACE KEY_2", "key KEY_BACKSPACE has no character", b"1<KEY_BACKSPACE>2"),
        ("KEY_1 G-KEY_A KEY_2", "key AltGr+KEY_A has no character", b"1<KEY_A>2"),
        ("KEY_1 C-KEY_1 KEY_2", "unsupported key combination Ctrl+KEY_1", b"1<KEY_1>2"),
    ],
)
def test_a_key_without_a_character_spoils_the_whole_scan(
    spec: str, reason: str, raw: bytes
) -> None:
    # Never cut short and read as a shorter code: the scan is rejected at its end, and the
    # next scan reads as it should.
    out = decode(typed(spec + " KEY_ENTER KEY_4 KEY_ENTER"), "se")
    assert len(out) == 2
    rejected, good = out
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(reason)
    assert rejected.raw == raw
    assert good == Frame("4")


def test_unterminated_scan_is_rejected_after_the_inter_key_timeout() -> None:
    decoder = KeyFrameDecoder("us", frame_timeout_s=0.2)
    out: list[Frame | Rejected] = []
    for i, (code, value) in enumerate(typed("KEY_1 KEY_2 KEY_3")):
        out += decoder.feed(code, value, i * 0.01)
    assert out == []
    assert decoder.deadline == pytest.approx(0.05 + 0.2)
    assert decoder.expire(0.2) == []
    assert decoder.expire(0.3) == [Rejected("frame not terminated within 0.2 s", b"123")]
    # the next scan is whole, not merged with the dropped one
    for code, value in typed("KEY_4 KEY_ENTER"):
        out += decoder.feed(code, value, 1.0)
    assert out == [Frame("4")]


def test_a_late_key_expires_the_partial_scan_first() -> None:
    decoder = KeyFrameDecoder("us", frame_timeout_s=0.2)
    out = decoder.feed(k("KEY_1"), 1, 0.0)
    out += decoder.feed(k("KEY_2"), 1, 1.0)
    out += decoder.feed(k("KEY_ENTER"), 1, 1.01)
    assert out == [Rejected("frame not terminated within 0.2 s", b"1"), Frame("2")]


def test_over_long_scan_is_rejected_once() -> None:
    events = get_keymap("us").keystrokes("9" * 20) + typed("KEY_F1 KEY_ENTER KEY_5 KEY_ENTER")
    out = decode(events, "us", max_frame_len=8)
    assert out == [Rejected("frame longer than 8 bytes", b"9" * 9), Frame("5")]


def test_repeats_and_key_ups_give_nothing_and_prefix_suffix_strip() -> None:
    a = k("KEY_A")
    events = [(a, 1), (a, 2), (a, 2), (a, 0), *typed("KEY_X KEY_B KEY_Y KEY_ENTER")]
    assert decode(events, "us", strip_prefix="ax", strip_suffix="y") == [Frame("b")]


def test_flush_rejects_the_partial_scan_and_never_reads_it() -> None:
    decoder = KeyFrameDecoder("se")
    for code, value in typed("KEY_1 KEY_EQUAL"):
        decoder.feed(code, value, 0.0)
    assert decoder.pending == b"1\xc2\xb4"
    assert decoder.flush("device gone") == [Rejected("device gone", b"1")]
    assert decoder.deadline is None
    decoder.feed(k("KEY_EQUAL"), 1, 1.0)
    assert decoder.flush("device gone") == [Rejected("device gone", "´".encode())]


# --- random sequences -------------------------------------------------------------------------

_ALL_KEYS = sorted(get_keymap("us").keys) + sorted(keymaps.MODIFIER_KEYS)
_ALL_KEYS += [keymaps.KEY_CAPSLOCK, keymaps.KEY_ESC, k("KEY_F1"), k("KEY_DELETE")]
_ENDING = keymaps.TERMINATOR_KEYS | {
    keymaps.KEY_M,
    keymaps.KEY_J,
    keymaps.KEY_LEFTALT,
    keymaps.KEY_RIGHTALT,
}
_NOT_ENDING = [c for c in _ALL_KEYS if c not in _ENDING]

key_events = st.lists(
    st.tuples(st.sampled_from(_ALL_KEYS), st.sampled_from([0, 1, 1, 2]), st.floats(0, 0.5)),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(layout=st.sampled_from(LAYOUTS), events=key_events, max_len=st.integers(1, 64))
def test_random_key_events_never_raise_and_frames_only_end_at_a_terminator(
    layout: str, events: list[tuple[int, int, float]], max_len: int
) -> None:
    decoder = KeyFrameDecoder(layout, max_frame_len=max_len)
    now = 0.0
    for code, value, gap in events:
        now += gap
        for result in decoder.feed(code, value, now):
            assert isinstance(result, Frame | Rejected)
            if isinstance(result, Frame):
                assert frame_may_end_at(code, value)
                assert len(result.code.encode()) <= max_len
    assert all(isinstance(r, Rejected) for r in decoder.flush("end"))


@settings(max_examples=200, deadline=None)
@given(
    layout=st.sampled_from(LAYOUTS),
    events=st.lists(
        st.tuples(st.sampled_from(_NOT_ENDING), st.sampled_from([0, 1, 2])), max_size=60
    ),
)
def test_no_scan_without_an_ending_key(layout: str, events: list[tuple[int, int]]) -> None:
    decoder = KeyFrameDecoder(layout)
    results = []
    for i, (code, value) in enumerate(events):
        results += decoder.feed(code, value, i * 0.001)
    results += decoder.expire(1e9)
    assert not any(isinstance(r, Frame) for r in results)


def _typeable(layout: str) -> str:
    """Every character the layout types, directly or with a dead key and Space."""
    keymap = get_keymap(layout)
    chars = {c for lv in keymap.keys.values() for c in lv if c and not is_dead(c)} | set("^~`´¨")
    return "".join(sorted(c for c in chars if c != " " and _can_type(keymap, c)))


def _can_type(keymap: keymaps.Keymap, char: str) -> bool:
    try:
        keymap.keystrokes(char)
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_any_typeable_text_round_trips(data: st.DataObject, layout: str) -> None:
    text = data.draw(st.text(alphabet=_typeable(layout), min_size=1, max_size=40))
    if text.startswith("]") and len(text) >= 3:
        text = "x" + text  # an AIM id would be split off, tested elsewhere
    assert decode(get_keymap(layout).keystrokes(text + "\n"), layout) == [Frame(text)]


def test_stress_function_for_the_benchmark_finds_no_violation() -> None:
    result = stress_key_decoder(3000, seed=7)
    assert result.sequences == 3000
    assert result.violations == 0
    assert result.events > 10_000
