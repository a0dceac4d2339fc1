"""R1–R5, R9, R10, R13–R15 on the plain domain objects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stationd.core.deliveries import (
    MAX_PARCEL_IDS,
    Delivery,
    add_parcel_id,
    plan_delivery,
    report_in,
)
from stationd.core.orders import (
    Document,
    Order,
    OrderLine,
    OrderRuleError,
    OrderStatus,
    PaymentMethod,
    check_print_request,
    line_reservation,
    printed_markers,
    validate_own_status,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def make_order(status=OrderStatus.PACKING, quantities=(2, 1), **kw) -> Order:
    lines = [
        OrderLine(
            id=i + 1,
            sku=f"SKU-{i + 1}",
            name=f"Item {i + 1}",
            quantity=q,
            unit_price_minor=1000,
            gtin=f"0000000000000{i + 1}",
        )
        for i, q in enumerate(quantities)
    ]
    return Order(
        id=42, status=status, placed_at=NOW, customer_name="Åsa Öberg", paid=True, lines=lines, **kw
    )


# R1 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (OrderStatus.PREORDER, OrderStatus.ORDER),
        (OrderStatus.ORDER, OrderStatus.PACKING),
        (OrderStatus.PACKING, OrderStatus.SHIPPED),
    ],
)
def test_r1_order_moves_forward_one_state_at_a_time(start, end):
    order = make_order(status=start)
    order.move_to(end)
    assert order.status is end


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (OrderStatus.PREORDER, OrderStatus.PACKING),
        (OrderStatus.PREORDER, OrderStatus.SHIPPED),
        (OrderStatus.ORDER, OrderStatus.SHIPPED),
        (OrderStatus.SHIPPED, OrderStatus.PACKING),
        (OrderStatus.PACKING, OrderStatus.ORDER),
    ],
)
def test_r1_order_refuses_any_other_move_and_keeps_its_state(start, end):
    order = make_order(status=start)
    with pytest.raises(OrderRuleError, match="cannot become"):
        order.move_to(end)
    assert order.status is start


def test_r1_preorder_without_customer_stays_preorder():
    order = make_order(status=OrderStatus.PREORDER)
    order.customer_name = "  "
    with pytest.raises(OrderRuleError, match="no customer"):
        order.move_to(OrderStatus.ORDER)
    assert order.status is OrderStatus.PREORDER


def test_r1_every_order_is_in_exactly_one_of_four_states():
    assert {s.value for s in OrderStatus} == {"preorder", "order", "packing", "shipped"}


# R2 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [OrderStatus.ORDER, OrderStatus.PACKING])
def test_r2_contents_change_while_order_or_packing(status):
    order = make_order(status=status)
    order.set_quantity(1, 1)
    order.set_price(2, 2500)
    assert order.lines[0].quantity == 1
    assert order.lines[1].unit_price_minor == 2500


@pytest.mark.parametrize("status", [OrderStatus.PREORDER, OrderStatus.SHIPPED])
def test_r2_contents_refused_in_preorder_and_shipped_with_clear_message(status):
    order = make_order(status=status)
    with pytest.raises(OrderRuleError, match="only be changed while it is 'order' or 'packing'"):
        order.set_quantity(1, 5)
    with pytest.raises(OrderRuleError):
        order.set_price(1, 1)
    with pytest.raises(OrderRuleError):
        order.add_line(OrderLine(sku="X", name="X", quantity=1, unit_price_minor=1))
    assert order.lines[0].quantity == 2


def test_r2_quantity_never_below_what_is_packed_or_delivered():
    order = make_order()
    order.lines[0].packed = 1
    order.lines[0].delivered = 1
    with pytest.raises(OrderRuleError, match="can't be lower"):
        order.set_quantity(1, 1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_r2_quantity_must_be_a_whole_number_of_at_least_one(bad):
    with pytest.raises(OrderRuleError, match="quantity"):
        make_order(status=OrderStatus.ORDER).set_quantity(1, bad)


def test_r2_new_line_allowed_in_order_state():
    order = make_order(status=OrderStatus.ORDER)
    order.add_line(OrderLine(sku="NEW", name="New", quantity=1, unit_price_minor=100))
    assert [line.sku for line in order.lines][-1] == "NEW"


# R3 -------------------------------------------------------------------------------------
def test_r3_waiting_order_keeps_its_state_but_leaves_the_outbound_queue():
    order = make_order()
    assert order.in_outbound_queue
    order.set_waiting(True)
    assert order.status is OrderStatus.PACKING
    assert not order.in_outbound_queue
    order.set_waiting(False)
    assert order.in_outbound_queue


def test_r3_shipped_order_cannot_be_set_waiting():
    with pytest.raises(OrderRuleError, match="shipped"):
        make_order(status=OrderStatus.SHIPPED).set_waiting(True)


# R5 -------------------------------------------------------------------------------------
def test_r5_own_status_is_validated_and_code_unique():
    status = validate_own_status(" backorder ", " Restorder ", taken_codes=["GIFT"])
    assert (status.code, status.name) == ("BACKORDER", "Restorder")
    with pytest.raises(OrderRuleError, match="already in use"):
        validate_own_status("gift", "Present", taken_codes=["GIFT"])
    with pytest.raises(OrderRuleError, match="status code"):
        validate_own_status("no spaces", "x", taken_codes=[])
    with pytest.raises(OrderRuleError, match="status name"):
        validate_own_status("OK", "", taken_codes=[])


# R9 / R10 -------------------------------------------------------------------------------
def test_r9_invoice_only_for_own_invoice_orders_one_at_a_time():
    own = make_order(payment_method=PaymentMethod.OWN_INVOICE)
    card = make_order(payment_method=PaymentMethod.CARD)
    assert check_print_request(Document.INVOICE, [own]) == [own]
    with pytest.raises(OrderRuleError, match="one order at a time"):
        check_print_request(Document.INVOICE, [own, own])
    with pytest.raises(OrderRuleError, match="not paid by own invoice"):
        check_print_request(Document.INVOICE, [card])
    assert len(check_print_request(Document.PICKLIST, [own, card])) == 2


def test_r9_only_orders_in_the_outbound_queue_print():
    waiting = make_order(waiting=True)
    with pytest.raises(OrderRuleError, match="not in the outbound queue"):
        check_print_request(Document.PICKLIST, [waiting])
    with pytest.raises(OrderRuleError, match="at least one"):
        check_print_request(Document.RECEIPT, [])


def test_r10_combined_print_strikes_both_markers():
    assert printed_markers(Document.PICKLIST_RECEIPT) == (Document.PICKLIST, Document.RECEIPT)
    assert printed_markers(Document.INVOICE) == (Document.INVOICE,)


# R13 ------------------------------------------------------------------------------------
def test_r13_a_delivery_carries_at_most_four_parcel_ids():
    delivery = plan_delivery(make_order())
    for n in range(MAX_PARCEL_IDS):
        add_parcel_id(delivery, f"parcel-{n}")
    assert delivery.parcel_ids == [f"PARCEL-{n}" for n in range(MAX_PARCEL_IDS)]
    with pytest.raises(OrderRuleError, match="at most 4 parcel ids"):
        add_parcel_id(delivery, "one-too-many")
    assert len(delivery.parcel_ids) == MAX_PARCEL_IDS


def test_r13_parcel_id_never_twice_nor_on_two_orders():
    delivery = plan_delivery(make_order())
    add_parcel_id(delivery, "RR473124829SE")
    with pytest.raises(OrderRuleError, match="already on this delivery"):
        add_parcel_id(delivery, "rr473124829se")
    with pytest.raises(OrderRuleError, match="another order"):
        add_parcel_id(delivery, "00373500000000001", used_elsewhere={"00373500000000001"})


@pytest.mark.parametrize("bad", ["", "   ", "<script>", "x" * 41])
def test_r13_malformed_parcel_id_is_refused(bad):
    delivery = plan_delivery(make_order())
    with pytest.raises(OrderRuleError):
        add_parcel_id(delivery, bad)
    assert delivery.parcel_ids == []


# R14 ------------------------------------------------------------------------------------
def test_r14_partial_delivery_keeps_order_packing():
    order = make_order(quantities=(2, 1))
    delivery = plan_delivery(order, {1: 1})
    add_parcel_id(delivery, "PKG-1")
    result = report_in(order, delivery, NOW)
    assert not result.shipped
    assert order.status is OrderStatus.PACKING
    assert (order.lines[0].delivered, order.lines[0].undelivered) == (1, 1)
    assert result.stock_out == {"SKU-1": 1}


def test_r14_partial_quantity_never_more_than_what_is_left():
    order = make_order(quantities=(2, 1))
    with pytest.raises(OrderRuleError, match="more than the 2 left"):
        plan_delivery(order, {1: 3})
    with pytest.raises(OrderRuleError, match="holds no items"):
        plan_delivery(order, {1: 0, 2: 0})
    with pytest.raises(OrderRuleError, match="no line 9"):
        plan_delivery(order, {9: 1})
    with pytest.raises(OrderRuleError, match="0 or more"):
        plan_delivery(order, {1: -1})


def test_r14_only_packing_orders_are_delivered():
    with pytest.raises(OrderRuleError, match="only packing orders ship"):
        plan_delivery(make_order(status=OrderStatus.ORDER))


# R15 ------------------------------------------------------------------------------------
def test_r15_report_in_ships_order_when_every_line_is_delivered():
    order = make_order(quantities=(2, 1))
    first = plan_delivery(order, {1: 2})
    add_parcel_id(first, "PKG-1")
    assert not report_in(order, first, NOW).shipped
    rest = plan_delivery(order)
    assert rest.quantities == {2: 1}
    add_parcel_id(rest, "PKG-2")
    result = report_in(order, rest, NOW)
    assert result.shipped
    assert order.status is OrderStatus.SHIPPED
    assert all(order.reserved(line) == 0 for line in order.lines)
    assert result.released == {"SKU-2": 1}


def test_r15_report_in_needs_a_parcel_id_and_happens_once():
    order = make_order()
    delivery = plan_delivery(order)
    with pytest.raises(OrderRuleError, match="at least one parcel id"):
        report_in(order, delivery, NOW)
    add_parcel_id(delivery, "PKG-1")
    report_in(order, delivery, NOW)
    with pytest.raises(OrderRuleError, match="already reported"):
        report_in(order, delivery, NOW)
    with pytest.raises(OrderRuleError, match="already reported"):
        add_parcel_id(delivery, "PKG-2")


def test_r15_report_in_refuses_a_delivery_planned_before_the_order_changed():
    order = make_order(quantities=(2,))
    stale = Delivery(order_id=42, quantities={1: 2}, parcel_ids=["PKG-1"])
    order.lines[0].delivered = 1
    with pytest.raises(OrderRuleError, match="plan this delivery again"):
        report_in(order, stale, NOW)
    assert order.lines[0].delivered == 1


def test_r15_report_in_lowers_packed_counts_by_what_shipped():
    order = make_order(quantities=(2,))
    order.lines[0].packed = 2
    delivery = plan_delivery(order)
    add_parcel_id(delivery, "PKG-1")
    report_in(order, delivery, NOW)
    assert (order.lines[0].packed, order.lines[0].delivered) == (0, 2)


def test_r2_lowering_a_packing_line_releases_its_reservation():
    order = make_order(quantities=(3,))
    assert order.set_quantity(1, 1) == 2
    assert (order.lines[0].quantity, order.reserved(order.lines[0])) == (1, 1)


def test_r2_packing_line_cannot_grow_past_what_the_pack_script_reserved():
    order = make_order(quantities=(1,))
    with pytest.raises(OrderRuleError, match="already packing with stock reserved"):
        order.set_quantity(1, 2)
    assert order.lines[0].quantity == 1
    order_state = make_order(status=OrderStatus.ORDER, quantities=(1,))
    assert order_state.set_quantity(1, 5) == 0


def test_r15_shipping_releases_every_reservation_left_on_the_order():
    order = make_order(quantities=(3, 1))
    partial = plan_delivery(order, {1: 1})
    add_parcel_id(partial, "PKG-1")
    assert report_in(order, partial, NOW).released == {"SKU-1": 1}
    assert [order.reserved(line) for line in order.lines] == [2, 1]
    rest = plan_delivery(order)
    add_parcel_id(rest, "PKG-2")
    result = report_in(order, rest, NOW)
    assert result.shipped and [order.reserved(line) for line in order.lines] == [0, 0]
    assert result.released == {"SKU-1": 2, "SKU-2": 1}


@pytest.mark.parametrize(
    ("status", "held"),
    [
        (OrderStatus.PREORDER, 0),
        (OrderStatus.ORDER, 0),
        (OrderStatus.PACKING, 3),  # quantity 5, 2 delivered
        (OrderStatus.SHIPPED, 0),
    ],
)
def test_r7_a_line_holds_what_is_left_to_deliver_only_while_packing(status, held):
    assert line_reservation(status, 5, 2) == held
    assert line_reservation(status.value, 5, 2) == held  # as a row from the store has it


def test_payment_methods_in_the_schema_are_core_s():
    from stationd.store.tables import orders

    check = next(c for c in orders.constraints if c.name.endswith("payment_method_is_known"))
    assert all(f"'{m.value}'" in str(check.sqltext) for m in PaymentMethod)


def test_money_is_written_the_nordic_way():
    from stationd.core.money import format_money

    assert format_money(123450) == "1\u00a0234,50\u00a0kr"
    assert format_money(-50, "EUR") == "-0,50\u00a0€"
    # "kr" only where it names one currency (issue 12): NOK in Norwegian, not in Swedish.
    assert format_money(0, "NOK", "nb") == "0,00\u00a0kr"
    assert format_money(0, "NOK") == "0,00\u00a0NOK"
    assert format_money(123450, "SEK", "nb") == "1\u00a0234,50\u00a0SEK"
    assert format_money(123450, "NOK", "en") == "NOK1,234.50"
