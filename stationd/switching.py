"""The interpreter's thread switch interval while background work shares it with the bench.

A thread that comes back from the database or the disk waits for the interpreter until the
thread computing in Python lets go of it — at the latest after the switch interval, 5 ms by
default. One scan or report-in comes back dozens of times, so a pack-script run computing in
`serve` made a scan wait ~100 ms (issue 10), and so did a synced bench's push, pull and claims
keep-alive (issue 11: a report-in waited up to the switch interval after each of its ~13
statements while the push built its answers). While such work runs, the interpreter switches
every `SWITCH_INTERVAL_S`; it costs the background work little.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The switch interval while background work runs (the interpreter's default is 5 ms).
SWITCH_INTERVAL_S = 0.0002

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


__all__ = ["SWITCH_INTERVAL_S", "hold", "let_go", "switching_often"]
