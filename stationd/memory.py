"""How the station's process uses the C allocator: few arenas, and memory given back after a
large piece of work.

glibc gives each thread that allocates its own arena (up to 8 per core) and keeps what an arena
once held. A pack-script run over 100,000 orders peaks at ~150 MB in one thread; runs in other
threads each kept their own peak, and `serve` grew 40–60 MB per run (75 → 431 MB after seven;
issue 10). Two arenas and a trim after each run keep the C allocator's part flat. An explicit
`MALLOC_ARENA_MAX` in the environment wins (glibc reads it at start).

What grows after that is Python's own allocator, which hands back a 1 MiB arena only when it is
wholly empty: small objects made during a run's peak and kept after it (caches filled then, the
connections' references to their cursors, the live view of the run) hold arenas the peak filled.
It is bounded by a run's own peak and levels off: in `serve` at 100,000 orders
(`bench/packscript_memory.py --runs 50`) 78 MB at start, ~153 MB after 20 runs, 155–165 MB from
run ~27 to run 50, while each run's own peak stays at 191–221 MB. Closing the pooled connections
after each run made it worse (peaks 231–264 MB, 209 MB after 50 runs); one string per SKU in
the load (its own Python peak 110 → 71 MB) moved neither serve's peak nor its level.

So the peak left `serve`: its runs read and decide in a child process
(`services.packscript_child`), which streams the moves back for `serve` to write. Same sitting,
`bench/packscript_memory.py --runs 20 --baseline-rev 6e7d3a1` (load 14–26 on 2 cores): `serve`
79 MB at start, 98–105 MB after each of the 20 runs (+0.9 MB over the last five), each run's
own peak 108–117 MB; the code before, in-process: 114 → 180 MB (+3.1 MB over the last five,
still growing), peaks 205–224 MB. The child itself peaks at ~164 MB and gives it all back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

#: mallopt's parameter number for the arena limit (glibc's malloc.h: M_ARENA_MAX).
M_ARENA_MAX = -8
ARENAS = 2


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 — glibc has it, musl does not
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads made from now on; True when the cap is set."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def give_back_memory() -> None:
    """Return the free memory at the top of glibc's heaps to the system (after a big run)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
