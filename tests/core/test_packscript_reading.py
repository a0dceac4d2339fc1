"""R8 read back: a run's trace folded per order, filtered and paged, and the answer to "why is
order N not packing yet?" — from the pack script's own steps."""

from __future__ import annotations

from datetime import UTC, datetime

from stationd.core.packscript import run_pack_script
from stationd.core.packscript_reading import (
    OUTCOME_FILTERS,
    Outcome,
    RunFacts,
    TraceIndex,
    Why,
    why_not_packing,
)

RUN = RunFacts(7, datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "ok")


def shop_run():
    # 1 paid+stocked, 2 unpaid, 3 short, 4 no lines, 5 no stock record.
    candidates = [
        (1, 1, True, [("A", 2)]),
        (2, 2, False, [("A", 1)]),
        (3, 3, True, [("A", 5)]),
        (4, 4, True, []),
        (5, 5, True, [("Z", 1)]),
    ]
    return run_pack_script(candidates, {"A": 3})


def test_r8_index_keeps_each_orders_outcome_and_reason():
    index = TraceIndex(shop_run().trace)
    assert index.order_ids == [1, 2, 3, 4, 5]
    assert index.find(1) == (Outcome.MOVED, "")
    assert index.find(2) == (Outcome.UNPAID, "")
    assert index.find(3) == (Outcome.SHORT, "SKU A: needs 5, 1 available")
    assert index.find(4) == (Outcome.SKIPPED, "the order has no lines")
    assert index.find(5) == (Outcome.SHORT, "SKU Z has no stock record")
    assert index.find(99) is None
    assert index.count(Outcome.SHORT) == 2 and index.stopped is None


def test_r8_index_unfolds_into_exactly_the_steps_of_the_run():
    trace = shop_run().trace
    index = TraceIndex(trace)
    assert index.page(per_page=100).steps == list(trace)


def test_r8_filter_not_moved_and_one_order_and_pages():
    index = TraceIndex(shop_run().trace)
    not_moved = index.page(outcomes=OUTCOME_FILTERS["not_moved"], per_page=2)
    assert (not_moved.matching, not_moved.pages, not_moved.orders) == (4, 2, 2)
    assert {s.order_id for s in not_moved.steps} == {2, 3}
    last = index.page(outcomes=OUTCOME_FILTERS["not_moved"], per_page=2, page=99)
    assert last.page == 2 and {s.order_id for s in last.steps} == {4, 5}
    one = index.page(order_id=3)
    assert one.matching == 1 and [s.check for s in one.steps] == ["paid", "stock", "decision"]
    assert index.page(order_id=1, outcomes=OUTCOME_FILTERS["short"]).matching == 0


def test_r8_a_stop_is_kept_with_the_order_it_stopped_at():
    result = run_pack_script(
        [(1, 1, True, [("A", 1)]), (2, 2, True, [("B", 1)]), (3, 3, True, [("A", 1)])],
        {"A": 5, "B": -2},
    )
    index = TraceIndex(result.trace)
    assert index.order_ids == [1, 2]
    assert index.find(2) == (Outcome.STOPPED, "")
    assert index.stopped.order_id == 2 and "negative" in index.stopped.detail
    page = index.page()
    assert page.steps[-1] == index.stopped
    assert index.page(order_id=1).steps[-1].check == "decision"  # the stop is order 2's


def test_why_an_unpaid_or_short_order_waits():
    index = TraceIndex(shop_run().trace)
    unpaid = why_not_packing(2, status="order", run=RUN, found=index.find(2))
    assert unpaid.why is Why.UNPAID and unpaid.run == RUN
    short = why_not_packing(3, status="order", run=RUN, found=index.find(3))
    assert short.why is Why.SHORT and short.reason == "SKU A: needs 5, 1 available"
    assert why_not_packing(4, status="order", run=RUN, found=index.find(4)).why is Why.SKIPPED


def test_why_follows_the_order_state_first():
    assert why_not_packing(9, status=None).why is Why.NO_ORDER
    assert why_not_packing(9, status="preorder", run=RUN).why is Why.PREORDER
    assert why_not_packing(9, status="shipped", run=RUN).why is Why.SHIPPED
    packing = why_not_packing(9, status="packing", moved_by_run=7, run=RUN)
    assert packing.why is Why.PACKING and packing.moved_by_run == 7
    assert why_not_packing(9, status="packing", waiting=True).why is Why.PACKING_WAITING


def test_why_an_order_the_latest_run_did_not_decide():
    assert why_not_packing(9, status="order").why is Why.NO_RUN
    assert why_not_packing(9, status="order", run=RUN).why is Why.NOT_SEEN
    stopped = RunFacts(8, RUN.started_at, "stopped", "stock of SKU B is negative", 2)
    before = why_not_packing(9, status="order", run=stopped)
    assert before.why is Why.STOPPED_BEFORE and before.reason == "stock of SKU B is negative"
    at = why_not_packing(2, status="order", run=stopped, found=(Outcome.STOPPED, ""))
    assert at.why is Why.STOPPED_AT
    failed = RunFacts(9, RUN.started_at, "failed", "OperationalError: disk full")
    assert why_not_packing(9, status="order", run=failed).why is Why.RUN_FAILED
    moved = why_not_packing(1, status="order", run=RUN, found=(Outcome.MOVED, ""))
    assert moved.why is Why.MOVED_SINCE_CHANGED
    assert why_not_packing(2, status="order", waiting=True, run=RUN).waiting
