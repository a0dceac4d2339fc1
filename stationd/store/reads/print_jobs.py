"""What the devices page shows of the printers' queues (R20)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from stationd.store import print_queue
from stationd.store.database import Store
from stationd.store.print_queue import JobState, PrintJob


@dataclass(frozen=True)
class PrinterJobs:
    """One printer's jobs not printed yet (oldest first) and the last ones done (newest first)."""

    waiting: list[PrintJob]
    finished: list[PrintJob]


def print_job(store: Store, job_id: int) -> PrintJob | None:
    with store.read() as conn:
        return print_queue.get_job(conn, job_id)


def last_printed_at(store: Store) -> dict[str, datetime]:
    """When each printer last printed a job."""
    with store.read() as conn:
        return print_queue.last_printed(conn)


def printer_jobs(store: Store, printers: Iterable[str], *, finished: int) -> dict[str, PrinterJobs]:
    """For each printer, its queued and held jobs and its last `finished` printed or dropped."""
    with store.read() as conn:
        return {
            name: PrinterJobs(
                print_queue.jobs(conn, name, [JobState.QUEUED, JobState.SENDING, JobState.HELD]),
                print_queue.jobs(
                    conn,
                    name,
                    [JobState.PRINTED, JobState.DROPPED],
                    limit=finished,
                    newest_first=True,
                ),
            )
            for name in printers
        }


def print_jobs_changes(store: Store) -> object:
    """A value that changes whenever any print job does."""
    with store.read() as conn:
        return print_queue.change_mark(conn)
