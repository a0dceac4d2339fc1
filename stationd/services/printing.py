"""Printing: one worker thread per printer draining that printer's durable queue (R20, R10, R16).

A use case puts a print job in the queue with `PrintService.submit(conn, kind, payload,
order_id)`, inside its own transaction; the service routes the job to a printer by document
kind and wakes that printer's worker once the transaction committed. The worker alone owns its
printer (ARCHITECTURE: one owner per device) and

- takes the oldest queued job of its printer, asks the printer how it is, sends the bytes and
  only then has the job recorded as printed (and R10's marker) in one transaction, by its
  recorder thread, while it goes on with the next job;
- when the printer can't print (offline, paper out, cover open…) records why on the job,
  announces the printer's state with the reason a person reads, and tries again by itself
  with a back-off (0.1 s doubling up to `backoff_max_s`; new work wakes it early);
- holds a job that has waited longer than `max_job_age_min` instead of printing it, so a
  backlog doesn't flood out after a paper refill: a person releases or drops it.

Workers share nothing but the database, so a dead printer never delays another one. A job is
printed at least once: if the power goes after the printer took the bytes but before the
commit that records it, it prints again after the restart — never zero times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, event

from stationd.clock import utcnow
from stationd.core.audit import JobAction, JobDropped, JobHeld, JobReleased, JobReprinted
from stationd.core.orders import Document, OrderRuleError
from stationd.core.text import sentence
from stationd.devices.printer import Printer, PrinterError, PrinterState, PrinterStatus
from stationd.events import Bus, Event, OrderChanged
from stationd.store import print_queue
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.print_queue import JobState, PrintJob, PrintQueueError

log = logging.getLogger(__name__)

#: Receipt-printer documents go to the printer named "receipt", shipping labels (R16) to
#: "label" — the routing a station gets when its config says nothing else.
DEFAULT_ROUTES: Mapping[str, str] = {
    Document.PICKLIST.value: "receipt",
    Document.RECEIPT.value: "receipt",
    Document.PICKLIST_RECEIPT.value: "receipt",
    Document.INVOICE.value: "receipt",
    "label": "label",
}

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
#: database is too busy to record them the worker sends no more, so a crash then prints again
#: only these, not the whole queue.
MAX_UNRECORDED = 8

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


class PrintRoutingError(OrderRuleError):
    """A document kind no printer is configured for; the message says which."""


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
        self._sent_cv = threading.Condition()
        self._recorder_stopping = False

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
                except Exception:
                    # The database is away, or a printer driver has a bug: keep the thread
                    # alive and try again later — the jobs are safe in their rows.
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
        with self.store.read() as conn:
            # Two: whether another waits tells if the queue must be read again after this job.
            upcoming = print_queue.next_jobs(conn, self.name, limit=2, skip=sent)
        job = upcoming[0] if upcoming else None
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
        try:
            self.printer.send(job.payload)
        except PrinterError as err:
            self._failed(job, err.status)
            return self._next_delay()
        except Exception as err:
            log.exception("printer %s: send failed unexpectedly", self.name)
            self._close_quietly()
            self._failed(job, PrinterStatus(PrinterState.ERROR, f"{type(err).__name__}: {err}"))
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
            except Exception:
                # The database is busy or away: the jobs stay sent-but-unrecorded (never sent
                # again) and are recorded as soon as it answers.
                log.exception("printer %s: recording %d printed jobs failed", self.name, len(jobs))
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


class PrintService:
    """The station's printers: routing by document kind, the workers, a person's queue actions.

    `workers` maps printer name to its worker; `routes` maps document kind (``picklist``,
    ``receipt``, ``picklist_receipt``, ``invoice``, ``label``…) to a printer name, e.g.
    `DEFAULT_ROUTES`. `station` names this station in the audit log of a person's actions;
    `action_wait_s` bounds how long a hold or drop waits for the job in a worker's hands.
    """

    def __init__(
        self,
        store: Store,
        bus: Bus,
        workers: Mapping[str, PrintWorker],
        routes: Mapping[str, str],
        *,
        station: str = "",
        action_wait_s: float = 5.0,
    ) -> None:
        for name, worker in workers.items():
            if worker.name != name:
                raise ValueError(f"the worker listed as {name!r} prints on {worker.name!r}")
        for kind, printer in routes.items():
            if printer not in workers:
                raise ValueError(
                    f"{kind!r} documents go to printer {printer!r}, which is not configured "
                    f"(printers: {', '.join(sorted(workers)) or 'none'})"
                )
        self.store = store
        self.bus = bus
        self.workers = dict(workers)
        self.routes = dict(routes)
        self.station = station
        self.action_wait_s = action_wait_s
        # Keys in the pooled connection's `info` for printers with jobs written in the open
        # transaction, and those whose transaction committed; per service, so two services on
        # one engine (tests) don't take each other's.
        self._pending_key = f"stationd.print.pending.{id(self)}"
        self._committed_key = f"stationd.print.committed.{id(self)}"
        # Now, before any thread uses the engine, and for the engine's life: SQLAlchemy's
        # event lists may not change while another thread's transaction walks them (a scan
        # handled at start raised "deque mutated during iteration"). Waking a stopped worker
        # does nothing.
        self._listen()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start every printer's worker (each is woken after a commit that queued it a job)."""
        for worker in self.workers.values():
            worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        for worker in self.workers.values():
            worker.stop(timeout)

    # -- queueing --------------------------------------------------------------------------

    def printer_for(self, document_kind: str) -> str:
        """The printer that prints `document_kind`; `PrintRoutingError` when none does."""
        try:
            return self.routes[str(document_kind)]
        except KeyError:
            raise PrintRoutingError(
                sentence(
                    "No printer is configured for {kind} documents (routed: {routed}).",
                    kind=repr(document_kind),
                    routed=", ".join(sorted(self.routes)) or "—",
                )
            ) from None

    def submit(
        self,
        conn: Connection,
        document_kind: str,
        payload: bytes,
        order_id: int | None = None,
    ) -> int:
        """Queue `payload` in the caller's transaction, on the printer for `document_kind`.

        Returns the job id. The job exists once the caller commits, and that printer's worker
        is woken right after the commit (when the connection goes back to the pool, or at the
        next transaction on it); a rolled-back job never existed and wakes nobody.
        """
        printer = self.printer_for(document_kind)
        job_id = print_queue.enqueue(conn, printer, str(document_kind), payload, order_id)
        conn.info.setdefault(self._pending_key, set()).add(printer)
        return job_id

    def notify(self, printer: str) -> None:
        """Wake `printer`'s worker: its queue has new work."""
        worker = self.workers.get(printer)
        if worker is not None:
            worker.notify()

    # -- a person's actions (the kiosk, the CLI) --------------------------------------------

    def hold(self, job_id: int, reason: str) -> None:
        """Keep a queued job from printing until it is released or dropped."""
        with self._job_not_in_hand(job_id):
            self._act(job_id, JobHeld, lambda conn: print_queue.hold(conn, job_id, reason))

    def release(self, job_id: int) -> None:
        """Let a held job print (now, whatever its age)."""
        self._act(job_id, JobReleased, lambda conn: print_queue.release(conn, job_id))

    def drop(self, job_id: int) -> None:
        """A queued or held job will not print."""
        with self._job_not_in_hand(job_id):
            self._act(job_id, JobDropped, lambda conn: print_queue.drop(conn, job_id))

    def reprint(self, job_id: int) -> int:
        """Queue a printed or dropped job's bytes again; returns the new job's id."""
        job = self._act(job_id, JobReprinted, lambda conn: print_queue.reprint(conn, job_id))
        return job.id

    def jobs(
        self,
        printer: str | None = None,
        states: Iterable[JobState | str] | None = None,
        *,
        order_id: int | None = None,
    ) -> list[PrintJob]:
        with self.store.read() as conn:
            return print_queue.jobs(conn, printer, states, order_id=order_id)

    def statuses(self) -> dict[str, PrinterStatus]:
        """Every printer's state as its worker last saw it."""
        return {name: worker.status for name, worker in self.workers.items()}

    @contextmanager
    def _job_not_in_hand(self, job_id: int) -> Iterator[None]:
        """Wait until the job's worker is between jobs, so a hold or drop can't race its send.

        A worker stuck inside a send or status call for longer than `action_wait_s` is not
        waited for further: the action goes ahead, and if those bytes do go out the job is
        recorded as printed all the same (it was).
        """
        with self.store.read() as conn:
            job = print_queue.get_job(conn, job_id)
        worker = self.workers.get(job.printer) if job is not None else None
        if worker is None:
            yield
            return
        deadline = time.monotonic() + self.action_wait_s
        got = worker.job_in_hand.acquire(timeout=self.action_wait_s)
        try:
            # Bytes that went out are recorded by the worker's recorder just after: wait for
            # that too, so the action finds the job printed rather than "still queued".
            worker.wait_recorded(job_id, max(0.0, deadline - time.monotonic()))
            yield
        finally:
            if got:
                worker.job_in_hand.release()

    def _act(
        self, job_id: int, kind: type[JobAction], action: Callable[[Connection], int | None]
    ) -> PrintJob:
        """Do a person's `action` on a job in one transaction with its audit event; announce it.

        `action` returns the id of a job it made (a reprint), or None. Returns the job as it is
        now (the new one for a reprint); `PrintQueueError` says why the action can't be done.
        """
        with self.store.write() as conn:
            new_id = action(conn)
            job = print_queue.get_job(conn, new_id if new_id is not None else job_id)
            if job is None:
                raise PrintQueueError(sentence("There is no print job {id}.", id=job_id))
            event = kind(job_id, job.printer, job.document, new_id)
            record_event(conn, event, station=self.station, order_id=job.order_id)
        self.bus.publish(
            PrintJobChanged(
                job.id, job.printer, job.document, job.state, job.order_id, job.last_error or ""
            )
        )
        if job.state is JobState.QUEUED:
            self.notify(job.printer)
        return job

    # -- waking workers after the commit ----------------------------------------------------

    def _listen(self) -> None:
        engine = self.store.engine
        hooks = (
            ("commit", self._on_commit),
            ("rollback", self._on_rollback),
            ("begin", self._on_begin),
            ("checkin", self._on_checkin),
        )
        for name, hook in hooks:
            event.listen(engine, name, hook)

    # SQLAlchemy's "commit" event comes *before* the database commits, so waking a worker
    # there would have it look for a job it can't see yet. The printers are noted at "commit"
    # and woken when the connection is checked in to the pool — after the commit — or when
    # the next transaction on the same connection begins.

    def _on_commit(self, conn: Connection) -> None:
        pending = conn.info.pop(self._pending_key, None)
        if pending:
            conn.info.setdefault(self._committed_key, set()).update(pending)

    def _on_rollback(self, conn: Connection) -> None:
        conn.info.pop(self._pending_key, None)

    def _on_begin(self, conn: Connection) -> None:
        self._wake(conn.info.pop(self._committed_key, None))

    def _on_checkin(self, _dbapi_conn: object, record: Any) -> None:
        if record is not None:
            record.info.pop(self._pending_key, None)
            self._wake(record.info.pop(self._committed_key, None))

    def _wake(self, printers: set[str] | None) -> None:
        for printer in printers or ():
            self.notify(printer)
