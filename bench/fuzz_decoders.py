"""100,000 random byte sequences through every frame and report decoder (issue 3's must-show).

    .venv/bin/python bench/fuzz_decoders.py [--sequences 100000] [--seed 1]

For each decoder: no exception may escape, and no scan or weight may come from a frame that was
never terminated. Prints a line per decoder and one JSON line; exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The stress harnesses of the scanners' decoders live with the tests (tests/decoder_stress.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from decoder_stress import stress_key_decoder, stress_report_decoder

from stationd.devices.scales.hidpos import decode_report
from stationd.devices.scales.scale import Reading
from stationd.devices.scales.serial import ContinuousDecoder, NciReplyDecoder
from stationd.devices.scanners.frames import Frame, FrameDecoder

GOOD_SCANS = [b"]E07310865004703", b"ORD-1042", b"]C1\x1d0107300000000011\x1d10LOT7", b"CMD-UNDO"]
GOOD_WEIGHTS = [b"ST,GS,+  1.234 kg", b"ST,NT,+   250 g", b"US,GS,+  0.900 kg", b"ST,GS,-  0.010kg"]
NOISE = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-]./+ \x1d\x00\x03\x1b\xff\xe5,.kglb\r\n"


def random_stream(rnd: random.Random, good: list[bytes]) -> bytes:
    """Real frames, cut and corrupted at random points, with noise between; some end, some not."""
    parts = []
    for _ in range(rnd.randint(1, 4)):
        frame = rnd.choice(good)
        roll = rnd.random()
        if roll < 0.25:
            frame = frame[: rnd.randint(0, len(frame))]  # cut off
        elif roll < 0.45:
            at = rnd.randrange(len(frame))
            frame = frame[:at] + bytes([rnd.choice(NOISE)]) + frame[at + 1 :]
        parts.append(frame + rnd.choice((b"\r", b"\n", b"\r\n", b"")))
        if rnd.random() < 0.3:
            parts.append(bytes(rnd.choice(NOISE) for _ in range(rnd.randint(1, 40))))
    return b"".join(parts)


def chunks(rnd: random.Random, data: bytes):  # type: ignore[no-untyped-def]
    """`data` in random pieces at rising times; now and then a pause past the frame timeout."""
    now, i = 0.0, 0
    while i < len(data):
        step = rnd.randint(1, 16)
        yield data[i : i + step], now
        i += step
        now += 0.5 if rnd.random() < 0.05 else 0.001


def ended_frames(data: bytes) -> int:
    """How many line ends the stream holds: no decoder may give more frames than that."""
    return len(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")) - 1


def serial_frames(sequences: int, seed: int) -> dict:
    rnd = random.Random(seed)
    violations = frames = 0
    start = time.perf_counter()
    for _ in range(sequences):
        data = random_stream(rnd, GOOD_SCANS)
        decoder = FrameDecoder()
        got = 0
        try:
            for piece, now in chunks(rnd, data):
                got += sum(isinstance(x, Frame) for x in decoder.feed(piece, now))
            got += sum(isinstance(x, Frame) for x in decoder.expire(1e9))
        except Exception:
            violations += 1
            continue
        frames += got
        if got > ended_frames(data):
            violations += 1  # a scan from a frame that never ended
    return {"frames": frames, "violations": violations, "seconds": time.perf_counter() - start}


def scale_lines(sequences: int, seed: int) -> dict:
    rnd = random.Random(seed)
    violations = weights = 0
    start = time.perf_counter()
    for _ in range(sequences):
        data = random_stream(rnd, GOOD_WEIGHTS)
        decoder = ContinuousDecoder()
        got = 0
        try:
            for piece, now in chunks(rnd, data):
                got += sum(isinstance(r, Reading) for r in decoder.feed(piece, now))
                NciReplyDecoder().feed(piece)
        except Exception:
            violations += 1
            continue
        weights += got
        if got > ended_frames(data):
            violations += 1
    return {"weights": weights, "violations": violations, "seconds": time.perf_counter() - start}


def scale_reports(sequences: int, seed: int) -> dict:
    rnd = random.Random(seed)
    violations = 0
    start = time.perf_counter()
    for _ in range(sequences):
        report = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 12)))
        try:
            decode_report(report)
        except Exception:
            violations += 1
    return {"violations": violations, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n, seed = args.sequences, args.seed
    results = {
        "serial_frames": serial_frames(n, seed),
        "keyboard_keys": asdict(stress_key_decoder(n, seed=seed)),
        "hidpos_scanner_reports": asdict(stress_report_decoder(n, seed=seed)),
        "serial_scale_lines": scale_lines(n, seed),
        "hidpos_scale_reports": scale_reports(n, seed),
    }
    for name, result in results.items():
        seen = result.get("frames", result.get("weights"))
        decoded = f", {seen:,} decoded" if seen is not None else ""
        print(
            f"{name:<24} {n:,} sequences: {result['violations']} violations, "
            f"{result['seconds']:.1f} s{decoded}"
        )
    total = sum(r["violations"] for r in results.values())
    # A check that saw nothing proves nothing: the streams must have carried real scans/weights.
    if n >= 1000 and not (
        results["serial_frames"]["frames"] and results["serial_scale_lines"]["weights"]
    ):
        print("the random streams produced no frames or no weights: the check tested nothing")
        total += 1
    print(json.dumps({"sequences_per_decoder": n, "decoders": len(results), "violations": total}))
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
