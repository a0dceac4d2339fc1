"""R8: the pack script's reasons typed — the English sentence for the log and the CLI, with the
facts beside it for the kiosk to word — read back as such from their
stored form."""

from __future__ import annotations

import pytest

from stationd.core.packscript import Step, run_pack_script
from stationd.core.packscript_reasons import (
    Message,
    NegativeStock,
    NoLines,
    NoStockRecord,
    QuantityBelowOne,
    ShortOfStock,
    reason_from_data,
)


def test_r8_a_short_order_carries_its_facts_typed():
    result = run_pack_script([(1, 1, True, [("A", 2)])], {"A": 1})
    stock_step = next(step for step in result.trace if step.check == "stock")
    assert stock_step == Step(1, "stock", False, "SKU A: needs 2, 1 available")
    assert isinstance(stock_step.detail, ShortOfStock)
    assert (stock_step.detail.sku, stock_step.detail.need, stock_step.detail.have) == ("A", 2, 1)


@pytest.mark.parametrize(
    ("lines", "stock", "reason"),
    [
        ([], {}, NoLines()),
        ([("A", 0)], {"A": 5}, QuantityBelowOne("A")),
        ([("NOPE", 1)], {}, NoStockRecord("NOPE")),
        ([("A", 3)], {"A": 1}, ShortOfStock("A", 3, 1)),
    ],
)
def test_r8_each_reason_is_its_own_type(lines, stock, reason):
    result = run_pack_script([(1, 1, True, lines)], stock)
    (kept,) = result.trace.reasons.values()  # kept as data: a run may find thousands
    found = reason_from_data(kept)
    assert type(found) is type(reason) and found.data() == reason.data() == tuple(kept)
    step = next(step for step in result.trace if step.check == "stock")
    assert type(step.detail) is type(reason) and step.detail == reason


def test_r8_a_stop_on_negative_stock_is_typed_and_says_the_same_words():
    result = run_pack_script([(1, 1, True, [("A", 1)])], {"A": -2})
    assert result.stopped.detail == NegativeStock("A", -2)
    assert isinstance(result.stopped.detail, NegativeStock) and result.stopped.detail.have == -2
    assert "negative (-2)" in result.stopped.detail


def test_a_reason_from_an_earlier_version_or_unknown_is_a_message_of_its_words():
    assert reason_from_data("SKU A: needs 2, 1 available") == Message("SKU A: needs 2, 1 available")
    assert type(reason_from_data("SKU A: needs 2, 1 available")) is Message
    assert type(reason_from_data(["teleported", "A"])) is Message
    assert type(reason_from_data(["short", "A"])) is Message  # facts missing


def test_reasons_are_frozen():
    reason = ShortOfStock("A", 2, 1)
    with pytest.raises(AttributeError):
        reason.need = 1  # type: ignore[misc]


def test_r8_every_step_of_an_order_is_typed_and_its_decision_named_by_its_type():
    from stationd.core.packscript_reading import Outcome, decision_outcome
    from stationd.core.packscript_reasons import (
        EveryLineInStock,
        NotPaidYet,
        ToPacking,
        WaitsForStock,
        WaitsUnpaid,
    )

    result = run_pack_script(
        [(1, 1, True, [("A", 1)]), (2, 2, False, [("A", 1)]), (3, 3, True, [("A", 9)])], {"A": 5}
    )
    details = [(step.order_id, type(step.detail)) for step in result.trace if step.detail]
    assert details == [
        (1, EveryLineInStock),
        (1, ToPacking),
        (2, NotPaidYet),
        (2, WaitsUnpaid),
        (3, ShortOfStock),
        (3, WaitsForStock),
    ]
    decided = [decision_outcome(step) for step in result.trace if step.check == "decision"]
    assert decided == [Outcome.MOVED, Outcome.UNPAID, Outcome.SHORT]
