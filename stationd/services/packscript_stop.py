"""Stop from Tools for a pack-script run going on (`services.packscript_run`), and what a run
so ended says: it ends between two transactions, its decide's child at once."""

from __future__ import annotations

import subprocess
import threading

from stationd.core.packscript_reasons import StoppedByHand

__all__ = ["STOPPED_BY_HAND", "RunStop"]

#: Why a run ended by a Stop from Tools stopped (its trace's stop step says so).
STOPPED_BY_HAND = StoppedByHand()


class RunStop:
    """Stop from Tools for the run going on: it ends between two transactions (what was
    written stays written, counted on the run) and its decide's child process at once."""

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
