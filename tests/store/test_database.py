"""`Store.write`: writers of one process queue on a lock, not in SQLite's busy handler, and a
write that need not be durable commits without leaving its connection less durable."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from stationd.store import print_queue as pq
from stationd.store.tables import print_jobs


def test_a_waiting_sqlite_writer_goes_on_as_soon_as_the_other_commits(sqlite_store):
    # SQLite's busy handler sleeps 1, 2, 5 … 50, 100 ms between tries: a writer that came 10 ms
    # into a 350 ms transaction would try again ~440 ms in, ~90 ms after the lock was free.
    held_s = 0.35
    inside, ended_at, committed_at = threading.Event(), [], []

    def holder() -> None:
        with sqlite_store.write() as conn:
            pq.enqueue(conn, "receipt", "receipt", b"first")
            inside.set()
            time.sleep(held_s)
        ended_at.append(time.monotonic())

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(5)
    time.sleep(0.01)
    with sqlite_store.write() as conn:
        pq.enqueue(conn, "receipt", "receipt", b"second")
    committed_at.append(time.monotonic())
    thread.join(5)
    assert committed_at[0] - ended_at[0] < 0.04
    with sqlite_store.read() as conn:
        assert conn.execute(
            select(print_jobs.c.payload).order_by(print_jobs.c.id)
        ).scalars().all() == [
            b"first",
            b"second",
        ]


def test_a_write_that_need_not_be_durable_commits_and_leaves_its_connection_durable(store):
    with store.write(durable=False) as conn:
        job_id = pq.enqueue(conn, "receipt", "receipt", b"x")
    with store.read() as conn:
        assert pq.get_job(conn, job_id) is not None
        if store.is_sqlite:
            # 2 is FULL; every pooled connection is FULL again once such a write is over
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        else:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_a_failed_write_that_need_not_be_durable_rolls_back_and_leaves_it_durable(store):
    try:
        with store.write(durable=False) as conn:
            pq.enqueue(conn, "receipt", "receipt", b"x")
            raise RuntimeError("the use case failed")
    except RuntimeError:
        pass
    with store.read() as conn:
        assert pq.jobs(conn) == []
        if store.is_sqlite:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
