"""`store.write_queue.WriteQueue`: the writers of one process take SQLite's one write lock in
the order they came, and a background writer (a pack-script run) lets the others go first."""

from __future__ import annotations

import threading
import time

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
