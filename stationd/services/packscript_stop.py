"""Stop from Tools for a pack-script run going on (`services.packscript_run`), and what a run
so ended says: it ends between two transactions, its decide's child at once — unless that child
writes the run's one transaction on PostgreSQL and was already told to commit
(`RunStop.let_commit`): the run then ends as written.
"""

from __future__ import annotations

import subprocess
import threading

from stationd.core.packscript import Candidate, Step, StepListener, Trace
from stationd.core.packscript_reasons import StoppedByHand

__all__ = ["STOPPED_BY_HAND", "RunStop", "stopped_by_hand", "trace_kept"]

#: Why a run ended by a Stop from Tools stopped (its trace's stop step says so).
STOPPED_BY_HAND = StoppedByHand()


class RunStop:
    """Stop from Tools for the run going on: it ends between two transactions (what was
    written stays written, counted on the run) and its decide's child process at once, unless
    the child was let commit (`let_commit`)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen | None = None

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def stop(self) -> None:
        with self._lock:
            self._event.set()
            if self._child is not None and self._child.poll() is None:
                self._child.kill()

    def watch(self, child: subprocess.Popen) -> None:
        """The run's decide runs in `child` now: a Stop ends it."""
        with self._lock:
            self._child = child
            if self._event.is_set():
                child.kill()

    def let_commit(self) -> bool:
        """Whether the run may commit now (no Stop came); if so, a Stop from now on no longer
        ends its child, which commits: the run then ends as written, as a run in one process
        does past that point."""
        with self._lock:
            if self._event.is_set():
                return False
            self._child = None
            return True


def stopped_by_hand(trace: Trace, last: Candidate | None, on_step: StepListener | None) -> Trace:
    """`trace` up to `last` (the last move written), ended by a Stop from Tools."""
    stopped = Step(None, "error", False, STOPPED_BY_HAND)
    kept = trace_kept(trace, last)
    if on_step is not None:
        on_step(stopped)
    return Trace(
        trace.order_ids[:kept],
        trace.outcomes[:kept],
        {n: r for n, r in trace.reasons.items() if n < kept},
        stopped,
    )


def trace_kept(trace: Trace, last: Candidate | None) -> int:
    """How many of `trace`'s orders were looked at up to `last`, the last move written."""
    return 0 if last is None else trace.order_ids.index(last[0]) + 1
