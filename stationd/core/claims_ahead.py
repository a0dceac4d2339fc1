"""R17 on a synced bench: how many orders it holds claimed ahead of the one it packs, so that
the packer's next open finds its order held and asks no one (`services.central_claims`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

#: Orders held ahead cover the packer's opens for this long at its current pace: a top-up's
#: round trip, even on a busy central, is far shorter, so the queue never runs dry while
#: central answers.
AHEAD_COVERS_S = 2.0
#: The pace is the opens of this last while (seconds).
PACE_WINDOW_S = 20.0
#: Orders held ahead at most, whatever the pace: more would keep them from the other benches
#: (and, were the bench to die, wait out its lease).
MAX_AHEAD = 20


def ahead_wanted(claim_ahead: int, opens: Iterable[float], now: float) -> int:
    """How many orders a bench holds ahead: `claim_ahead` (its setting), or more while the
    packer opens orders quickly — what its pace opens in `AHEAD_COVERS_S` — but `MAX_AHEAD`
    at most. 0 stays 0 (a bench that claims nothing ahead). `opens`: when the packer opened
    orders, and `now`, on one monotonic clock (never the wall clock: a Pi has no battery)."""
    if not claim_ahead:
        return 0
    recent = [at for at in opens if now - at <= PACE_WINDOW_S]
    if len(recent) < 2:
        return claim_ahead
    # opens per second over the span they took (not the whole window: a bench that just
    # started packing quickly is quick now), the span at least AHEAD_COVERS_S
    per_s = (len(recent) - 1) / max(now - min(recent), AHEAD_COVERS_S)
    return max(claim_ahead, min(MAX_AHEAD, math.ceil(per_s * AHEAD_COVERS_S)))


__all__ = ["AHEAD_COVERS_S", "MAX_AHEAD", "PACE_WINDOW_S", "ahead_wanted"]
