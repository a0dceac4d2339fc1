"""Report-in as one use case (services/report_in.ReportIn): R13 parcel ids, R14 partial
delivery, R15 shipped, and the weight check before a label prints — on SQLite and PostgreSQL,
read back as rows in the database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from stationd.events import OrderChanged
from stationd.services.report_in import (
    DeliveryRequest,
    Outcome,
    ReportIn,
    Weighing,
    WeightNeedsConfirmation,
)
from stationd.store.orders import load_order
from stationd.store.tables import deliveries, orders, parcel_ids

WEIGHING = Weighing(tolerance_g=50, tolerance_pct=5.0, box_tare_g=150)


@pytest.fixture
def report_in(store, bus):
    return ReportIn(store, bus, "bench-1", weighing=WEIGHING)


@pytest.fixture
def order_id(shop):
    shop.product("A", on_hand=5, number=1)
    shop.product("B", on_hand=5, number=2)
    return shop.order([("A", 2), ("B", 1)], status="packing", reserve=True)


def line_ids(store, order_id):
    with store.read() as conn:
        return {line.sku: line.id for line in load_order(conn, order_id).lines}


def everything(store, order_id):
    with store.read() as conn:
        return {line.id: line.undelivered for line in load_order(conn, order_id).lines}


def status(store, order_id):
    with store.read() as conn:
        return conn.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar_one()


def count(store, table):
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_r14_partial_delivery_keeps_the_order_packing_and_says_what_is_left(
    store, report_in, order_id
):
    ids = line_ids(store, order_id)
    [outcome] = report_in.report([DeliveryRequest(order_id, ["PKG-1"], {ids["A"]: 1})])
    assert outcome.outcome is Outcome.PARTIAL and outcome.parcel_ids == ("PKG-1",)
    assert dict(outcome.left) == {"Product A": 1, "Product B": 1}
    assert status(store, order_id) == "packing"


def test_r15_report_in_of_everything_left_ships_the_order_and_tells_the_bus(
    store, report_in, order_id
):
    heard = report_in.bus.queue(OrderChanged)
    [outcome] = report_in.report(
        [DeliveryRequest(order_id, ["PKG-1", "PKG-2"], everything(store, order_id))]
    )
    assert outcome.outcome is Outcome.SHIPPED and outcome.ok
    assert status(store, order_id) == "shipped"
    assert heard.get(timeout=1) == OrderChanged(order_id, "shipped")
    assert count(store, parcel_ids) == 2


def test_r13_a_fifth_parcel_id_is_refused_and_nothing_is_written(store, report_in, order_id):
    five = [f"PKG-{n}" for n in range(1, 6)]
    [outcome] = report_in.report([DeliveryRequest(order_id, five, everything(store, order_id))])
    assert outcome.outcome is Outcome.REFUSED and not outcome.ok
    assert status(store, order_id) == "packing"
    assert count(store, deliveries) == 0 and count(store, parcel_ids) == 0


def test_r15_one_order_refused_does_not_hold_back_the_next(store, shop, report_in, order_id):
    other = shop.order([("A", 1)], status="packing", reserve=True)
    refused, shipped = report_in.report(
        [
            DeliveryRequest(order_id, [f"PKG-{n}" for n in range(5)], everything(store, order_id)),
            DeliveryRequest(other, ["PKG-9"], everything(store, other)),
        ]
    )
    assert refused.outcome is Outcome.REFUSED and shipped.outcome is Outcome.SHIPPED
    assert status(store, order_id) == "packing" and status(store, other) == "shipped"


def test_r16_a_parcel_weighing_off_its_contents_asks_first_and_writes_nothing(
    store, report_in, order_id
):
    # Contents 3 × 250 g + 150 g box = 900 g; 2 kg is far off.
    [outcome] = report_in.report(
        [DeliveryRequest(order_id, ["PKG-1"], everything(store, order_id), weight_g=2000)]
    )
    assert outcome.outcome is Outcome.CONFIRM
    assert status(store, order_id) == "packing" and count(store, deliveries) == 0
    with pytest.raises(WeightNeedsConfirmation):
        report_in.ship(order_id, ["PKG-1"], weight_g=2000)
    result = report_in.ship(order_id, ["PKG-1"], weight_g=2000, confirm_weight=True)
    assert result.shipped and status(store, order_id) == "shipped"
    with store.read() as conn:
        assert conn.execute(select(deliveries.c.weight_g)).scalar_one() == 2000


def test_r16_a_parcel_weighing_what_its_contents_do_ships_without_asking(
    store, report_in, order_id
):
    assert report_in.ship(order_id, ["PKG-1"], weight_g=910).shipped
