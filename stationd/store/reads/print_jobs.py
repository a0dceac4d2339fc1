"""What the devices page shows of the printers' queues (R20)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from stationd.store import print_queue
from stationd.store.database import Store
from stationd.store.print_queue import JobState, PrintJob
from stationd.store.tables import print_jobs


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
        return last_printed(conn)


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
        return change_mark(conn)


def last_printed(conn: Connection) -> dict[str, datetime]:
    """Each printer's latest printed job: when it last took bytes (printers without one are
    left out)."""
    rows = conn.execute(
        select(print_jobs.c.printer, func.max(print_jobs.c.printed_at))
        .where(print_jobs.c.state == JobState.PRINTED.value)
        .group_by(print_jobs.c.printer)
    )
    return {printer: at for printer, at in rows if at is not None}


def change_mark(conn: Connection) -> tuple[object, ...]:
    """A value that changes whenever any job is added, changes state or fails an attempt: a
    screen compares it to see whether it must draw the queues again."""
    return tuple(
        conn.execute(
            select(
                print_jobs.c.state,
                func.count(),
                func.max(print_jobs.c.id),
                func.sum(print_jobs.c.attempts),
            )
            .group_by(print_jobs.c.state)
            .order_by(print_jobs.c.state)
        ).all()
    )


def jobs_by_state(conn: Connection) -> list[tuple[str, str, int, datetime]]:
    """Per printer and state: how many jobs are kept and when the oldest was queued (the
    station's /metrics: jobs by state, queue depth and the oldest waiting job's age)."""
    query = select(
        print_jobs.c.printer, print_jobs.c.state, func.count(), func.min(print_jobs.c.created_at)
    ).group_by(print_jobs.c.printer, print_jobs.c.state)
    return [(printer, state, n, oldest) for printer, state, n, oldest in conn.execute(query)]
