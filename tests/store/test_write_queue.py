"""`store.write_queue.WriteQueue`: the writers of one process take SQLite's one write lock in
the order they came, and a background writer (a pack-script run) lets the others go first;
`store.write_intent`: a writer of another process that waits is seen."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from stationd.store import print_queue as pq
from stationd.store.database import Store
from stationd.store.tables import print_jobs
from stationd.store.write_queue import WriteQueue


def test_a_writer_that_lets_go_and_wants_it_again_queues_behind_the_one_waiting():
    queue = WriteQueue()
    order: list[str] = []
    assert queue.acquire(5)  # the run holds it
    waiter = threading.Thread(
        target=lambda: (queue.acquire(5), order.append("scan"), queue.release())
    )
    waiter.start()
    while not queue.waiting:
        time.sleep(0.001)
    queue.release()
    assert queue.acquire(5)  # at once again: the scan goes first all the same
    order.append("run")
    queue.release()
    waiter.join(5)
    assert order == ["scan", "run"]


def test_a_background_writer_goes_after_every_other_writer_waiting():
    queue = WriteQueue()
    order: list[str] = []
    assert queue.acquire(5)
    background = threading.Thread(
        target=lambda: (
            queue.acquire(5, background=True),
            order.append("run"),
            queue.release(),
        )
    )
    background.start()
    time.sleep(0.01)  # the run waits first …
    scans = [
        threading.Thread(target=lambda n=n: (queue.acquire(5), order.append(n), queue.release()))
        for n in ("scan 1", "scan 2")
    ]
    for scan in scans:  # … and the scans come after it
        scan.start()
        while queue.waiting < scans.index(scan) + 1:
            time.sleep(0.001)
    queue.release()
    for thread in (*scans, background):
        thread.join(5)
    assert order == ["scan 1", "scan 2", "run"]


def test_the_write_queue_is_reentrant_and_a_waiter_that_gives_up_says_so():
    queue = WriteQueue()
    assert queue.acquire(5) and queue.acquire(5)  # nested write in the same thread
    queue.release()
    gave_up: list[bool] = []
    other = threading.Thread(target=lambda: gave_up.append(queue.acquire(0.05)))
    other.start()
    other.join(5)
    assert gave_up == [False] and queue.waiting == 0
    queue.release()
    assert queue.acquire(0.05)
    queue.release()


def test_a_writer_of_another_process_waiting_is_seen_and_goes_on_when_the_lock_is_free(
    sqlite_store,
):
    # Another Store on the same file stands for another process: it has its own write queue.
    other = Store(sqlite_store.url, busy_timeout_s=30)
    holding, release, done = threading.Event(), threading.Event(), []

    def holder() -> None:
        with sqlite_store.write() as conn:
            pq.enqueue(conn, "receipt", "receipt", b"first")
            holding.set()
            assert release.wait(10)

    def waiter() -> None:
        with other.write() as conn:
            pq.enqueue(conn, "receipt", "receipt", b"second")
        done.append(True)

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    threads[0].start()
    assert holding.wait(10)
    assert sqlite_store.writers_waiting == 0
    threads[1].start()
    for _ in range(5000):
        if sqlite_store.writers_waiting:
            break
        time.sleep(0.001)
    assert sqlite_store.writers_waiting == 1 and not done  # seen waiting, not gone ahead
    release.set()
    for thread in threads:
        thread.join(10)
    other.dispose()
    assert done and sqlite_store.writers_waiting == 0
    with sqlite_store.read() as conn:
        payloads = conn.execute(select(print_jobs.c.payload).order_by(print_jobs.c.id)).scalars()
        assert list(payloads) == [b"first", b"second"]
