"""Push (issue 11, docs/sync.md "Ops out"): a station's outbox to a real central PostgreSQL,
each op applied once whatever breaks — a duplicate push, an ack lost after the commit, a stale
claim — and every op answered on its event row."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sync.push_fixtures import (  # noqa: F401  (the push's fixtures: central, station, …)
    STATION,
    answers,
    claim_at,
    inbox_count,
    packed_at,
    push_central,
    push_central_template,
    push_cut_proxy,
    push_station,
    push_station_template,
    same_shop,
    write_ops,
)

from stationd.core.audit import ItemUnpacked, ParcelIdAdded, PartialDelivery, Shipped, SignedIn
from stationd.store import central_claims
from stationd.store.tables import deliveries, events, order_lines, orders, sync_ops, sync_tasks
from stationd.sync.push import Pusher, backoff_s

pytestmark = pytest.mark.postgres


@pytest.fixture
def pusher(station, central):  # type: ignore[no-untyped-def]
    made = Pusher(station, central.url, timeout_s=5)
    yield made
    made.dispose()


def test_push_sends_the_outbox_in_order_and_notes_each_answer(station, central, pusher, make_shop):
    (order,) = same_shop(make_shop, station, central)
    claim_at(central, order)
    keys = write_ops(station, order, 3)
    done = pusher.push_all()
    assert (done.sent, done.refused) == (3, 0)
    assert packed_at(central, order) == 3
    assert all(answers(station)[k] == ("accepted", None) for k in keys)
    with station.read() as conn:
        assert conn.execute(select(func.count()).where(events.c.sent_at.is_(None))).scalar() == 0


def test_a_duplicate_push_gets_the_stored_outcome_and_changes_nothing(
    station, central, pusher, make_shop
):
    (order,) = same_shop(make_shop, station, central)
    claim_at(central, order)
    write_ops(station, order, 2)
    pusher.push_all()
    # The same ops again, as a station that lost its notes of the answers would send them.
    with station.write() as conn:
        conn.execute(update(events).values(sent_at=None, outcome=None))
    again = pusher.push_all()
    assert (again.sent, again.duplicates) == (2, 2)
    assert packed_at(central, order) == 2
    assert inbox_count(central) == 2
    assert {a for a, _ in answers(station).values()} == {"accepted"}


def test_an_ack_lost_after_central_committed_is_answered_once(
    station, central, cut_proxy, make_shop
):
    (order,) = same_shop(make_shop, station, central)
    claim_at(central, order)
    keys = write_ops(station, order, 3)
    pusher = Pusher(station, cut_proxy.url(central.url), timeout_s=5)
    try:
        cut_proxy.cut_after_commit = True
        with pytest.raises(OperationalError):
            pusher.push_round()
        assert cut_proxy.cuts == 1
        # Central committed the first transaction's ops; the station never heard it.
        committed = inbox_count(central)
        assert committed >= 1
        assert all(answers(station)[k] == (None, None) for k in keys)
        done = pusher.push_all()
    finally:
        pusher.dispose()
    assert (done.sent, done.duplicates) == (3, committed)
    assert packed_at(central, order) == 3
    assert inbox_count(central) == 3


def test_r17_a_stale_epoch_is_refused_readably_and_later_ops_go_through(
    station, central, pusher, make_shop
):
    first, second = same_shop(make_shop, station, central, orders=2)
    claim_at(central, first, station="bench-b", epoch=2)  # taken over while bench-a packed
    claim_at(central, second, epoch=3)
    stale = write_ops(station, first, 2, epoch=1)
    fine = write_ops(station, second, 2, epoch=3)
    done = pusher.push_all()
    assert (done.sent, done.refused) == (4, 2)
    told = answers(station)
    assert told[stale[0]] == (
        "refused",
        "bench-a's claim on order 1000 (epoch 1) is stale: bench-b holds it now (epoch 2). "
        "This change was not applied.",
    )
    assert all(told[k] == ("accepted", None) for k in fine)
    assert packed_at(central, first) == 0 and packed_at(central, second) == 2


def test_kinds_without_effect_are_accepted_and_kept_as_the_stations_work(
    station, central, pusher, make_shop
):
    same_shop(make_shop, station, central)
    with station.write() as conn:
        from stationd.store.audit import record_event

        key = record_event(conn, SignedIn(1, "pin"), station=STATION, operator_id=None)
    pusher.push_all()
    assert answers(station)[key] == ("accepted", None)
    with central.read() as conn:
        assert conn.execute(select(sync_ops.c.kind).where(sync_ops.c.key == key)).scalar() == (
            "operator.signed_in"
        )


def test_r15_a_shipment_pushed_ships_the_order_at_central_with_its_parcel_id(
    station, central, pusher, make_shop
):
    (order,) = same_shop(make_shop, station, central, quantity=2)
    claim_at(central, order)
    write_ops(station, order, 2)
    with station.read() as conn:
        line = conn.execute(select(order_lines.c.id)).scalar()
    write_ops(station, order, 1, event=lambda _: ParcelIdAdded("PARCEL0001", "typed"))
    write_ops(station, order, 1, event=lambda _: Shipped(1, ("PARCEL0001",), {str(line): 2}))
    done = pusher.push_all()
    assert (done.sent, done.refused) == (4, 0)
    with central.read() as conn:
        assert conn.execute(select(orders.c.status)).scalar() == "shipped"
        assert conn.execute(select(order_lines.c.delivered, order_lines.c.packed)).one() == (2, 0)
        assert conn.execute(select(func.count()).select_from(deliveries)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(sync_tasks)).scalar() == 0


def test_conflict_cancelled_centrally_during_an_outage_the_packer_is_told_to_put_back(
    station, central, pusher, make_shop
):
    (order,) = same_shop(make_shop, station, central)
    claim_at(central, order)
    keys = write_ops(station, order, 1)  # packed offline
    with central.write() as conn:  # meanwhile the shop took the order back
        conn.execute(update(orders).values(status="order"))
    pusher.push_all()
    assert answers(station)[keys[0]] == (
        "refused",
        "Order 1000 is order at central now. Put the goods back.",
    )
    assert packed_at(central, order) == 0


def test_the_back_off_grows_with_failures_and_is_jittered_up_to_15_s():
    import random

    rng = random.Random(1)
    waits = [backoff_s(n, 1.0, rng=rng) for n in (1, 2, 3, 4, 10)]
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2 and 2 <= waits[2] <= 4
    # capped: a bench whose network came back sends within seconds, not after a minute
    assert 7.5 <= waits[4] <= 15
    assert len({backoff_s(3, 1.0, rng=rng) for _ in range(5)}) == 5
    # a push interval set above the cap is not cut to it
    assert 60 <= backoff_s(10, 120.0, rng=rng) <= 120


def test_an_op_central_constraints_refuse_is_refused_readably_and_its_group_goes_through(
    station, central, pusher, make_shop
):
    (order,) = same_shop(make_shop, station, central)
    claim_at(central, order)
    before = write_ops(station, order, 2)
    # A parcel id longer than central keeps: no rule of core's sees it, the column does.
    (bad,) = write_ops(station, order, 1, event=lambda _: ParcelIdAdded("P" * 60, "typed"))
    after = write_ops(station, order, 2)
    done = pusher.push_all()
    assert (done.sent, done.refused) == (5, 1)
    outcome, reason = answers(station)[bad]
    assert outcome == "refused" and reason.startswith("Central could not apply this change: ")
    assert all(answers(station)[k] == ("accepted", None) for k in before + after)
    assert packed_at(central, order) == 4


def test_a_benchs_history_from_before_sync_stays_home(central, make_shop, tmp_path):
    from stationd.store.database import Store
    from stationd.store.outbox import HISTORY_REASON

    old = Store(f"sqlite:///{tmp_path / 'old-bench.sqlite'}")  # a bench that ran alone so far
    old.upgrade()
    (order,) = same_shop(make_shop, old, central)
    claim_at(central, order)
    history = write_ops(old, order, 3)
    pusher = Pusher(old, central.url, timeout_s=5)
    try:
        assert pusher.push_all().sent == 0  # its first push notes where sync starts
        new = write_ops(old, order, 2)
        assert pusher.push_all().sent == 2
    finally:
        pusher.dispose()
        told = answers(old)
        old.dispose()
    assert all(told[k] == (None, HISTORY_REASON) for k in history)
    assert all(told[k] == ("accepted", None) for k in new)
    assert packed_at(central, order) == 2


def test_each_kind_pushed_writes_its_effect_at_central(station, central, pusher, make_shop):
    from stationd.core.audit import (
        LabelsPrinted,
        LineAdded,
        LineQuantityChanged,
        LineRemoved,
        OwnStatusSet,
        ParcelIdRemoved,
        WaitingSet,
    )
    from stationd.store.tables import own_statuses, parcel_ids, stock

    edited, packing = same_shop(make_shop, station, central, orders=2, quantity=4)
    with central.write() as conn:
        conn.execute(update(orders).where(orders.c.id == edited).values(status="order"))
        conn.execute(own_statuses.insert().values(id=7, code="VIP", name="Important"))
        line = conn.execute(
            select(order_lines.c.id).where(order_lines.c.order_id == edited)
        ).scalar()
        packing_line = conn.execute(
            select(order_lines.c.id).where(order_lines.c.order_id == packing)
        ).scalar()
    claim_at(central, packing)
    # Edits on the orders page (no claim), then a bench's parcel ids and labels.
    for event in (
        LineAdded(99, "SKU-1", 2, 500),
        LineQuantityChanged(line, "SKU-1", old=4, new=3),
        WaitingSet(True),
        OwnStatusSet(3, "VIP", "Important"),
    ):
        write_ops(station, edited, 1, epoch=None, event=lambda _, e=event: e)
    write_ops(station, edited, 1, epoch=None, event=lambda _: LineRemoved(line, "SKU-1", 3))
    for event in (
        ParcelIdAdded("PARCEL0001", "typed"),
        ParcelIdAdded("PARCEL0002", "typed"),
        ParcelIdRemoved("PARCEL0002"),
        LabelsPrinted(("PARCEL0001",), (1,)),
        LineQuantityChanged(packing_line, "SKU-1", old=4, new=2),
    ):
        write_ops(station, packing, 1, event=lambda _, e=event: e)
    done = pusher.push_all()
    refused = {k: r for k, (o, r) in answers(station).items() if o == "refused"}
    assert (done.sent, refused) == (10, {})
    with central.read() as conn:
        lines = conn.execute(
            select(order_lines.c.sku, order_lines.c.quantity, order_lines.c.unit_price_minor).where(
                order_lines.c.order_id == edited
            )
        ).all()
        assert lines == [("SKU-1", 2, 500)]  # the added line; the first one cut, then removed
        row = conn.execute(
            select(orders.c.waiting, orders.c.own_status_id, orders.c.value_minor).where(
                orders.c.id == edited
            )
        ).one()
        assert tuple(row) == (True, 7, 1000)
        kept = conn.execute(select(parcel_ids.c.parcel_id, parcel_ids.c.labelled)).all()
        assert kept == [("PARCEL0001", True)]
        # Packing: the reservation of 4 + 4 (both orders, reserve=True) less the 2 let go.
        assert conn.execute(select(stock.c.reserved)).scalar() == 6
        assert (
            conn.execute(
                select(order_lines.c.quantity).where(order_lines.c.id == packing_line)
            ).scalar()
            == 2
        )


def _line(store) -> int:  # type: ignore[no-untyped-def]
    with store.read() as conn:
        return conn.execute(select(order_lines.c.id)).scalar_one()


def _tasks(central) -> list[str]:  # type: ignore[no-untyped-def]
    with central.read() as conn:
        return list(conn.execute(select(sync_tasks.c.text)).scalars())


def test_r17_a_report_shipping_items_whose_scans_central_refused_leaves_the_admin_a_task(
    station, central, pusher, make_shop
):
    """Issue 11's one "duplicated: 1" of bench/sync.py: the claims' keep-alive released a
    claim while the packer had just opened the order under it, central refused the first scan
    ("released"), the bench — no claim now — wrote its later ops without an epoch, which the
    fence lets through while nobody holds the order, and its report-in shipped every item, the
    refused one too. The parcel left: accepted (a physical fact), with a task for the admin."""
    (order,) = same_shop(make_shop, station, central, quantity=2)
    line = _line(central)
    claim_at(central, order, epoch=1)
    first = write_ops(station, order, 1, epoch=1)
    pusher.push_all()
    # The keep-alive releases the claim at central while the packer scans under it.
    with central.write() as conn:
        assert central_claims.release(conn, STATION, [order]) == [order]
    second = write_ops(station, order, 1, epoch=1)
    # No claim at the bench any more: the report-in carries no epoch and ships both items.
    write_ops(station, order, 1, epoch=None, event=lambda _: Shipped(1, ("P-1",), {str(line): 2}))
    done = pusher.push_all()
    assert (done.sent, done.refused) == (2, 1)
    told = answers(station)
    assert told[first[0]] == ("accepted", None)
    assert told[second[0]][0] == "refused"
    # The parcel left with both items: central holds the physical fact, never more.
    with central.read() as conn:
        assert conn.execute(select(order_lines.c.packed, order_lines.c.delivered)).one() == (0, 2)
    assert _tasks(central) == [
        f"{STATION} reported a delivery of order {order} that does not fit central: line "
        "SKU-1 ships 2 with 1 packed at central, which refused 1 of this bench's scans of it."
    ]


def test_a_report_of_items_packed_and_accepted_leaves_no_task(station, central, pusher, make_shop):
    (order,) = same_shop(make_shop, station, central, quantity=2)
    line = _line(central)
    claim_at(central, order, epoch=1)
    write_ops(station, order, 2, epoch=1)
    write_ops(station, order, 1, epoch=1, event=lambda _: Shipped(1, ("P-1",), {str(line): 2}))
    assert pusher.push_all().refused == 0
    assert packed_at(central, order) == 0
    assert _tasks(central) == []


def test_a_scan_refused_then_taken_out_again_leaves_no_task(station, central, pusher, make_shop):
    """The packer took the refused item out again (its unpack refused too: nothing packed at
    central): the report ships only what central counted, nothing to decide."""
    (order,) = same_shop(make_shop, station, central, quantity=2)
    line = _line(central)
    claim_at(central, order, station="bench-b", epoch=2)  # held elsewhere: the scan is refused
    write_ops(station, order, 1, epoch=None)
    write_ops(station, order, 1, epoch=None, event=lambda _: ItemUnpacked(line))
    assert pusher.push_all().refused == 2
    claim_at(central, order, epoch=3)
    write_ops(station, order, 1, epoch=3)
    write_ops(
        station, order, 1, epoch=3, event=lambda _: PartialDelivery(1, ("P-1",), {str(line): 1})
    )
    assert pusher.push_all().refused == 0
    assert _tasks(central) == []
