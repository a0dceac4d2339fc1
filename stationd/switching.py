"""The interpreter's thread switch interval while background work shares it with the bench.

A thread that comes back from the database or the disk waits for the interpreter until the
thread computing in Python lets go of it — at the latest after the switch interval, 5 ms by
default. One scan or report-in comes back dozens of times, so a pack-script run computing in
`serve` made a scan wait ~100 ms (issue 10), and so did a synced bench's push, pull and claims
keep-alive (issue 11: a report-in waited up to the switch interval after each of its ~13
statements while the push built its answers). While such work runs, the interpreter switches
every `SWITCH_INTERVAL_S`; it costs the background work little.

The sync threads (push, pull, the claims keep-alive) also run at a lower CPU priority than
the packer's (`behind_the_packer`): on a bench sharing its cores with others, the processor
goes to the scan and the report-in first. bench/sync.py at 8 benches, alternated in one
sitting: report-in p50 36 → 18–21 ms, scans 100–142 → 163–177 per second.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The switch interval while background work runs (the interpreter's default is 5 ms).
SWITCH_INTERVAL_S = 0.0002
#: How much nicer than the packer's thread a background thread runs (Linux nice levels).
BACKGROUND_NICE = 10

_guard = threading.Lock()
_holders = 0
_was = 0.0


def hold() -> None:
    """Background work starts: switch often until every `hold` has its `let_go`."""
    global _holders, _was
    with _guard:
        if _holders == 0:
            _was = sys.getswitchinterval()
            sys.setswitchinterval(min(_was, SWITCH_INTERVAL_S))
        _holders += 1


def let_go() -> None:
    """Background work ended: the interval it found comes back once none holds it."""
    global _holders
    with _guard:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            sys.setswitchinterval(_was)


@contextmanager
def switching_often() -> Iterator[None]:
    """Switch often for the block (a pack-script run)."""
    hold()
    try:
        yield
    finally:
        let_go()


def behind_the_packer() -> None:
    """Lower the calling thread's CPU priority by `BACKGROUND_NICE` (Linux only, where a nice
    level is a thread's own; elsewhere it would be the whole process's, so nothing is done).

    Threads it starts afterwards inherit it."""
    if not sys.platform.startswith("linux"):
        return
    me = threading.get_native_id()
    # (a sandbox that refuses: the thread runs as it is)
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, me, os.getpriority(os.PRIO_PROCESS, me) + BACKGROUND_NICE)


__all__ = [
    "BACKGROUND_NICE",
    "SWITCH_INTERVAL_S",
    "behind_the_packer",
    "hold",
    "let_go",
    "switching_often",
]
