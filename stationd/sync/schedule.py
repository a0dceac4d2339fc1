"""The pack script on its interval (R6): a thread that runs it every `interval_min` minutes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from stationd.core.packscript import PackResult
from stationd.services.packscript_run import run_once
from stationd.store.availability import DatabaseAvailability
from stationd.store.database import Store

log = logging.getLogger(__name__)


class PackScriptSchedule:
    """Runs the pack script every `interval_min` minutes (0: never; by hand only)."""

    def __init__(
        self,
        store: Store,
        *,
        station: str,
        interval_min: int,
        run_on_start: bool = False,
        run: Callable[[str], tuple[int, PackResult]] | None = None,
        availability: DatabaseAvailability | None = None,
    ) -> None:
        self.store = store
        # The station's runner, when given: a run by hand and this one then never overlap.
        self.run = run or (lambda trigger: run_once(store, station=station, trigger=trigger))
        self.station = station
        self.interval_s = interval_min * 60
        self.run_on_start = run_on_start
        #: Told when a run failed for want of a database: the outage is logged there, once.
        self.availability = availability or DatabaseAvailability()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="packscript", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        if not self.run_on_start and self._stop.wait(self.interval_s):
            return
        while not self._stop.is_set():
            try:
                run_id, result = self.run("auto")
                log.info("pack script run %d: %s", run_id, result.summary())
            except Exception as err:
                # Recorded as a failed run by run_once; the next interval tries again.
                if not self.availability.lost(err, "scheduled pack-script run"):
                    log.exception("pack script run failed")
            if self._stop.wait(self.interval_s):
                return
