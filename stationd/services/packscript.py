"""The pack script as the Tools page drives it (R8): one run at a time, watched live, read back.

`PackScriptRunner` is how the station's kiosk and schedule run the pack script (each run is
`services.packscript_run.run_once`), so two runs of one station never overlap, and a run can
be watched while it goes: the runner keeps the counts and the last steps of the run it is
doing, for the page to fetch in batches (a run may have 300,000 steps; the browser gets a
window of them).
Another station's run is told apart by the marker and the lock (`store.packscript_activity`).

A finished run is read back from its stored trace, folded per order (`TraceIndex`) and kept for
the few runs looked at last, so paging and filtering a trace of 100,000 orders stays quick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime

from stationd.clock import utcnow
from stationd.core.packscript import PackResult, Step
from stationd.core.packscript_reading import (
    Answer,
    Outcome,
    RunFacts,
    TraceIndex,
    decision_outcome,
    why_not_packing,
)
from stationd.events import Bus, PackScriptRunChanged
from stationd.memory import give_back_memory
from stationd.services.packscript_child import ReadyChild
from stationd.services.packscript_run import PackScriptRunFailed, RunStop, run_once
from stationd.store.availability import DatabaseAvailability
from stationd.store.database import Store
from stationd.store.packscript import RunRecord, recent_runs
from stationd.store.packscript_activity import (
    RunningElsewhere,
    latest_run,
    mark_running,
    order_state,
    run_record,
    running_elsewhere,
    trace_steps,
)
from stationd.store.packscript_runlock import RunLockTaken

log = logging.getLogger(__name__)

__all__ = ["LiveRun", "PackScriptBusy", "PackScriptRunner"]

#: How many of the latest steps a watcher sees of a run going on.
LIVE_STEPS = 60
#: While a run goes, `PackScriptRunChanged` is published at most this often: watchers get the
#: steps in batches, not one event per step.
BATCH_S = 0.3
#: How many runs' folded traces are kept for paging.
CACHED_TRACES = 3
_STEPS_PER_VERSION = 10**12


class PackScriptBusy(Exception):
    """A run is going already: here (`elsewhere` None) or at another station."""

    def __init__(self, message: str, elsewhere: RunningElsewhere | None = None) -> None:
        super().__init__(message)
        self.elsewhere = elsewhere


@dataclass(frozen=True, slots=True)
class LiveRun:
    """The run this station is doing (or did last), as a watcher sees it at one moment.

    `version` changes whenever anything here does; `last_steps` are the newest steps, oldest
    first; `failed` is set when the run failed as a whole (nothing it decided was kept).
    """

    version: int
    running: bool
    trigger: str
    started_at: datetime | None
    finished_at: datetime | None
    steps: int
    counts: dict[Outcome, int]
    last_steps: list[Step]
    stopped: Step | None
    run_id: int | None
    failed: str | None

    @property
    def looked_at(self) -> int:
        return sum(self.counts.values())

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or utcnow()) - self.started_at).total_seconds()


class PackScriptRunner:
    """Runs the pack script for one station and lets the kiosk watch and read back its runs."""

    def __init__(
        self,
        store: Store,
        *,
        station: str,
        bus: Bus | None = None,
        keep_traces_days: int | None = None,
        availability: DatabaseAvailability | None = None,
    ) -> None:
        self.store = store
        self.station = station
        self.bus = bus or Bus()
        self.keep_traces_days = keep_traces_days
        #: Told when a run met an outage: it logs the outage once, not each run.
        self.availability = availability or DatabaseAvailability()
        self._published = 0.0
        self._run_lock = threading.Lock()  # held for the whole of a run
        self._state = threading.Lock()  # guards the live fields against a half-read start/end
        self._thread: threading.Thread | None = None
        self._version = 0
        self._running = False
        self._trigger = ""
        self._started: datetime | None = None
        self._finished: datetime | None = None
        self._steps = 0
        self._counts: Counter[Outcome] = Counter()
        self._last: deque[Step] = deque(maxlen=LIVE_STEPS)
        self._stopped: Step | None = None
        self._run_id: int | None = None
        self._failed: str | None = None
        self._traces: OrderedDict[int, TraceIndex] = OrderedDict()
        self._traces_lock = threading.Lock()
        self._stop = RunStop()
        #: A run's child started ahead (`keep_child_ready`), or None: each run starts its own.
        self._ready: ReadyChild | None = None

    def keep_child_ready(self) -> None:
        """Keep a run's child started ahead from now on (serve, when this station runs the
        pack script on a schedule): a run then doesn't wait ~0.4 s for its child to start;
        the waiting child holds ~46 MB. `stop` ends it."""
        if self._ready is None:
            self._ready = ReadyChild()
        self._prepare_child()

    def _prepare_child(self) -> None:
        try:
            self._ready.prepare()  # type: ignore[union-attr]
        except OSError:  # out of processes or memory: the next run starts its own
            log.warning("could not start the pack script's next child ahead", exc_info=True)

    # -- running ------------------------------------------------------------
    def start(self, trigger: str = "manual") -> None:
        """Start a run in the background; raises PackScriptBusy if one is going (anywhere)."""
        if not self._run_lock.acquire(blocking=False):
            raise PackScriptBusy("A run is already going at this station.")
        try:
            with self.store.read() as conn:
                elsewhere = running_elsewhere(conn, self.station)
            if elsewhere is not None:
                where = f"at station {elsewhere.station}" if elsewhere.station else "elsewhere"
                raise PackScriptBusy(f"The pack script is running {where} now.", elsewhere)
            self._begin(trigger)
            self._thread = threading.Thread(
                target=self._run_locked, args=(trigger,), name="packscript-run", daemon=True
            )
            self._thread.start()
        except BaseException:
            self._run_lock.release()
            raise

    def run(self, trigger: str = "auto") -> tuple[int, PackResult]:
        """One run now, in this thread, after any run of this station that is going (schedule).

        Returns the run's id and result; raises PackScriptRunFailed like `run_once`.
        """
        self._run_lock.acquire()
        self._begin(trigger)
        outcome = self._run_locked(trigger)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    @property
    def running(self) -> bool:
        return self._run_lock.locked()

    def stop(self, timeout_s: float = 10) -> None:
        """Let a run going on finish (stopped half-way it would leave the rest for the next run)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        if self._ready is not None:
            self._ready.close()

    def cancel(self) -> bool:
        """Stop from Tools: end the run going on between two of its transactions (what it
        wrote stays written) and its decide's child at once — unless the child already
        commits the run's one transaction (PostgreSQL). False if no run is going."""
        with self._state:
            if not self._running:
                return False
            self._stop.stop()
        return True

    def _begin(self, trigger: str) -> None:
        with self._state:
            self._version += 1
            self._running = True
            self._trigger = trigger
            self._started = utcnow()
            self._finished = None
            self._steps = 0
            self._counts = Counter()
            self._last.clear()
            self._stopped = None
            self._run_id = None
            self._failed = None
            self._stop = RunStop()
        self._published = time.monotonic()
        self.bus.publish(PackScriptRunChanged(running=True))

    def _run_locked(self, trigger: str) -> tuple[int, PackResult] | BaseException:
        outcome: tuple[int, PackResult] | BaseException
        run_id: int | None = None
        failed: str | None = None
        try:
            with self.store.write() as conn:
                mark_running(conn, self.station, self._started)
            run_id, result = run_once(
                self.store,
                station=self.station,
                trigger=trigger,
                on_step=self._on_step,
                keep_traces_days=self.keep_traces_days,
                # The read and decide's peak in a child process: `serve` stays level (issue 10).
                in_child=True,
                stop=self._stop,
                ready=self._ready,
            )
            outcome = (run_id, result)
            with self._state:  # as written: a run stopped, or decided again, tells it so
                self._counts = +Counter(  # the outcomes that happened
                    {
                        Outcome.MOVED: result.moved,
                        Outcome.UNPAID: result.unpaid,
                        Outcome.SHORT: result.short,
                        Outcome.SKIPPED: result.skipped,
                    }
                )
                self._steps = len(result.trace)
                self._stopped = result.stopped
            with self._traces_lock:  # the run may have forgotten older runs' traces
                self._traces.clear()
            log.info("pack script run %d (%s): %s", run_id, trigger, result.summary())
        except PackScriptRunFailed as err:
            run_id, failed, outcome = err.run_id, str(err), err
        except RunLockTaken as err:  # another run began between `start`'s look and here
            log.info("pack script run (%s) not started: %s", trigger, err)
            failed, outcome = str(err), err
        except Exception as err:  # e.g. the database is away: the watcher must hear of it
            if not self.availability.lost(err, f"pack-script run ({trigger})"):
                log.exception("pack script run could not start")
            failed, outcome = f"{type(err).__name__}: {err}", err
        finally:
            give_back_memory()  # the run's peak, back to the system (issue 10)
            if self._ready is not None:
                self._prepare_child()  # for the next run
            try:
                with self.store.write() as conn:
                    mark_running(conn, self.station, None)
            except Exception as err:
                if not self.availability.lost(err, "pack-script marker"):
                    log.exception("could not clear this station's pack-script marker")
            with self._state:
                self._version += 1
                self._running = False
                self._finished = utcnow()
                self._run_id = run_id
                self._failed = failed
            self._run_lock.release()
            self.bus.publish(PackScriptRunChanged(running=False, run_id=run_id))
        return outcome

    def _on_step(self, step: Step) -> None:
        # Called for every step of the run (up to ~300,000), from the run's thread only: no
        # lock — each of these is one atomic operation, and `live()` copies them in C.
        self._steps += 1
        self._last.append(step)
        check = step.check
        if check == "decision":
            self._counts[decision_outcome(step)] += 1  # type: ignore[index]
        elif check == "error":
            self._stopped = step
        if not self._steps & 255:
            # Let the bench have the interpreter: deciding is pure Python in serve's process,
            # and a scan comes back for the interpreter dozens of times (issue 10).
            time.sleep(0)
        if not self._steps & 1023:  # now and then: is a batch due for the watchers?
            now = time.monotonic()
            if now - self._published >= BATCH_S:
                self._published = now
                self.bus.publish(PackScriptRunChanged(running=True))

    # -- watching -----------------------------------------------------------
    def live(self) -> LiveRun:
        with self._state:
            return LiveRun(
                # Steps change it too: a watcher sees every batch as a change.
                version=self._version * _STEPS_PER_VERSION + self._steps,
                running=self._running,
                trigger=self._trigger,
                started_at=self._started,
                finished_at=self._finished,
                steps=self._steps,
                counts=dict(self._counts),
                last_steps=list(self._last),
                stopped=self._stopped,
                run_id=self._run_id,
                failed=self._failed,
            )

    def elsewhere(self) -> RunningElsewhere | None:
        with self.store.read() as conn:
            return running_elsewhere(conn, self.station)

    # -- reading back ---------------------------------------------------------
    def recent(self, limit: int = 20) -> list[RunRecord]:
        with self.store.read() as conn:
            return recent_runs(conn, limit)

    def run_record(self, run_id: int) -> RunRecord | None:
        with self.store.read() as conn:
            return run_record(conn, run_id)

    def trace(self, run_id: int) -> TraceIndex:
        """The run's trace folded per order; the last few read are kept."""
        with self._traces_lock:
            if run_id in self._traces:
                self._traces.move_to_end(run_id)
                return self._traces[run_id]
        with self.store.read() as conn:
            index = TraceIndex(trace_steps(conn, run_id))
        with self._traces_lock:
            self._traces[run_id] = index
            while len(self._traces) > CACHED_TRACES:
                self._traces.popitem(last=False)
        return index

    def why(self, order_id: int) -> Answer:
        """Why order `order_id` is not packing, from its state and the latest run's trace."""
        with self.store.read() as conn:
            state = order_state(conn, order_id)
            latest = latest_run(conn)
        run = None
        found = None
        if latest is not None:
            error = latest.error
            if latest.status == "stopped":  # the trace's stop has the error typed (a Reason)
                stop = self.trace(latest.id).stopped
                error = stop.detail if stop is not None else error
            run = RunFacts(
                latest.id,
                latest.started_at,
                latest.status,
                error,
                latest.stopped_order_id,
            )
            if state is not None and state.status == "order" and latest.status != "failed":
                found = self.trace(latest.id).find(order_id)
        if state is None:
            return why_not_packing(order_id, status=None, run=run)
        return why_not_packing(
            order_id,
            status=state.status,
            waiting=state.waiting,
            moved_by_run=state.packscript_run_id,
            run=run,
            found=found,
        )
