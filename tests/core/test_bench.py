"""R12 and R19 at the bench, on plain objects: what one scan does to the order being packed."""

from __future__ import annotations

from datetime import UTC, datetime

from stationd.core.barcodes import Command, classify, command_barcode, order_barcode
from stationd.core.bench import (
    COMMAND_ORDER,
    Packing,
    build_command_sheet,
    decide_scan,
    decide_touch,
    parcel_added,
)
from stationd.core.documents import Barcode
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


# --- an item of another order, touch, the commands, the parcels ------------------------------


def test_r12_an_item_of_another_order_says_which_and_changes_nothing():
    current = order()
    outcome = decide_scan(classify(EAN_OTHER), current, elsewhere={1051: "Mössa"})
    assert not outcome.ok and outcome.sound == "error"
    assert outcome.message == "Wrong order: Mössa belongs to order 1051, not 1042."
    assert [line.packed for line in current.lines] == [0, 0]
    several = decide_scan(classify(EAN_OTHER), current, elsewhere={1077: "Mössa", 1051: "Mössa"})
    assert "belongs to orders 1051 and 1077, not 1042" in several.message  # issue 12 wording


def test_r12_touch_plus_counts_like_a_scan_of_the_item():
    by_touch, by_scan = order(), order()
    touched = decide_touch(by_touch, 1, +1)
    scanned = decide_scan(classify(EAN_A), by_scan)
    assert touched.message == scanned.message == "Packed Termos: 1 of 2."
    assert (touched.line_id, touched.delta) == (scanned.line_id, scanned.delta) == (1, 1)
    assert by_touch.lines[0].packed == by_scan.lines[0].packed == 1


def test_r12_touch_never_goes_beyond_what_is_left_nor_below_zero():
    current = order()
    current.lines[0].delivered = 1  # one Termos went in an earlier delivery: one is left
    assert decide_touch(current, 1, +1).ok
    too_many = decide_touch(current, 1, +1)
    assert not too_many.ok and "One too many" in too_many.message
    assert current.lines[0].packed == 1
    assert decide_touch(current, 1, -1).ok
    below = decide_touch(current, 1, -1)
    assert not below.ok and "nothing to take back" in below.message
    assert current.lines[0].packed == 0


def test_touch_on_a_line_of_no_open_order_or_a_stale_line_is_refused():
    assert "No order is open" in decide_touch(None, 1, +1).message
    stale = decide_touch(order(), 99, +1)
    assert not stale.ok and "has no line 99" in stale.message
    assert not decide_touch(order(), 1, +2).ok


def test_r12_undo_takes_back_the_line_on_top_of_the_stack_the_caller_names():
    current = order()
    for code in (EAN_A, EAN_B):
        decide_scan(classify(code), current)
    # The caller read the stack: the Vantar count (line 2) is the newest not undone.
    outcome = decide_scan(classify("CMD-UNDO"), current, last_line_id=2)
    assert outcome.ok and outcome.line_id == 2 and current.lines[1].packed == 0
    outcome = decide_scan(classify("CMD-UNDO"), current, last_line_id=1)
    assert outcome.ok and current.lines[0].packed == 0


def test_r13_next_parcel_needs_a_filled_parcel_and_stops_at_four():
    current = order()
    current.lines[0].quantity = 10
    packing = Packing()
    empty = decide_scan(classify("CMD-NEXT-PARCEL"), current, packing=packing)
    assert not empty.ok and "still empty" in empty.message
    for parcel in (2, 3, 4):
        decide_scan(classify(EAN_A), current, packing=packing)
        started = decide_scan(classify("CMD-NEXT-PARCEL"), current, packing=packing)
        assert started.ok and started.parcel_started and packing.parcels == parcel
        again = decide_scan(classify("CMD-NEXT-PARCEL"), current, packing=packing)
        assert not again.ok and f"Parcel {parcel} is still empty" in again.message
    decide_scan(classify(EAN_A), current, packing=packing)
    fifth = decide_scan(classify("CMD-NEXT-PARCEL"), current, packing=packing)
    assert not fifth.ok and "at most 4 parcels" in fifth.message and packing.parcels == 4


def test_r13_next_parcel_when_everything_is_packed_is_refused():
    current, packing = order(), Packing()
    for code in (EAN_A, EAN_A, EAN_B):
        decide_scan(classify(code), current, packing=packing)
    outcome = decide_scan(classify("CMD-NEXT-PARCEL"), current, packing=packing)
    assert not outcome.ok and "nothing is left for another parcel" in outcome.message


def test_r14_partial_ends_packing_with_what_is_packed():
    current, packing = order(), Packing()
    nothing = decide_scan(classify("CMD-PARTIAL"), current, packing=packing)
    assert not nothing.ok and "needs packed items" in nothing.message and not packing.partial
    decide_scan(classify(EAN_A), current, packing=packing)
    outcome = decide_scan(classify("CMD-PARTIAL"), current, packing=packing)
    assert outcome.ok and outcome.partial and outcome.closed and outcome.order_id == 1042
    assert packing.partial and packing.parcels == 1
    assert "the 1 packed item(s) go as a partial delivery; 2 stay" in outcome.message
    # Packing goes on later: the next count clears the partial mark.
    decide_scan(classify(EAN_A), current, packing=packing)
    assert not packing.partial


def test_r12_done_with_everything_packed_means_ready_for_ship_out():
    current = order()
    for code in (EAN_A, EAN_A, EAN_B):
        decide_scan(classify(code), current)
    outcome = decide_scan(classify("CMD-DONE"), current)
    assert outcome.ok and outcome.closed and outcome.ready and outcome.sound == "done"


def test_r12_cancel_closes_and_changes_nothing():
    current, packing = order(), Packing()
    decide_scan(classify(EAN_A), current, packing=packing)
    before = (current.lines[0].packed, Packing(**vars(packing)))
    outcome = decide_scan(classify("CMD-CANCEL"), current, packing=packing)
    assert outcome.ok and outcome.closed and not outcome.ready and not outcome.print_labels
    assert (current.lines[0].packed, packing) == before


def test_r14_cancel_takes_back_what_this_bench_session_packed():
    """Issue 12, item 1: Cancel said "nothing was changed" yet left the item packed, and
    ship-out proposed it as a partial delivery nobody chose."""
    current, packing = order(), Packing()
    session = []
    for code in (EAN_A, EAN_B):
        session.append(decide_scan(classify(code), current, packing=packing).line_id)
    outcome = decide_scan(classify("CMD-CANCEL"), current, packing=packing, session=session)
    assert outcome.ok and outcome.closed and not outcome.ready and not outcome.partial
    assert [line.packed for line in current.lines] == [0, 0]
    assert outcome.taken_back == (2, 1)
    assert packing == Packing()
    assert outcome.message == (
        "Order 1042 closed at the bench; the 2 item(s) packed since it was opened are taken "
        "back out."
    )


def test_r14_cancel_keeps_what_an_earlier_session_packed():
    current, packing = order(), Packing()
    decide_scan(classify(EAN_A), current, packing=packing)  # an earlier session, ended by DONE
    later = decide_scan(classify(EAN_A), current, packing=packing).line_id
    outcome = decide_scan(classify("CMD-CANCEL"), current, packing=packing, session=[later])
    assert [line.packed for line in current.lines] == [1, 0]
    assert outcome.message.endswith("1 item(s) packed before it was opened stay packed.")
    assert packing.parcels == 1


def test_r16_cancel_takes_nothing_back_once_the_labels_are_printed():
    current, packing = order(), Packing()
    session = [decide_scan(classify(EAN_A), current, packing=packing).line_id]
    packing.labels = 1
    outcome = decide_scan(classify("CMD-CANCEL"), current, packing=packing, session=session)
    assert not outcome.ok and not outcome.closed and outcome.sound == "error"
    assert current.lines[0].packed == 1 and "labels" in outcome.message


def test_r16_labels_print_when_packed_only_if_configured_and_only_once():
    current, packing = order(), Packing()
    for code in (EAN_A, EAN_A):
        assert not decide_scan(classify(code), current, packing=packing).print_labels
    last = decide_scan(classify(EAN_B), current, packing=packing, label_when_packed=True)
    assert last.complete and last.print_labels
    packing.labels = 1  # the caller printed them
    done = decide_scan(classify("CMD-DONE"), current, packing=packing, label_when_packed=True)
    assert done.ready and not done.print_labels
    unset = order()
    for code in (EAN_A, EAN_A, EAN_B):
        outcome = decide_scan(classify(code), unset)
    assert outcome.complete and not outcome.print_labels


def test_r13_a_parcel_id_scanned_with_packed_items_is_for_the_open_order():
    current = order()
    decide_scan(classify(EAN_A), current)
    outcome = decide_scan(classify("rr473124829se"), current)
    assert outcome.ok and outcome.parcel_id == "RR473124829SE" and outcome.order_id == 1042
    assert [line.packed for line in current.lines] == [1, 0]  # a parcel id counts no item
    added = parcel_added(outcome, 2)
    assert added.message == "Parcel id RR473124829SE added to order 1042 (2 of 4)."
    # A GS1-128 label's SSCC goes on as its 18 digits, as on the ship-out page.
    sscc = decide_scan(classify("]C100373500000000000017"), current)
    assert sscc.ok and sscc.parcel_id == "373500000000000017"


def test_r13_a_parcel_id_with_no_order_open_is_an_error_that_leaves_it_to_ship_out():
    outcome = decide_scan(classify("RR473124829SE"), None)
    assert not outcome.ok and outcome.sound == "error" and outcome.parcel_id is None
    assert "No order is open" in outcome.message and "ship-out page" in outcome.message
    assert outcome.unclaimed_parcel == "RR473124829SE"


def test_r13_a_parcel_id_before_anything_is_packed_or_with_a_wrong_check_digit_is_refused():
    nothing = decide_scan(classify("RR473124829SE"), order())
    assert not nothing.ok and "Nothing of order 1042 is packed yet" in nothing.message
    current = order()
    decide_scan(classify(EAN_A), current)
    wrong = decide_scan(classify("RR473124828SE"), current)
    assert not wrong.ok and "wrong check digit" in wrong.message and wrong.parcel_id is None
    assert not decide_scan(classify("RR473124828SE"), None).unclaimed_parcel


def test_command_sheet_has_the_five_commands_as_barcodes_under_their_words():
    sheet = build_command_sheet("Kommandon", {Command.DONE: ("Klar", "Stäng ordern.")}, "sv")
    (section,) = sheet.sections()
    codes = [block.data for block in section.blocks if isinstance(block, Barcode)]
    assert codes == [command_barcode(c) for c in COMMAND_ORDER]
    assert codes == ["CMD-DONE", "CMD-NEXT-PARCEL", "CMD-PARTIAL", "CMD-UNDO", "CMD-CANCEL"]
    assert sheet.entries[0] == ("Klar", "Stäng ordern.", "CMD-DONE")
    assert sheet.entries[3][0] == "UNDO"  # a command without words keeps its own name
    assert [classify(code).command for code in codes] == list(COMMAND_ORDER)


def test_r12_an_error_is_news_only_at_the_moment_of_its_scan():
    from stationd.core.bench import ERROR_NEWS_S, shown_on_a_new_page

    wrong = decide_scan(classify(EAN_OTHER), order())
    opened = decide_scan(classify(order_barcode(1042)), None, order())
    assert not wrong.ok and opened.ok
    assert shown_on_a_new_page(wrong, 0.5)
    assert not shown_on_a_new_page(wrong, ERROR_NEWS_S + 1)
    assert shown_on_a_new_page(opened, 3600)  # where the open order stands is never stale


def test_r12_an_unusable_code_is_refused_in_a_whole_sentence():
    outcome = decide_scan(classify("12345"), order())
    assert not outcome.ok and outcome.sound == "error"
    assert outcome.message == (
        "Scan not accepted: a number of 5 digits is not a product, order or parcel code."
    )
