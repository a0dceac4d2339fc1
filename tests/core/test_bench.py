"""R12 and R19 at the bench, on plain objects: what one scan does to the order being packed."""

from __future__ import annotations

from datetime import UTC, datetime

from stationd.core.barcodes import Command, classify, command_barcode, order_barcode
from stationd.core.bench import decide_scan
from stationd.core.orders import Order, OrderLine, OrderStatus

EAN_A = "5901234123457"
EAN_B = "4006381333931"
EAN_OTHER = "7310865004703"


def order(status=OrderStatus.PACKING, waiting=False) -> Order:
    return Order(
        id=1042,
        status=status,
        placed_at=datetime(2026, 11, 20, tzinfo=UTC),
        customer_name="Ola Nordmann",
        waiting=waiting,
        lines=[
            OrderLine(
                id=1, sku="A", name="Termos", quantity=2, unit_price_minor=1, gtin="0" + EAN_A
            ),
            OrderLine(
                id=2, sku="B", name="Vantar", quantity=1, unit_price_minor=1, gtin="0" + EAN_B
            ),
        ],
    )


def test_r12_scanning_the_pick_list_opens_a_packing_order():
    target = order()
    outcome = decide_scan(classify(order_barcode(1042)), None, target)
    assert outcome.ok and outcome.opened and outcome.order_id == 1042
    assert "3 item(s) to pack" in outcome.message


def test_r12_orders_not_ready_to_pack_do_not_open():
    for status, why in [
        (OrderStatus.ORDER, "not ready"),
        (OrderStatus.SHIPPED, "shipped"),
        (OrderStatus.PREORDER, "preorder"),
    ]:
        outcome = decide_scan(classify("ORD-1042"), None, order(status))
        assert not outcome.ok and why in outcome.message and outcome.sound == "error"
    outcome = decide_scan(classify("ORD-1042"), None, order(waiting=True))
    assert not outcome.ok and "waiting" in outcome.message
    outcome = decide_scan(classify("ORD-77"), None, None)
    assert not outcome.ok and "no order 77" in outcome.message


def test_r12_the_right_item_ticks_its_line():
    current = order()
    outcome = decide_scan(classify(EAN_A), current)
    assert outcome.ok and outcome.line_id == 1 and outcome.delta == 1
    assert current.lines[0].packed == 1
    assert outcome.message == "Packed Termos: 1 of 2."


def test_r12_a_wrong_item_is_an_error_and_changes_nothing():
    current = order()
    outcome = decide_scan(classify(EAN_OTHER), current)
    assert not outcome.ok and outcome.sound == "error"
    assert "Wrong item" in outcome.message
    assert [line.packed for line in current.lines] == [0, 0]


def test_r12_one_item_too_many_is_an_error_and_changes_nothing():
    current = order()
    assert decide_scan(classify(EAN_B), current).ok
    outcome = decide_scan(classify(EAN_B), current)
    assert not outcome.ok and "One too many" in outcome.message
    assert current.lines[1].packed == 1


def test_r12_last_item_completes_the_order_with_the_done_sound():
    current = order()
    for code in (EAN_A, EAN_A):
        assert decide_scan(classify(code), current).sound == "ok"
    outcome = decide_scan(classify(EAN_B), current)
    assert outcome.complete and outcome.sound == "done"
    assert "fully packed" in outcome.message


def test_r12_item_scan_without_an_open_order_asks_for_the_pick_list():
    outcome = decide_scan(classify(EAN_A), None)
    assert not outcome.ok and "scan the pick list" in outcome.message


def test_r12_bad_check_digit_is_explained_and_changes_nothing():
    current = order()
    outcome = decide_scan(classify("5901234123458"), current)
    assert not outcome.ok and "check digit" in outcome.message
    assert [line.packed for line in current.lines] == [0, 0]


def test_r12_undo_takes_back_the_last_item():
    current = order()
    decide_scan(classify(EAN_A), current)
    outcome = decide_scan(classify(command_barcode(Command.UNDO)), current, last_line_id=1)
    assert outcome.ok and outcome.delta == -1 and current.lines[0].packed == 0
    again = decide_scan(classify("CMD-UNDO"), current, last_line_id=None)
    assert not again.ok and "Nothing to undo" in again.message


def test_r12_done_closes_the_order_at_the_bench():
    outcome = decide_scan(classify("CMD-DONE"), order())
    assert outcome.ok and outcome.closed and "3 item(s) still to pack" in outcome.message


def test_r19_gs1_item_scan_counts_the_same_as_its_ean():
    current = order()
    outcome = decide_scan(classify("01" + "0" + EAN_A + "\x1d10LOT1", "]C1"), current)
    assert outcome.ok and current.lines[0].packed == 1


def test_r12_item_of_a_line_already_delivered_says_so():
    current = order()
    current.lines[1].delivered = 1
    outcome = decide_scan(classify(EAN_B), current)
    assert not outcome.ok
    assert outcome.message == "One too many: Vantar — all 1 were delivered already."


def test_r3_r12_bench_stops_counting_when_the_open_order_is_set_waiting():
    current = order(waiting=True)
    outcome = decide_scan(classify(EAN_A), current)
    assert not outcome.ok and outcome.closed and "waiting" in outcome.message
    assert current.lines[0].packed == 0
