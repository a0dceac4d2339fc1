"""The pack script on its interval (R6): a thread that runs it every `interval_min` minutes."""

from __future__ import annotations

import logging
from collections.abc import Callable

from stationd.core.packscript import PackResult
from stationd.services.packscript_run import run_once
from stationd.store.availability import DatabaseAvailability
from stationd.store.database import Store
from stationd.store.packscript_runlock import RunLockTaken
from stationd.ticker import Ticker

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
        self._ticker = Ticker("packscript", self.interval_s, self._run_once, at_once=run_on_start)

    def start(self) -> None:
        if self.interval_s > 0:
            self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def _run_once(self) -> None:
        try:
            run_id, result = self.run("auto")
            log.info("pack script run %d: %s", run_id, result.summary())
        except RunLockTaken as err:  # a run by hand, or another station's: it does the work
            log.info("scheduled pack-script run skipped: %s", err)
        except Exception as err:
            # Recorded as a failed run by run_once; the next interval tries again.
            if not self.availability.lost(err, "scheduled pack-script run"):
                log.exception("pack script run failed")
