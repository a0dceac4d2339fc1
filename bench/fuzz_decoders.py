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

from stationd.devices.frames import Frame, FrameDecoder
from stationd.devices.hidpos_scale import decode_report
from stationd.devices.hidpos_scanner import stress_report_decoder
from stationd.devices.keymaps import stress_key_decoder
from stationd.devices.scale import Reading
from stationd.devices.serial_scale import ContinuousDecoder, NciReplyDecoder

TERMINATORS = (b"\r", b"\n")


def random_bytes(rnd: random.Random) -> bytes:
    """Mostly printable bytes with some controls; half the sequences carry no line end."""
    length = rnd.randint(0, 300)
    alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-]./+ \x1d\x00\x03\x1b\xff\xe5,.kglb"
    data = bytes(rnd.choice(alphabet) for _ in range(length))
    if rnd.random() < 0.5:
        data = data.replace(b"\r", b"").replace(b"\n", b"")
    elif rnd.random() < 0.5:
        data += rnd.choice((b"\r", b"\n", b"\r\n"))
    return data


def serial_frames(sequences: int, seed: int) -> dict:
    rnd = random.Random(seed)
    violations = frames = 0
    start = time.perf_counter()
    for _ in range(sequences):
        data = random_bytes(rnd)
        decoder = FrameDecoder()
        try:
            out = decoder.feed(data, 0.0)
        except Exception:
            violations += 1
            continue
        got = [item for item in out if isinstance(item, Frame)]
        frames += len(got)
        if got and not any(t in data for t in TERMINATORS):
            violations += 1  # a scan from a frame that never ended
    return {"frames": frames, "violations": violations, "seconds": time.perf_counter() - start}


def scale_lines(sequences: int, seed: int) -> dict:
    rnd = random.Random(seed)
    violations = weights = 0
    start = time.perf_counter()
    for _ in range(sequences):
        data = random_bytes(rnd)
        try:
            readings = [r for r in ContinuousDecoder().feed(data, 0.0) if isinstance(r, Reading)]
            NciReplyDecoder().feed(data)
        except Exception:
            violations += 1
            continue
        weights += len(readings)
        if readings and not any(t in data for t in TERMINATORS):
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
        print(
            f"{name:<24} {n:,} sequences: {result['violations']} violations, "
            f"{result['seconds']:.1f} s"
        )
    total = sum(r["violations"] for r in results.values())
    print(json.dumps({"sequences_per_decoder": n, "decoders": len(results), "violations": total}))
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
