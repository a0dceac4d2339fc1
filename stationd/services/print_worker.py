"""Printing: one worker thread per printer draining that printer's durable queue (R20, R10, R16).

The worker alone owns its printer (ARCHITECTURE: one owner per device) and

- takes the oldest queued job of its printer, asks the printer how it is, records the job
  `sending` (to the disk), sends the bytes and only then has the job recorded as printed (and
  R10's marker) in one transaction, by its recorder thread, while it goes on with the next job;
- when the printer can't print (offline, paper out, cover open…) records why on the job,
  announces the printer's state with the reason a person reads, and tries again by itself
  with a back-off (0.1 s doubling up to `backoff_max_s`; new work wakes it early);
- holds a job that has waited longer than `max_job_age_min` instead of printing it, so a
  backlog doesn't flood out after a paper refill: a person releases or drops it.

Workers share nothing but the database, so a dead printer never delays another one. A job is
never printed twice by itself, nor lost: if the station is killed or the power goes between
"sending" and the commit that records it printed (or the database loses that record), the job
may or may not have come out — the worker, at its start and whenever its queue is empty, holds
such a job for a person (`INTERRUPTED`), who looks at the printer and drops or releases it.
Jobs are queued and routed by `services.printing.PrintService`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stationd.clock import utcnow
from stationd.core.orders import Document
from stationd.core.text import sentence
from stationd.devices.printers.printer import Printer, PrinterError, PrinterState, PrinterStatus
from stationd.events import Bus, Event, OrderChanged
from stationd.store import print_queue
from stationd.store.availability import DatabaseAvailability
from stationd.store.database import Store
from stationd.store.print_queue import JobState, PrintJob, PrintQueueError

log = logging.getLogger(__name__)

#: What a person reads about a printer state when the printer said nothing more.
STATE_TEXT = {
    PrinterState.ONLINE: sentence("Ready."),
    PrinterState.OFFLINE: sentence("The printer does not answer: is it switched on and connected?"),
    PrinterState.PAPER_OUT: sentence("The printer is out of paper."),
    PrinterState.COVER_OPEN: sentence("The printer's cover is open."),
    PrinterState.ERROR: sentence("The printer reports an error."),
    PrinterState.UNKNOWN: sentence("The printer can't tell how it is."),
}

#: At most this many jobs a printer took may wait for their "printed" record: while the
#: database is too busy to record them the worker sends no more, so a crash then leaves only
#: these for a person to look at, not the whole queue.
MAX_UNRECORDED = 8

#: Why a job is held whose bytes were going to the printer when the station (or the database's
#: record of it) stopped.
INTERRUPTED = sentence(
    "The station stopped while sending this job: look whether it printed, then drop it or "
    "release it."
)

#: The documents whose printing sets R10's marker on their order.
DOCUMENT_KINDS_WITH_MARKER = frozenset(d.value for d in Document)


def describe(status: PrinterStatus) -> str:
    """The sentence a person reads about `status`: the printer's own detail, or the state's."""
    return status.detail or STATE_TEXT[status.state]


@dataclass(frozen=True, slots=True)
class PrintJobChanged(Event):
    """A print job was queued again, printed, held, released or dropped (after the commit)."""

    job_id: int
    printer: str
    document: str
    state: JobState
    order_id: int | None = None
    detail: str = ""
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class PrinterStateChanged(Event):
    """A printer's state as its worker last saw it; `detail` is the reason a person reads.

    `waiting` counts that printer's jobs not printed yet (queued or held).
    """

    printer: str
    state: PrinterState
    detail: str = ""
    waiting: int = 0
    at: datetime = field(default_factory=utcnow)


class PrintWorker:
    """The one thread that owns `printer` and prints its queue; `start()` / `stop()`.

    `notify()` wakes it at once (new work, a released job); without it, it looks at its queue
    again every `idle_recheck_s` anyway, so a job written by another process (`stationd print`)
    is found too.

    The jobs the printer took are recorded as printed by a second thread, the worker's
    recorder (all those waiting in one transaction), so the next job never waits for that
    commit: it used to sit between a job's commit and its bytes whenever a job was queued while
    the one before was being recorded (issue 3). Until its record commits, a sent job is kept
    in memory and never sent again.
    """

    def __init__(
        self,
        store: Store,
        bus: Bus,
        printer: Printer,
        *,
        max_job_age_min: float | None = 30,
        backoff_max_s: float = 30.0,
        backoff_min_s: float = 0.1,
        idle_recheck_s: float = 5.0,
        availability: DatabaseAvailability | None = None,
    ) -> None:
        if backoff_min_s <= 0 or backoff_max_s < backoff_min_s:
            raise ValueError("the back-off needs 0 < backoff_min_s <= backoff_max_s")
        if max_job_age_min is not None and max_job_age_min <= 0:
            raise ValueError("max_job_age_min is a positive number of minutes (or None: no limit)")
        self.store = store
        self.bus = bus
        self.printer = printer
        self.name = printer.name
        self.max_job_age = (
            timedelta(minutes=max_job_age_min) if max_job_age_min is not None else None
        )
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.idle_recheck_s = idle_recheck_s
        #: Told when the database is away: it logs the outage once, not each try here.
        self.availability = availability or DatabaseAvailability()
        #: Held from reading a job until its send is over (never while waiting): a person's
        #: hold or drop takes it (and then `wait_recorded`), so it can't slip in between
        #: "still queued" and the bytes going out.
        self.job_in_hand = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._recorder: threading.Thread | None = None
        self._delay = backoff_min_s
        self._status = PrinterStatus(PrinterState.UNKNOWN)
        self._announced: PrinterStatus | None = None
        # Jobs whose bytes the printer accepted and whose "printed" is not committed yet (the
        # recorder's work, oldest first), and the recorder's stop flag; guarded by `_sent_cv`.
        self._sent: dict[int, PrintJob] = {}
        # Jobs that may be recorded `sending` but whose bytes did not go (the send failed, or
        # the "sending" commit's answer was cut off) and whose return to the queue is not
        # committed yet: this worker knows they did not print.
        self._unsent: set[int] = set()
        self._sent_cv = threading.Condition()
        self._recorder_stopping = False
        # Whether the jobs a crash left `sending` were looked for since this worker started.
        self._looked_for_interrupted = False

    @property
    def status(self) -> PrinterStatus:
        """The printer's state as the worker last saw it (UNKNOWN before the first job)."""
        return self._status

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        if self._recorder is None or not self._recorder.is_alive():
            with self._sent_cv:
                self._recorder_stopping = False
            self._recorder = threading.Thread(
                target=self._record_loop, name=f"print-{self.name}-record", daemon=True
            )
            self._recorder.start()
        self._stopping.clear()
        self._looked_for_interrupted = False
        self._wake.set()  # look at the queue at once: jobs may be waiting from before a restart
        self._thread = threading.Thread(target=self._run, name=f"print-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the job in hand (its bytes are not cut off); queued jobs stay queued."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            # The recorder stays: the job in that send is recorded if the printer takes it.
            log.warning(
                "printer %s: its worker is still inside a send after %.1f s", self.name, timeout
            )
            return
        self._thread = None
        recorder = self._recorder
        if recorder is not None:
            with self._sent_cv:
                self._recorder_stopping = True  # record what was sent, then end
                self._sent_cv.notify_all()
            recorder.join(timeout)
            if not recorder.is_alive():
                self._recorder = None

    def notify(self) -> None:
        """There is new work (or a person released a job): look at the queue now."""
        self._wake.set()

    def wait_recorded(self, job_id: int, timeout: float) -> bool:
        """Wait up to `timeout` s until job `job_id`, if the printer took it, is recorded as
        printed; True once it is (at once for a job not sent)."""
        with self._sent_cv:
            return self._sent_cv.wait_for(lambda: job_id not in self._sent, timeout)

    # -- the worker thread -----------------------------------------------------------------

    def _run(self) -> None:
        log.info("printer %s: worker started", self.name)
        try:
            while not self._stopping.is_set():
                # Cleared before the queue is read: a notify() from now on is never missed.
                self._wake.clear()
                try:
                    with self.job_in_hand:
                        pause = self._step()
                except Exception as err:
                    # The database is away, or a printer driver has a bug: keep the thread
                    # alive and try again later — the jobs are safe in their rows.
                    if not self.availability.lost(err, f"printer {self.name}"):
                        log.exception("printer %s: print worker step failed", self.name)
                    pause = self._next_delay()
                if pause is not None and not self._stopping.is_set():
                    self._wake.wait(pause)
        finally:
            self._close_quietly()
            log.info("printer %s: worker stopped", self.name)

    def _step(self) -> float | None:
        """Do one thing; return how long to wait before the next (None: go on at once)."""
        # Copied before the read: a job leaves `_sent` only after its record committed, so a
        # job not skipped here reads as printed.
        with self._sent_cv:
            sent = tuple(self._sent)
            if len(sent) >= MAX_UNRECORDED:
                self._sent_cv.wait_for(
                    lambda: len(self._sent) < MAX_UNRECORDED, timeout=self.idle_recheck_s
                )
                return None
        for job_id in tuple(self._unsent):  # back to the queue first: they did not print
            with self.store.write() as conn:
                print_queue.mark_failed(conn, job_id, describe(self._status))
            self._unsent.discard(job_id)
        with self.store.read() as conn:
            # Two: whether another waits tells if the queue must be read again after this job.
            upcoming = print_queue.next_jobs(conn, self.name, limit=2, skip=sent)
        job = upcoming[0] if upcoming else None
        if job is None or not self._looked_for_interrupted:
            self._hold_interrupted(sent)
        if job is None:
            if not self._status.state.can_print:
                # Nothing to print, but the kiosk still shows the trouble: see when it ends.
                status = self._ask_status()
                self._close_quietly()  # no job follows this status request on its connection
                self._announce(status)
                if not status.state.can_print:
                    return self._next_delay()
            self._delay = self.backoff_min_s
            return self.idle_recheck_s
        if self._too_old(job):
            self._hold_stale(job)
            return None
        status = self._ask_status()
        if not status.state.can_print:
            self._failed(job, status)
            return self._next_delay()
        # Durable before the first byte goes: after a crash this job is held, not sent again.
        # Unsent until that commit is known to have taken (a cut answer leaves it `sending`).
        self._unsent.add(job.id)
        with self.store.write() as conn:
            sending = print_queue.start_sending(conn, job.id)
        self._unsent.discard(job.id)
        if not sending:
            return None  # not queued any more (a person took it): read the queue again
        try:
            self.printer.send(job.payload)
        except PrinterError as err:
            self._failed_send(job, err.status)
            return self._next_delay()
        except Exception as err:
            log.exception("printer %s: send failed unexpectedly", self.name)
            self._close_quietly()
            failed = PrinterStatus(PrinterState.ERROR, f"{type(err).__name__}: {err}")
            self._failed_send(job, failed)
            return self._next_delay()
        with self._sent_cv:
            self._sent[job.id] = job
            self._sent_cv.notify_all()
        self._delay = self.backoff_min_s
        self._announce(status)
        # The queue held nothing more: a job queued since has woken us (notify), so no read of
        # an empty queue competes with the next job's commit for the CPU.
        return None if len(upcoming) > 1 else self.idle_recheck_s

    def _close_quietly(self) -> None:
        try:
            self.printer.close()
        except Exception:
            log.exception("printer %s: close failed", self.name)

    def _ask_status(self) -> PrinterStatus:
        try:
            return self.printer.status()
        except PrinterError as err:
            return err.status
        except Exception as err:
            log.exception("printer %s: status failed unexpectedly", self.name)
            return PrinterStatus(PrinterState.ERROR, f"{type(err).__name__}: {err}")

    def _too_old(self, job: PrintJob) -> bool:
        return self.max_job_age is not None and utcnow() - job.created_at > self.max_job_age

    def _hold_stale(self, job: PrintJob) -> None:
        age = int((utcnow() - job.created_at).total_seconds() // 60)
        reason = sentence(
            "Waits for a person: it would print long after it was asked for ({age} min ago).",
            age=age,
        )
        try:
            with self.store.write() as conn:
                print_queue.hold(conn, job.id, reason)
        except PrintQueueError:
            return  # a person dropped or held it in the meantime
        log.warning("printer %s: job %d held, %d min old", self.name, job.id, age)
        self._publish_job(job, JobState.HELD, reason)

    # -- the recorder thread ---------------------------------------------------------------

    def _record_loop(self) -> None:
        delay = self.backoff_min_s
        while True:
            with self._sent_cv:
                self._sent_cv.wait_for(lambda: self._sent or self._recorder_stopping)
                jobs = list(self._sent.values())
                stopping = self._recorder_stopping
            if not jobs:
                return
            try:
                self._record_printed(jobs)
            except Exception as err:
                # The database is busy or away: the jobs stay sent-but-unrecorded (never sent
                # again) and are recorded as soon as it answers.
                if not self.availability.lost(err, f"printer {self.name}, recording printed jobs"):
                    log.exception(
                        "printer %s: recording %d printed jobs failed", self.name, len(jobs)
                    )
                if stopping:
                    log.warning(
                        "printer %s: jobs %s were printed but could not be recorded; they print "
                        "again after the restart",
                        self.name,
                        ", ".join(str(job.id) for job in jobs),
                    )
                    return
                with self._sent_cv:
                    self._sent_cv.wait_for(lambda: self._recorder_stopping, delay)
                delay = min(delay * 2, self.backoff_max_s)
                continue
            delay = self.backoff_min_s
            with self._sent_cv:
                for job in jobs:
                    del self._sent[job.id]
                self._sent_cv.notify_all()

    def _record_printed(self, jobs: list[PrintJob]) -> None:
        """Record `jobs` (accepted by the printer) as printed, in one transaction; announce."""
        marked: set[int] = set()
        gone: set[int] = set()
        # Not waited to the disk (no fsync): a power cut that loses this record prints these
        # jobs again after the restart — the at-least-once this module promises anyway, as for
        # a cut between send and commit. The fsync cost the next job milliseconds (issue 3).
        with self.store.write(durable=False) as conn:
            for job in jobs:
                try:
                    if print_queue.mark_printed(conn, job.id):
                        marked.add(job.id)
                except PrintQueueError:
                    gone.add(job.id)  # purged meanwhile: nothing left to record it on
        for job in jobs:
            if job.id in gone:
                log.warning(
                    "printer %s: printed job %d is no longer in the queue", self.name, job.id
                )
                continue
            log.debug("printer %s: job %d printed (%d bytes)", self.name, job.id, len(job.payload))
            self._publish_job(job, JobState.PRINTED)
            sets_marker = job.document in DOCUMENT_KINDS_WITH_MARKER and job.id in marked
            if sets_marker and job.order_id is not None:
                self.bus.publish(OrderChanged(job.order_id, "printed"))

    # -- back on the worker thread ---------------------------------------------------------

    def _failed_send(self, job: PrintJob, status: PrinterStatus) -> None:
        self._unsent.add(job.id)  # until its return to the queue commits
        self._failed(job, status)
        self._unsent.discard(job.id)

    def _hold_interrupted(self, sent: tuple[int, ...]) -> None:
        """Hold the jobs left `sending` that this worker does not know: their send was cut off
        by a kill or a power cut, or their "printed" record lost with the database."""
        known = {*sent, *self._unsent}
        with self.store.read() as conn:  # a write only when there is one: the bench's lock
            left = print_queue.jobs(conn, self.name, [JobState.SENDING])
        held = []
        if any(job.id not in known for job in left):
            with self.store.write() as conn:
                held = print_queue.hold_interrupted(conn, self.name, INTERRUPTED, skip=known)
        self._looked_for_interrupted = True
        for job in held:
            log.warning("printer %s: job %d held: %s", self.name, job.id, INTERRUPTED)
            self._publish_job(job, JobState.HELD, INTERRUPTED)

    def _failed(self, job: PrintJob, status: PrinterStatus) -> None:
        reason = describe(status)
        with self.store.write() as conn:
            print_queue.mark_failed(conn, job.id, reason)
        self._announce(status)

    def _announce(self, status: PrinterStatus) -> None:
        self._status = status
        if status == self._announced:
            return
        with self._sent_cv:
            sent = tuple(self._sent)
        with self.store.read() as conn:
            waiting = print_queue.count_waiting(conn, self.name, skip=sent)
        self._announced = status
        if status.state.can_print:
            log.info("printer %s: %s", self.name, status.state.value)
        else:
            log.warning("printer %s: %s (%d jobs wait)", self.name, describe(status), waiting)
        self.bus.publish(PrinterStateChanged(self.name, status.state, describe(status), waiting))

    def _publish_job(self, job: PrintJob, state: JobState, detail: str = "") -> None:
        self.bus.publish(
            PrintJobChanged(job.id, job.printer, job.document, state, job.order_id, detail)
        )

    def _next_delay(self) -> float:
        delay = self._delay
        self._delay = min(delay * 2, self.backoff_max_s)
        return delay
