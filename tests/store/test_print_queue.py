"""R20 / R10: the durable print queue in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from stationd.store import print_queue as pq
from stationd.store.database import Store
from stationd.store.orders import load_order, outbound_queue
from stationd.store.print_queue import JobState, PrintQueueError
from stationd.store.tables import print_jobs, printed_documents

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ESC_POS = b"\x1b@\x1bt\x10Hall\xe5 \xf6\xe4\x00\xff\n\x1dVA\x00"  # NUL and 0xFF included


def enqueue(store, printer="receipt", document="receipt", payload=ESC_POS, order_id=None, **kw):
    with store.write() as conn:
        return pq.enqueue(conn, printer, document, payload, order_id, **kw)


def job(store, job_id):
    with store.read() as conn:
        return pq.get_job(conn, job_id)


def markers(store, order_id):
    with store.read() as conn:
        return {
            r.document: r.times
            for r in conn.execute(
                select(printed_documents).where(printed_documents.c.order_id == order_id)
            )
        }


def test_r20_enqueue_keeps_the_exact_bytes_as_a_queued_job(store):
    job_id = enqueue(store, order_id=7, at=T0)
    got = job(store, job_id)
    assert got.payload == ESC_POS
    assert (got.printer, got.document, got.order_id) == ("receipt", "receipt", 7)
    assert (got.state, got.attempts, got.last_error, got.printed_at) == (
        JobState.QUEUED,
        0,
        None,
        None,
    )
    assert got.created_at == T0


def test_r20_enqueue_inside_a_rolled_back_transaction_leaves_no_job(store):
    with pytest.raises(RuntimeError), store.write() as conn:
        pq.enqueue(conn, "receipt", "receipt", b"x")
        raise RuntimeError("the change that asked for the print failed")
    with store.read() as conn:
        assert conn.execute(select(print_jobs)).all() == []


def test_enqueue_refuses_what_could_never_print(store):
    with store.write() as conn:
        with pytest.raises(ValueError, match="at least one byte"):
            pq.enqueue(conn, "receipt", "receipt", b"")
        with pytest.raises(TypeError, match="bytes"):
            pq.enqueue(conn, "receipt", "receipt", "text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="printer name"):
            pq.enqueue(conn, "", "receipt", b"x")
        with pytest.raises(ValueError, match="document kind"):
            pq.enqueue(conn, "receipt", "x" * 21, b"x")


def test_r20_next_job_is_the_oldest_queued_one_of_that_printer_only(store):
    first = enqueue(store, payload=b"1")
    enqueue(store, printer="label", document="label", payload=b"L")
    second = enqueue(store, payload=b"2")
    with store.write() as conn:
        assert pq.next_job(conn, "receipt").id == first
        pq.mark_printed(conn, first)
        assert pq.next_job(conn, "receipt").id == second
        pq.hold(conn, second, "a person looks at it")
        assert pq.next_job(conn, "receipt") is None
        assert pq.next_job(conn, "label").payload == b"L"
        assert pq.next_job(conn, "nobody") is None


def test_r20_queued_jobs_survive_a_restart(store):
    job_id = enqueue(store)
    store.dispose()  # the process ends; a new one opens the same database
    again = Store(store.url)
    try:
        with again.read() as conn:
            got = pq.next_job(conn, "receipt")
        assert (got.id, got.state, got.payload) == (job_id, JobState.QUEUED, ESC_POS)
    finally:
        again.dispose()


def test_r20_a_failed_attempt_is_counted_and_the_job_stays_queued(store):
    job_id = enqueue(store)
    with store.write() as conn:
        pq.mark_failed(conn, job_id, "paper_out: The printer is out of paper.")
        pq.mark_failed(conn, job_id, "offline: The printer does not answer.")
    got = job(store, job_id)
    assert (got.state, got.attempts, got.last_error) == (
        JobState.QUEUED,
        2,
        "offline: The printer does not answer.",
    )


def test_r10_marker_is_set_once_printed_not_when_queued(store, shop):
    shop.product("A")
    order_id = shop.order([("A", 1)], status="packing")
    job_id = enqueue(store, document="picklist", order_id=order_id)
    assert markers(store, order_id) == {}
    at = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    with store.write() as conn:
        assert pq.mark_printed(conn, job_id, at=at) is True
    assert markers(store, order_id) == {"picklist": 1}
    got = job(store, job_id)
    assert (got.state, got.printed_at) == (JobState.PRINTED, at)
    with store.read() as conn:
        assert load_order(conn, order_id).printed == {"picklist": at}
        assert outbound_queue(conn)[0].printed == frozenset({"picklist"})


def test_r10_pick_list_and_receipt_combined_marks_both(store, shop):
    shop.product("A")
    order_id = shop.order([("A", 1)], status="packing")
    job_id = enqueue(store, document="picklist_receipt", order_id=order_id)
    with store.write() as conn:
        pq.mark_printed(conn, job_id)
    assert markers(store, order_id) == {"picklist": 1, "receipt": 1}


def test_r10_a_reprint_counts_again_but_recording_one_print_twice_does_not(store, shop):
    shop.product("A")
    order_id = shop.order([("A", 1)], status="packing")
    first_at, again_at = T0, T0 + timedelta(minutes=3)
    job_id = enqueue(store, document="receipt", order_id=order_id)
    with store.write() as conn:
        assert pq.mark_printed(conn, job_id, at=first_at)
        assert pq.mark_printed(conn, job_id, at=again_at) is False  # same print, told twice
    assert markers(store, order_id) == {"receipt": 1}
    with store.write() as conn:
        second = pq.reprint(conn, job_id)
        pq.mark_printed(conn, second, at=again_at)
    assert markers(store, order_id) == {"receipt": 2}
    with store.read() as conn:
        row = conn.execute(select(printed_documents)).mappings().one()
    assert (row["first_at"], row["last_at"]) == (first_at, again_at)


def test_r10_labels_and_jobs_of_vanished_orders_print_without_a_marker(store, shop):
    shop.product("A")
    order_id = shop.order([("A", 1)], status="packing")
    label = enqueue(store, printer="label", document="label", order_id=order_id)
    orphan = enqueue(store, document="receipt", order_id=999_999)
    with store.write() as conn:
        assert pq.mark_printed(conn, label)
        assert pq.mark_printed(conn, orphan)
    assert markers(store, order_id) == {}
    assert job(store, orphan).state is JobState.PRINTED


def test_r20_hold_release_and_drop_follow_their_states(store):
    job_id = enqueue(store, at=T0)
    later = T0 + timedelta(hours=2)
    with store.write() as conn:
        pq.hold(conn, job_id, "Waits for a person.")
        assert pq.get_job(conn, job_id).last_error == "Waits for a person."
        pq.hold(conn, job_id, "Still waits.")  # holding a held job updates the reason
        pq.release(conn, job_id, at=later)
        released = pq.get_job(conn, job_id)
        pq.release(conn, job_id)  # releasing a queued job changes nothing
        pq.drop(conn, job_id)
        pq.drop(conn, job_id)  # dropping twice changes nothing
        dropped = pq.get_job(conn, job_id)
    # Releasing asks for the print again now: the age check starts over.
    assert (released.state, released.created_at, released.last_error) == (
        JobState.QUEUED,
        later,
        None,
    )
    assert dropped.state is JobState.DROPPED
    with store.write() as conn:
        with pytest.raises(PrintQueueError, match="dropped; it can't become held"):
            pq.hold(conn, job_id, "no")
        with pytest.raises(PrintQueueError, match="only a held job can"):
            pq.release(conn, job_id)
        with pytest.raises(PrintQueueError, match="There is no print job 424242"):
            pq.drop(conn, 424242)


def test_r20_a_printed_job_can_be_neither_held_nor_dropped(store):
    job_id = enqueue(store)
    with store.write() as conn:
        pq.mark_printed(conn, job_id)
        with pytest.raises(PrintQueueError, match="is printed"):
            pq.drop(conn, job_id)
        with pytest.raises(PrintQueueError, match="is printed"):
            pq.hold(conn, job_id, "late")


def test_r20_bytes_that_went_out_while_a_person_dropped_the_job_count_as_printed(store):
    job_id = enqueue(store)
    with store.write() as conn:
        pq.drop(conn, job_id)
        assert pq.mark_printed(conn, job_id)
        assert pq.get_job(conn, job_id).state is JobState.PRINTED


def test_r10_reprint_makes_a_new_job_with_the_same_bytes(store):
    job_id = enqueue(store, document="invoice", order_id=5)
    with store.write() as conn:
        with pytest.raises(PrintQueueError, match="release it instead"):
            pq.reprint(conn, job_id)  # still queued: it would come out twice
        pq.mark_printed(conn, job_id)
        new_id = pq.reprint(conn, job_id)
        new = pq.get_job(conn, new_id)
    assert new_id != job_id
    assert (new.state, new.payload, new.printer, new.document, new.order_id, new.attempts) == (
        JobState.QUEUED,
        ESC_POS,
        "receipt",
        "invoice",
        5,
        0,
    )


def test_jobs_lists_by_printer_state_and_order(store):
    a = enqueue(store, payload=b"a", order_id=1)
    b = enqueue(store, payload=b"b", order_id=2)
    c = enqueue(store, printer="label", document="label", payload=b"c", order_id=1)
    with store.write() as conn:
        pq.mark_printed(conn, a)
        assert [j.id for j in pq.jobs(conn)] == [a, b, c]
        assert [j.id for j in pq.jobs(conn, "receipt")] == [a, b]
        assert [j.id for j in pq.jobs(conn, "receipt", [JobState.QUEUED])] == [b]
        assert [j.id for j in pq.jobs(conn, None, ["printed", "held"])] == [a]
        assert [j.id for j in pq.jobs(conn, order_id=1)] == [a, c]
        assert pq.count_waiting(conn, "receipt") == 1


def test_purge_finished_deletes_only_old_printed_and_dropped_jobs(store):
    old_printed = enqueue(store, at=T0)
    old_dropped = enqueue(store, at=T0)
    old_queued = enqueue(store, at=T0)
    new_printed = enqueue(store, at=T0 + timedelta(days=30))
    with store.write() as conn:
        pq.mark_printed(conn, old_printed)
        pq.drop(conn, old_dropped)
        pq.mark_printed(conn, new_printed)
        assert pq.purge_finished(conn, T0 + timedelta(days=7)) == 2
        assert [j.id for j in pq.jobs(conn)] == [old_queued, new_printed]
