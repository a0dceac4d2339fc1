"""Printing: routing print jobs by document kind to the printers' queues (R20, R10, R16).

A use case puts a print job in the queue with `PrintService.submit(conn, kind, payload,
order_id)`, inside its own transaction; the service routes the job to a printer by document
kind and wakes that printer's worker (`services.print_worker.PrintWorker`) once the
transaction committed (`store.commit_hooks.AfterCommit`). A person's actions on a job (hold,
release, drop, reprint) go through the service too, each with its audit event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from stationd.core.audit import JobAction, JobDropped, JobHeld, JobReleased, JobReprinted
from stationd.core.orders import Document, OrderRuleError
from stationd.core.text import sentence
from stationd.devices.printers.printer import PrinterStatus
from stationd.events import Bus
from stationd.services.print_worker import (
    MAX_UNRECORDED,
    STATE_TEXT,
    PrinterStateChanged,
    PrintJobChanged,
    PrintWorker,
    describe,
)
from stationd.store import print_queue
from stationd.store.audit import record_event
from stationd.store.commit_hooks import AfterCommit
from stationd.store.database import Store
from stationd.store.print_queue import JobState, PrintJob, PrintQueueError

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)

# The worker's names are read from here too (the station, the kiosk, the device watch).
__all__ = [
    "DEFAULT_ROUTES",
    "MAX_UNRECORDED",
    "STATE_TEXT",
    "PrintJobChanged",
    "PrintRoutingError",
    "PrintService",
    "PrintWorker",
    "PrinterStateChanged",
    "describe",
]

#: Receipt-printer documents go to the printer named "receipt", shipping labels (R16) to
#: "label" — the routing a station gets when its config says nothing else.
DEFAULT_ROUTES: Mapping[str, str] = {
    Document.PICKLIST.value: "receipt",
    Document.RECEIPT.value: "receipt",
    Document.PICKLIST_RECEIPT.value: "receipt",
    Document.INVOICE.value: "receipt",
    "label": "label",
}


class PrintRoutingError(OrderRuleError):
    """A document kind no printer is configured for; the message says which."""


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
        # Wakes the workers whose printers got jobs, once the transaction that queued them
        # committed; a rolled-back job wakes nobody.
        self._after_commit = AfterCommit(store.engine, self._wake)

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
        self._after_commit.note(conn, printer)
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

    def _wake(self, printers: Iterable[str]) -> None:
        for printer in printers:
            self.notify(printer)
