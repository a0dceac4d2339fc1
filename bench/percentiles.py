"""The one percentile the benchmarks report (nearest rank on the sorted sample)."""

from __future__ import annotations


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]
