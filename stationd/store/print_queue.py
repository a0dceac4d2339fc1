"""The durable print queue: one queue of `print_jobs` rows per printer (R20, R10).

A job is written by `enqueue` in the caller's own transaction, beside the change that asked for
it, so a job exists exactly when that change committed — and, being a row, it survives a crash
or a power cut. A printer's worker (`services/print_worker.py`) takes the oldest queued job,
records it `sending` (committed to the disk) before its bytes go, and records it `printed` once
the printer took them. A job found `sending` whose worker no longer knows it — the station was
killed or lost its power in between, or the database lost the "printed" record — may or may
not have come out of the printer: `hold_interrupted` holds it for a person, who looks at the
printer and releases or drops it. Never printed twice by itself, never silently lost.

States (`JobState`):

- ``queued``: waits its turn; the only state a worker prints from.
- ``sending``: its bytes are going to the printer; `mark_failed` queues it again.
- ``held``: waits for a person to `release` it (back to queued) or `drop` it.
- ``printed``: the printer accepted every byte (`mark_printed`). `reprint` queues a new job.
- ``dropped``: a person decided it will not print. `reprint` can still bring it back.

`mark_failed` counts an attempt and keeps (or puts back) the job queued: it is retried by itself.

R10's "printed" marker (`printed_documents`) is set by `mark_printed`, in the same transaction
that makes the job `printed` — that is, once the printer accepted the bytes, not when the job
was queued: a pick list stuck behind an empty paper roll has not been printed, and the outbound
queue must not strike it through.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Update,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stationd.clock import utcnow
from stationd.core.orders import Document, printed_markers
from stationd.core.text import Text, sentence, text_data, text_from_data
from stationd.store.tables import orders, print_jobs, printed_documents

_PRINTER_MAX = print_jobs.c.printer.type.length
_DOCUMENT_MAX = print_jobs.c.document.type.length
_R10_DOCUMENTS = frozenset(d.value for d in Document)


class JobState(StrEnum):
    """Where a print job is; `queued` is the only state a worker prints from."""

    QUEUED = "queued"
    SENDING = "sending"  # its bytes are going to the printer (printed or not, recorded next)
    HELD = "held"  # waits for a person to release or drop it
    PRINTED = "printed"  # the printer accepted every byte
    DROPPED = "dropped"  # a person decided it will not print

    @property
    def finished(self) -> bool:
        return self in (JobState.PRINTED, JobState.DROPPED)


#: What each state is called in a sentence (the kiosk says it in the packer's language).
STATE_WORDS: dict[JobState, Text] = {
    JobState.QUEUED: sentence("queued"),
    JobState.SENDING: sentence("being sent"),
    JobState.HELD: sentence("held"),
    JobState.PRINTED: sentence("printed"),
    JobState.DROPPED: sentence("dropped"),
}


#: The states of a job asked for and not out yet.
_NOT_OUT = (JobState.QUEUED.value, JobState.SENDING.value, JobState.HELD.value)


class PrintQueueError(Exception):
    """A queue action that can't be done: no such job, or not in a state that allows it."""


@dataclass(frozen=True)
class PrintJob:
    """One row of the print queue."""

    id: int
    printer: str
    document: str
    order_id: int | None
    created_at: datetime
    state: JobState
    payload: bytes
    attempts: int
    last_error: str | None
    printed_at: datetime | None


def enqueue(
    conn: Connection,
    printer: str,
    document: str,
    payload: bytes,
    order_id: int | None = None,
    *,
    at: datetime | None = None,
) -> int:
    """Queue `payload` for `printer` in the caller's transaction; returns the job's id.

    `document` is the kind of document (``picklist``, ``receipt``, ``label``…); when it is one of
    the outbound queue's documents (R9) and `order_id` is given, printing it sets R10's marker.
    Nothing is sent here: the job exists once the caller commits, and the printer's worker has
    to be woken after that (`PrintService.submit` does both).
    """
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise TypeError(f"a print job's payload is bytes, not {type(payload).__name__}")
    if not payload:
        raise ValueError("a print job needs at least one byte to print")
    if not printer or len(printer) > _PRINTER_MAX:
        raise ValueError(f"a printer name is 1 to {_PRINTER_MAX} characters, not {printer!r}")
    if not document or len(document) > _DOCUMENT_MAX:
        raise ValueError(f"a document kind is 1 to {_DOCUMENT_MAX} characters, not {document!r}")
    row = {
        "printer": printer,
        "document": document,
        "order_id": order_id,
        "created_at": at or utcnow(),
        "state": JobState.QUEUED.value,
        "payload": bytes(payload),
        "attempts": 0,
    }
    return conn.execute(_statements().insert, row).scalar_one()


def get_job(conn: Connection, job_id: int) -> PrintJob | None:
    """The job with this id, or None."""
    row = conn.execute(_statements().by_id, {"job": job_id}).mappings().first()
    return _job(row) if row is not None else None


def next_job(conn: Connection, printer: str) -> PrintJob | None:
    """The oldest queued job of `printer` (the one to print next), or None."""
    found = next_jobs(conn, printer, limit=1)
    return found[0] if found else None


def next_jobs(
    conn: Connection, printer: str, *, limit: int, skip: Collection[int] = ()
) -> list[PrintJob]:
    """The `limit` oldest queued jobs of `printer`, in print order, leaving out `skip`: jobs
    the worker already sent whose "printed" is not committed yet."""
    params = {"printer": printer, "skip": list(skip), "limit": limit}
    return [_job(row) for row in conn.execute(_statements().next_jobs, params).mappings()]


@dataclass(frozen=True)
class _Statements:
    insert: Insert
    by_id: Select
    next_jobs: Select
    mark_printed: Update


@functools.cache
def _statements() -> _Statements:
    # The statements of a job's way from queue to printer, built once with bound parameters:
    # building one cost SQLAlchemy more CPU than running it (0.5 of 0.8 ms on the station's
    # 2-core box), and the print worker, its recorder and the next job's commit share the GIL
    # (issue 3).
    queued, printed = JobState.QUEUED.value, JobState.PRINTED.value
    return _Statements(
        insert=insert(print_jobs).returning(print_jobs.c.id),
        by_id=select(print_jobs).where(print_jobs.c.id == bindparam("job")),
        next_jobs=select(print_jobs)
        .where(
            print_jobs.c.printer == bindparam("printer"),
            print_jobs.c.state == queued,
            print_jobs.c.id.not_in(bindparam("skip", expanding=True)),
        )
        .order_by(print_jobs.c.id)
        .limit(bindparam("limit")),
        mark_printed=update(print_jobs)
        .where(print_jobs.c.id == bindparam("job"), print_jobs.c.state != printed)
        .values(state=printed, printed_at=bindparam("at"), last_error=None, last_error_data=None),
    )


def jobs(
    conn: Connection,
    printer: str | None = None,
    states: Iterable[JobState | str] | None = None,
    *,
    order_id: int | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[PrintJob]:
    """Jobs oldest first (or `newest_first`), of one printer (all if None), in `states` (all
    if None)."""
    query = select(print_jobs).order_by(print_jobs.c.id.desc() if newest_first else print_jobs.c.id)
    if printer is not None:
        query = query.where(print_jobs.c.printer == printer)
    if states is not None:
        query = query.where(print_jobs.c.state.in_([JobState(s).value for s in states]))
    if order_id is not None:
        query = query.where(print_jobs.c.order_id == order_id)
    if limit is not None:
        query = query.limit(limit)
    return [_job(row) for row in conn.execute(query).mappings()]


def count_waiting(conn: Connection, printer: str, *, skip: Collection[int] = ()) -> int:
    """How many jobs of `printer` are queued, being sent or held (not printed yet, not
    dropped), leaving out those in `skip` (sent, their "printed" not committed yet)."""
    query = (
        select(func.count())
        .select_from(print_jobs)
        .where(
            print_jobs.c.printer == printer,
            print_jobs.c.state.in_(_NOT_OUT),
        )
    )
    if skip:
        query = query.where(print_jobs.c.id.not_in(skip))
    return conn.execute(query).scalar_one()


def waiting_documents(conn: Connection, order_ids: Iterable[int]) -> dict[int, set[Document]]:
    """R10: per order, the markers its outbound-queue documents will set that are queued, being
    sent or held at a printer — asked for, not out yet. Orders with none are left out."""
    ids = list(order_ids)
    if not ids:
        return {}
    rows = conn.execute(
        select(print_jobs.c.order_id, print_jobs.c.document).where(
            print_jobs.c.order_id.in_(ids),
            print_jobs.c.state.in_(_NOT_OUT),
            print_jobs.c.document.in_(sorted(_R10_DOCUMENTS)),
        )
    )
    waiting: dict[int, set[Document]] = {}
    for order_id, document in rows:
        waiting.setdefault(order_id, set()).update(printed_markers(Document(document)))
    return waiting


def first_printed(conn: Connection, order_id: int, document: Document) -> datetime | None:
    """When `document` of `order_id` was first printed (None: never): a reprint of an invoice
    keeps the date it was issued on."""
    return conn.execute(
        select(printed_documents.c.first_at).where(
            printed_documents.c.order_id == order_id,
            printed_documents.c.document == document.value,
        )
    ).scalar()


def mark_printed(conn: Connection, job_id: int, *, at: datetime | None = None) -> bool:
    """The printer accepted every byte of the job: it is `printed` and R10's marker is set.

    Whatever state the job was in — a person may have held or dropped it while its bytes were
    already on the wire — it went out, so it is recorded as printed. Returns False (and changes
    nothing, so no marker counts twice) when it was recorded as printed before.
    """
    at = at or utcnow()
    job = get_job(conn, job_id)
    if job is None:
        raise PrintQueueError(sentence("There is no print job {id}.", id=job_id))
    done = conn.execute(_statements().mark_printed, {"job": job_id, "at": at}).rowcount
    if not done:
        return False
    if job.order_id is not None and job.document in _R10_DOCUMENTS:
        _set_printed_markers(conn, job.order_id, Document(job.document), at)
    return True


def mark_failed(conn: Connection, job_id: int, error: str) -> None:
    """An attempt to print a queued (or sending) job failed: count it and keep `error` (a core
    sentence stays translatable: `PrintJob.last_error` is that sentence again); it is queued.

    A job a person held or dropped in the meantime is left alone, so the reason they gave is
    not overwritten by the printer's trouble.
    """
    conn.execute(
        update(print_jobs)
        .where(
            print_jobs.c.id == job_id,
            print_jobs.c.state.in_([JobState.QUEUED.value, JobState.SENDING.value]),
        )
        .values(state=JobState.QUEUED.value, attempts=print_jobs.c.attempts + 1, **_error(error))
    )


def start_sending(conn: Connection, job_id: int) -> bool:
    """Record that a queued job's bytes go to the printer now; False (nothing changed) when it
    is not queued any more. Commit it durably before the first byte goes: it is what keeps a
    job whose fate a crash cut off from printing a second time (`hold_interrupted`)."""
    return bool(
        conn.execute(
            update(print_jobs)
            .where(print_jobs.c.id == job_id, print_jobs.c.state == JobState.QUEUED.value)
            .values(state=JobState.SENDING.value)
        ).rowcount
    )


def hold_interrupted(
    conn: Connection, printer: str, reason: str, *, skip: Collection[int] = ()
) -> list[PrintJob]:
    """Hold `printer`'s jobs left `sending` — but `skip`, the ones its worker still knows —
    for a person, with `reason`: their bytes may have reached the printer or not. Returns them
    as they were."""
    held = []
    for job in jobs(conn, printer, [JobState.SENDING]):
        if (
            job.id not in skip
            and conn.execute(
                update(print_jobs)
                .where(print_jobs.c.id == job.id, print_jobs.c.state == JobState.SENDING.value)
                .values(state=JobState.HELD.value, **_error(reason))
            ).rowcount
        ):
            held.append(job)
    return held


def hold(conn: Connection, job_id: int, reason: str) -> None:
    """Keep a queued job from printing until a person releases or drops it; `reason` says why.

    The reason is kept in `last_error` (and, a core sentence, in `last_error_data`), where the
    kiosk shows why a job doesn't print, in the reader's language.
    """
    _move(conn, job_id, (JobState.QUEUED, JobState.HELD), JobState.HELD, **_error(reason))


def release(conn: Connection, job_id: int, *, at: datetime | None = None) -> None:
    """A person lets a held job print after all (a queued job stays queued).

    Releasing is asking for the print again, now: `created_at` becomes the release time, so the
    worker's "too old to print" check doesn't hold it straight back. The job keeps its place in
    the queue (jobs print in id order).
    """
    _move(
        conn,
        job_id,
        (JobState.HELD, JobState.QUEUED),
        JobState.QUEUED,
        only_from_other=True,
        created_at=at or utcnow(),
        **_error(None),
    )


def drop(conn: Connection, job_id: int) -> None:
    """A person decides a queued or held job will not print (a dropped job stays dropped)."""
    _move(
        conn,
        job_id,
        (JobState.QUEUED, JobState.HELD, JobState.DROPPED),
        JobState.DROPPED,
        only_from_other=True,
    )


def reprint(conn: Connection, job_id: int, *, at: datetime | None = None) -> int:
    """Queue the same bytes again on the same printer as a new job; returns its id.

    Only a printed or dropped job can be reprinted: one that is still queued or held would come
    out twice — release that one instead.
    """
    job = get_job(conn, job_id)
    if job is None:
        raise PrintQueueError(sentence("There is no print job {id}.", id=job_id))
    if not job.state.finished:
        raise PrintQueueError(
            sentence(
                "Print job {id} is {state} and has not printed yet: release it instead of "
                "printing it twice.",
                id=job_id,
                state=STATE_WORDS[job.state],
            )
        )
    return enqueue(conn, job.printer, job.document, job.payload, job.order_id, at=at)


def purge_finished(conn: Connection, before: datetime) -> int:
    """Delete printed and dropped jobs created before `before`; returns how many went."""
    return conn.execute(
        delete(print_jobs).where(
            print_jobs.c.state.in_([JobState.PRINTED.value, JobState.DROPPED.value]),
            print_jobs.c.created_at < before,
        )
    ).rowcount


def _error(error: str | None) -> dict[str, str | None]:
    # The English for logs and old readers, and the sentence's data for the kiosk to say it in
    # the packer's language.
    return {"last_error": error, "last_error_data": text_data(error)}


def _move(
    conn: Connection,
    job_id: int,
    allowed: tuple[JobState, ...],
    to: JobState,
    *,
    only_from_other: bool = False,
    **values: object,
) -> None:
    """Put the job in state `to` when it is in one of `allowed`; raise otherwise.

    With `only_from_other`, a job already in `to` is left as it is (the action is idempotent).
    The condition is in the UPDATE itself, so a worker or another person acting at the same
    moment can't be overwritten.
    """
    sources = [s.value for s in allowed if not (only_from_other and s is to)]
    done = conn.execute(
        update(print_jobs)
        .where(print_jobs.c.id == job_id, print_jobs.c.state.in_(sources))
        .values(state=to.value, **values)
    ).rowcount
    if done:
        return
    job = get_job(conn, job_id)
    if job is None:
        raise PrintQueueError(sentence("There is no print job {id}.", id=job_id))
    if only_from_other and job.state is to:
        return
    able = [STATE_WORDS[s] for s in allowed if s is not to]
    raise PrintQueueError(
        sentence(
            "Print job {id} is {state}; it can't become {to} (only a {able} job can).",
            id=job_id,
            state=STATE_WORDS[job.state],
            to=STATE_WORDS[to],
            able=able[0] if len(able) == 1 else sentence("{a} or {b}", a=able[0], b=able[1]),
        )
    )


def _set_printed_markers(conn: Connection, order_id: int, document: Document, at: datetime) -> None:
    # A job can outlive its order (the order id is not a foreign key on print_jobs): the bytes
    # went out all the same, and the print must still be recorded, so no marker, no error.
    if conn.execute(select(orders.c.id).where(orders.c.id == order_id)).first() is None:
        return
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    for marker in printed_markers(document):
        conn.execute(
            dialect_insert(printed_documents)
            .values(order_id=order_id, document=marker.value, first_at=at, last_at=at, times=1)
            .on_conflict_do_update(
                index_elements=[printed_documents.c.order_id, printed_documents.c.document],
                set_={"last_at": at, "times": printed_documents.c.times + 1},
            )
        )


def _job(row) -> PrintJob:  # type: ignore[no-untyped-def]
    return PrintJob(
        id=row["id"],
        printer=row["printer"],
        document=row["document"],
        order_id=row["order_id"],
        created_at=row["created_at"],
        state=JobState(row["state"]),
        payload=bytes(row["payload"]),
        attempts=row["attempts"],
        last_error=row["last_error"] and text_from_data(row["last_error_data"], row["last_error"]),
        printed_at=row["printed_at"],
    )
