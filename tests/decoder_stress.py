"""Robustness harnesses for the scanners' decoders: random input, counted invariant violations.

`bench/fuzz_decoders.py` runs them with 100,000 sequences each; tests/devices/scanners checks
with a few thousand that they find nothing. They live with the tests, not in the drivers: a
station never runs them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass

from stationd.devices.scanners.frames import Frame
from stationd.devices.scanners.hidpos import (
    _CONTINUED,
    _MIN_REPORT,
    SCANNED_DATA_REPORT_ID,
    HidPosDecoder,
)
from stationd.devices.scanners.key_frames import KeyFrameDecoder
from stationd.devices.scanners.keymaps import (
    KEY_BACKSPACE,
    KEY_CAPSLOCK,
    KEY_ESC,
    KEY_J,
    KEY_LEFTALT,
    KEY_M,
    KEY_NUMLOCK,
    KEY_RIGHTALT,
    LAYOUTS,
    MODIFIER_KEYS,
    PRESS,
    RELEASE,
    REPEAT,
    TERMINATOR_KEYS,
    US,
    get_keymap,
    is_dead,
)

# --- keyboard-mode scanners: key events -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyStressResult:
    """What `stress_key_decoder` saw: counts, and the invariant violations (must be 0)."""

    sequences: int
    events: int
    frames: int
    rejected: int
    violations: int
    seconds: float


# Keys a random sequence is drawn from: every key the layouts know, modifiers, and a few they
# don't (F1, Backspace, Escape, an unassigned code).
_STRESS_KEYS = (
    sorted(US.keys)
    + sorted(MODIFIER_KEYS)
    + [KEY_CAPSLOCK, KEY_NUMLOCK, KEY_ESC, KEY_BACKSPACE, 59, 0x2FF]
)


def frame_may_end_at(code: int, value: int) -> bool:
    """Whether a key event can complete a scan: a terminator key or Ctrl+M/Ctrl+J going down,
    or Alt going up (the end of an Alt code, which may be 13 or 10)."""
    if value == PRESS:
        return code in TERMINATOR_KEYS or code in (KEY_M, KEY_J)
    return value == RELEASE and code in (KEY_LEFTALT, KEY_RIGHTALT)


def stress_key_decoder(
    sequences: int = 100_000, *, seed: int = 0, layouts: Iterable[str] = LAYOUTS
) -> KeyStressResult:
    """Feed random key-event sequences through fresh `KeyFrameDecoder`s and count violations.

    Three kinds of sequence, in turn: random key events (a `Frame` may only come from an event
    that can complete a scan, `frame_may_end_at`); random key events without any such event
    (no `Frame` at all, and what is left at the end is never one); and random text typed as
    the layout types it (exactly that text comes back). Nothing may raise. The benchmark calls
    this with 100,000 sequences.
    """
    rng = random.Random(seed)
    keymaps = [get_keymap(name) for name in layouts]
    alphabets = {
        km.name: [c for c in km._typing if c.isprintable() and c != " " and not is_dead(c)]
        for km in keymaps
    }
    ends = TERMINATOR_KEYS | {KEY_M, KEY_J, KEY_LEFTALT, KEY_RIGHTALT}
    no_end = [k for k in _STRESS_KEYS if k not in ends]
    values = (PRESS, PRESS, RELEASE, REPEAT)
    gaps = (0.001, 0.004, 0.05, 0.3)
    events = frames = rejected = violations = 0
    started = time.perf_counter()
    for i in range(sequences):
        keymap = keymaps[i % len(keymaps)]
        kind = i % 3
        text = None
        if kind == 2:
            text = "".join(rng.choices(alphabets[keymap.name], k=rng.randint(1, 20)))
            text = "x" + text if text.startswith("]") else text
            decoder = KeyFrameDecoder(keymap, max_frame_len=256)
            steps = [(c, v, 0.002) for c, v in keymap.keystrokes(text + "\n")]
        else:
            decoder = KeyFrameDecoder(keymap, max_frame_len=rng.choice((8, 64, 256)))
            n = rng.randint(0, 32)
            steps = list(
                zip(
                    rng.choices(no_end if kind == 1 else _STRESS_KEYS, k=n),
                    rng.choices(values, k=n),
                    rng.choices(gaps, k=n),
                    strict=True,
                )
            )
        got: list[Frame] = []
        now = 0.0
        for code, value, gap in steps:
            now += gap
            try:
                results = decoder.feed(code, value, now)
            except Exception:
                violations += 1
                continue
            for result in results:
                if isinstance(result, Frame):
                    got.append(result)
                    if kind == 1 or not frame_may_end_at(code, value):
                        violations += 1
                else:
                    rejected += 1
        if text is not None and got != [Frame(text)]:
            violations += 1
        frames += len(got)
        events += len(steps)
        leftovers = decoder.flush("end of sequence")
        violations += sum(isinstance(r, Frame) for r in leftovers)
        rejected += len(leftovers)
    return KeyStressResult(
        sequences, events, frames, rejected, violations, time.perf_counter() - started
    )


# --- HID POS scanners: reports ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportStressResult:
    """What `stress_report_decoder` saw: counts, and the invariant violations (must be 0)."""

    sequences: int
    reports: int
    frames: int
    rejected: int
    violations: int
    seconds: float


def stress_report_decoder(sequences: int = 100_000, *, seed: int = 0) -> ReportStressResult:
    """Feed random report byte strings through fresh `HidPosDecoder`s and count violations.

    The reports are random bytes, half of them shaped like Scanned Data Reports (report id 2,
    64 bytes) so the decoder gets past its first checks. Checks that nothing raises, that a
    `Frame` only comes from a well-formed report with the Scanned Data report id and without
    the continuation bit, and that what is left at the end is never a frame. The benchmark
    calls this with 100,000 sequences.
    """
    rng = random.Random(seed)
    reports = frames = rejected = violations = 0
    started = time.perf_counter()
    for _ in range(sequences):
        decoder = HidPosDecoder(max_frame_len=rng.choice((16, 100, 4096)))
        now = 0.0
        for _ in range(rng.randint(0, 6)):
            size = rng.choice((64, 64, 64, rng.randint(0, 80)))
            report = bytearray(rng.randbytes(size))
            if report and rng.random() < 0.6:
                report[0] = SCANNED_DATA_REPORT_ID
                if len(report) > 1 and rng.random() < 0.7:
                    report[1] = rng.randint(0, max(0, len(report) - _MIN_REPORT))
            now += rng.choice((0.001, 0.01, 0.5))
            reports += 1
            try:
                results = decoder.feed(bytes(report), now)
            except Exception:
                violations += 1
                continue
            final = (
                len(report) >= _MIN_REPORT
                and report[0] == SCANNED_DATA_REPORT_ID
                and not report[-1] & _CONTINUED
                and report[1] <= len(report) - _MIN_REPORT
            )
            for result in results:
                if isinstance(result, Frame):
                    frames += 1
                    violations += not final
                else:
                    rejected += 1
        leftovers = decoder.flush("end of sequence")
        violations += sum(isinstance(r, Frame) for r in leftovers)
        rejected += len(leftovers)
    return ReportStressResult(
        sequences, reports, frames, rejected, violations, time.perf_counter() - started
    )
