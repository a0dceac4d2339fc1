"""The pack script's rules on plain values: R6 (what moves), R7 (oldest first), R8 (the trace)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stationd.core.packscript import (
    PackCandidate,
    PackResult,
    Step,
    Trace,
    describe,
    reserved_by,
    run_pack_script,
)


def order(
    order_id: int,
    lines: Sequence[tuple[str, int]],
    *,
    paid: bool = True,
    placed_at: int | None = None,
) -> PackCandidate:
    return PackCandidate(order_id, order_id if placed_at is None else placed_at, paid, tuple(lines))


def moved(result: PackResult) -> list[int]:
    return result.moved_ids


def steps_of(result: PackResult, order_id: int) -> list[Step]:
    return [step for step in result.trace if step.order_id == order_id]


# -- R6: paid and every line in stock -------------------------------------------------------


def test_r6_paid_order_with_every_line_in_stock_moves_to_packing() -> None:
    result = run_pack_script([order(1, [("A", 2), ("B", 1)])], {"A": 2, "B": 5})

    assert moved(result) == [1]
    assert result.reserved == {"A": 2, "B": 1}
    assert result.ok and result.looked_at == 1


def test_r6_unpaid_order_waits_and_reserves_nothing() -> None:
    result = run_pack_script([order(1, [("A", 1)], paid=False)], {"A": 5})

    assert moved(result) == []
    assert result.reserved == {}
    assert result.unpaid == 1
    assert steps_of(result, 1)[-1] == Step(1, "decision", False, "waits: not paid")


def test_r6_order_with_one_line_short_waits() -> None:
    result = run_pack_script([order(1, [("A", 1), ("B", 3)])], {"A": 5, "B": 2})

    assert moved(result) == []
    assert result.reserved == {}
    assert result.short == 1
    assert Step(1, "stock", False, "SKU B: needs 3, 2 available") in steps_of(result, 1)


# -- R7: oldest first, no half reservations -------------------------------------------------


def test_r7_oldest_order_wins_scarce_stock() -> None:
    # Order 2 was placed first although its id is higher.
    orders = [order(1, [("A", 2)], placed_at=20), order(2, [("A", 2)], placed_at=10)]

    result = run_pack_script(orders, {"A": 3})

    assert moved(result) == [2]
    assert result.reserved == {"A": 2}
    assert steps_of(result, 1)[-2] == Step(1, "stock", False, "SKU A: needs 2, 1 available")


def test_r7_same_placed_at_goes_by_order_id() -> None:
    orders = [order(7, [("A", 1)], placed_at=5), order(3, [("A", 1)], placed_at=5)]

    result = run_pack_script(orders, {"A": 1})

    assert moved(result) == [3]
    assert [step.order_id for step in result.trace][:1] == [3]


def test_r7_short_order_reserves_nothing_and_a_later_smaller_order_takes_the_stock() -> None:
    orders = [
        order(1, [("A", 1), ("B", 9)]),  # A would fit, B does not: reserves neither
        order(2, [("A", 3)]),
        order(3, [("B", 2)]),
    ]

    result = run_pack_script(orders, {"A": 3, "B": 2})

    assert moved(result) == [2, 3]
    assert result.reserved == {"A": 3, "B": 2}
    assert result.short == 1


def test_r7_duplicate_sku_lines_are_summed() -> None:
    two_lines = [("A", 2), ("B", 1), ("A", 2)]

    short = run_pack_script([order(1, two_lines)], {"A": 3, "B": 1})
    covered = run_pack_script([order(1, two_lines)], {"A": 4, "B": 1})

    assert moved(short) == []
    assert Step(1, "stock", False, "SKU A: needs 4, 3 available") in short.trace
    assert short.reserved == {}
    assert moved(covered) == [1]
    assert covered.reserved == {"A": 4, "B": 1}


def test_r7_unknown_sku_waits_with_a_reason() -> None:
    result = run_pack_script([order(1, [("A", 1), ("NOPE", 1)]), order(2, [("A", 1)])], {"A": 1})

    assert moved(result) == [2]
    assert Step(1, "stock", False, "SKU NOPE has no stock record") in result.trace
    assert steps_of(result, 1)[-1] == Step(
        1, "decision", False, "waits: short of stock, reserves nothing"
    )


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([], "the order has no lines"),
        ([("A", 1), ("B", 0)], "SKU B has a quantity below 1"),
        ([("A", -2)], "SKU A has a quantity below 1"),
    ],
)
def test_r7_order_whose_lines_need_fixing_is_skipped(lines, reason) -> None:
    result = run_pack_script([order(1, lines), order(2, [("A", 1)])], {"A": 1, "B": 1})

    assert moved(result) == [2]
    assert result.skipped == 1
    assert steps_of(result, 1)[1:] == [
        Step(1, "stock", False, reason),
        Step(1, "decision", False, "skipped: order lines need fixing"),
    ]


def test_r7_the_stock_given_is_left_as_it_was() -> None:
    available = {"A": 2, "B": 1}

    run_pack_script([order(1, [("A", 1), ("B", 5)]), order(2, [("A", 2)])], available)

    assert available == {"A": 2, "B": 1}


# -- R8: the trace, live steps, the stop ----------------------------------------------------


def test_r8_trace_names_each_order_check_decision_and_reason() -> None:
    orders = [
        order(1, [("A", 1)]),
        order(2, [("A", 1)], paid=False),
        order(3, [("B", 2)]),
    ]

    result = run_pack_script(orders, {"A": 1, "B": 1})

    assert list(result.trace) == [
        Step(1, "paid", True),
        Step(1, "stock", True, "every line in stock"),
        Step(1, "decision", True, "to packing"),
        Step(2, "paid", False, "not paid yet"),
        Step(2, "decision", False, "waits: not paid"),
        Step(3, "paid", True),
        Step(3, "stock", False, "SKU B: needs 2, 1 available"),
        Step(3, "decision", False, "waits: short of stock, reserves nothing"),
    ]
    assert len(result.trace) == 8
    assert result.summary() == (
        "3 orders looked at: 1 to packing, 1 not paid, 1 short of stock, 0 with errors"
    )
    assert describe(Step(3, "stock", False, "SKU B: needs 2, 1 available")) == (
        "order 3: stock no — SKU B: needs 2, 1 available"
    )


def test_r8_on_step_sees_the_steps_live_in_order() -> None:
    seen: list[Step] = []
    moves_when_seen: list[int] = []
    orders = [order(1, [("A", 1)]), order(2, [("A", 1)]), order(3, [("A", 5)], paid=False)]

    def listener(step: Step) -> None:
        seen.append(step)
        if step.check == "decision":
            moves_when_seen.append(len(seen))

    result = run_pack_script(orders, {"A": 2}, on_step=listener)

    assert seen == list(result.trace)
    assert [step.order_id for step in seen] == [1, 1, 1, 2, 2, 2, 3, 3]
    assert moves_when_seen == [3, 6, 8]


def test_r8_a_listener_that_fails_stops_the_run_at_that_order() -> None:
    # Steps reach the listener while the run is going: failing on order 2 stops before order 3.
    def listener(step: Step) -> None:
        if step.order_id == 2:
            raise RuntimeError("screen gone")

    orders = [order(1, [("A", 1)]), order(2, [("A", 1)]), order(3, [("A", 1)])]

    result = run_pack_script(orders, {"A": 5}, on_step=listener)

    assert result.stopped == Step(2, "error", False, "RuntimeError: screen gone")
    assert moved(result) == [1, 2]
    assert 3 not in {step.order_id for step in result.trace}


def test_r8_negative_stock_stops_the_run_and_keeps_the_moves_before_it() -> None:
    orders = [
        order(1, [("A", 1)]),
        order(2, [("A", 1), ("BAD", 1)]),
        order(3, [("A", 1)]),
    ]
    seen: list[Step] = []

    result = run_pack_script(orders, {"A": 5, "BAD": -2}, on_step=seen.append)

    message = "stock of SKU BAD is negative (-2): more is reserved than is on hand"
    assert not result.ok
    assert result.stopped == Step(2, "error", False, message)
    assert moved(result) == [1]
    assert result.reserved == {"A": 1}
    assert result.looked_at == 2
    assert list(result.trace)[-2:] == [Step(2, "paid", True), Step(2, "error", False, message)]
    assert seen == list(result.trace)
    assert 3 not in {step.order_id for step in result.trace}
    assert result.summary().endswith(f"; stopped at order 2: {message}")


def test_r7_the_moves_are_handed_on_oldest_first_in_batches_each_once_as_decided() -> None:
    # on_moves lets PostgreSQL write the first moves while the rest is decided.
    orders = [order(n, [("A", 1)], placed_at=100 - n) for n in range(1, 8)]  # 7 is oldest
    orders.append(order(50, [("A", 9)], placed_at=0))  # the very oldest: short, never handed
    handed: list[list[int]] = []
    told_by_then: list[int] = []
    steps_told: list[Step] = []

    def on_moves(moves: list) -> None:
        handed.append([m[0] for m in moves])
        told_by_then.append(len(steps_told))

    result = run_pack_script(
        orders, {"A": 7}, steps_told.append, on_moves=on_moves, hand_on_every=3
    )

    # Oldest first: 50 (short), 7, 6 | 5, 4, 3 | 2, 1 — each part's moves once it is decided.
    assert handed == [[7, 6], [5, 4, 3], [2, 1]]
    assert [i for batch in handed for i in batch] == moved(result)
    assert told_by_then == [3 * 3, 3 * 6, 3 * 8]  # 3 steps an order


def test_r8_the_moves_before_a_stop_are_handed_on_too() -> None:
    orders = [order(1, [("A", 1)]), order(2, [("A", 1)]), order(3, [("B", 1)])]
    handed: list[int] = []

    result = run_pack_script(
        orders, {"A": 5, "B": -1}, on_moves=lambda m: handed.extend(c[0] for c in m)
    )

    assert not result.ok and result.stopped.order_id == 3
    assert handed == moved(result) == [1, 2]


def test_r8_an_unexpected_error_stops_the_run_with_its_type() -> None:
    orders = [order(1, [("A", 1)]), order(2, [("A", None)])]  # type: ignore[list-item]

    result = run_pack_script(orders, {"A": 5})

    assert result.stopped is not None
    assert result.stopped.order_id == 2
    assert result.stopped.detail.startswith("TypeError: ")
    assert moved(result) == [1]
    assert result.reserved == {"A": 1}


def test_r8_orders_that_cannot_be_sorted_stop_the_run_at_the_start() -> None:
    orders = [order(1, [("A", 1)], placed_at=1), PackCandidate(2, None, True, (("A", 1),))]

    result = run_pack_script(orders, {"A": 5})

    assert result.stopped is not None and result.stopped.order_id is None
    assert list(result.trace) == [result.stopped]
    assert moved(result) == [] and result.looked_at == 0
    assert "stopped at the start" in result.summary()


def test_trace_counts_its_steps_without_unfolding_them() -> None:
    trace = Trace([1, 2, 3], b"mue", {}, Step(3, "error", False, "boom"))

    assert len(trace) == len(list(trace)) == 3 + 2 + 1 + 1
    assert Trace() == Trace([], b"") and len(Trace()) == 0
    with pytest.raises(ValueError):
        Trace([1], b"")


# -- property: random shops against the plain, sequential way -------------------------------


def sequential(orders: Sequence[PackCandidate], available: Mapping[str, int]) -> dict:
    """The rules done the slow, obvious way: oldest first, one order at a time."""
    stock = dict(available)
    moves: list[int] = []
    waits: dict[int, str] = {}
    for order_id, _placed, paid, lines in sorted(orders, key=lambda o: (o.placed_at, o.order_id)):
        if not paid:
            waits[order_id] = "unpaid"
            continue
        if not lines or any(qty < 1 for _, qty in lines):
            waits[order_id] = "skipped"
            continue
        need: dict[str, int] = {}
        for sku, qty in lines:
            need[sku] = need.get(sku, 0) + qty
        why = None
        for sku, qty in need.items():
            if sku not in stock:
                why = "short"
                break
            if stock[sku] < 0:
                return {"moves": moves, "waits": waits, "stopped_at": order_id}
            if stock[sku] < qty:
                why = "short"
                break
        if why:
            waits[order_id] = why
            continue
        for sku, qty in need.items():
            stock[sku] -= qty
        moves.append(order_id)
    return {"moves": moves, "waits": waits, "stopped_at": None}


SKUS = ["A", "B", "C", "D", "E"]


@st.composite
def shops(draw, *, negative: bool = False):
    low = -2 if negative else 0
    available = draw(
        st.dictionaries(st.sampled_from(SKUS[:-1]), st.integers(low, 8), max_size=len(SKUS) - 1)
    )
    ids = draw(st.lists(st.integers(1, 10_000), unique=True, max_size=25))
    orders = [
        PackCandidate(
            order_id,
            draw(st.integers(0, 15)),  # ties happen: then the id decides
            draw(st.booleans()),
            tuple(
                draw(
                    st.lists(
                        st.tuples(st.sampled_from(SKUS), st.integers(-1 if negative else 1, 4)),
                        max_size=4,
                    )
                )
            ),
        )
        for order_id in ids
    ]
    return orders, available


@settings(max_examples=300, deadline=None)
@given(shops())
def test_property_random_shops_follow_r6_r7(shop) -> None:
    orders, available = shop

    result = run_pack_script(orders, available)

    assert result.ok
    # Stock is never over-reserved, and what is reserved is exactly what the moves take.
    assert result.reserved == reserved_by(result.moves)
    for sku, qty in result.reserved.items():
        assert 0 < qty <= available[sku]
    # The oldest order wins: the same moves as serving orders one at a time, oldest first.
    expected = sequential(orders, available)
    assert moved(result) == expected["moves"]
    # At its turn, every moved order was paid and covered; every paid one left behind was not.
    by_id = {o.order_id: o for o in orders}
    left = dict(available)
    moved_ids = set(moved(result))
    for order_id, _placed, paid, lines in sorted(orders, key=lambda o: (o.placed_at, o.order_id)):
        need: dict[str, int] = {}
        for sku, qty in lines:
            need[sku] = need.get(sku, 0) + qty
        covered = bool(lines) and all(q > 0 for _, q in lines)
        covered = covered and all(left.get(sku, -1) >= qty for sku, qty in need.items())
        if order_id in moved_ids:
            assert paid and covered, by_id[order_id]
            for sku, qty in need.items():
                left[sku] -= qty
        elif paid:
            assert not covered, by_id[order_id]
    assert all(qty >= 0 for qty in left.values())
    assert result.looked_at == len(orders)
    assert len(list(result.trace)) == len(result.trace)


@settings(max_examples=300, deadline=None)
@given(shops(negative=True))
def test_property_negative_stock_and_bad_lines_stop_or_skip_like_the_plain_way(shop) -> None:
    orders, available = shop

    result = run_pack_script(orders, available)

    expected = sequential(orders, available)
    assert moved(result) == expected["moves"]
    assert (result.stopped.order_id if result.stopped else None) == expected["stopped_at"]
    assert result.reserved == reserved_by(result.moves)
    decided = {
        step.order_id: DECISIONS[step.detail] for step in result.trace if step.check == "decision"
    }
    assert decided == {**dict.fromkeys(expected["moves"], "moved"), **expected["waits"]}


DECISIONS = {
    "to packing": "moved",
    "waits: not paid": "unpaid",
    "waits: short of stock, reserves nothing": "short",
    "skipped: order lines need fixing": "skipped",
}
