"""core.sync_ops: what an op a station pushed does at central, and when central refuses it
(docs/sync.md "Ops out" and "Conflicts"), on plain values."""

from __future__ import annotations

from stationd.core import audit as ev
from stationd.core.sync_ops import (
    ACCEPTED,
    REFUSED,
    AddLine,
    CentralLine,
    CentralOrder,
    Claim,
    DropParcelId,
    Elsewhere,
    KeepParcelId,
    MarkLabelled,
    Op,
    PackedDelta,
    Report,
    SetQuantity,
    SetWaiting,
    decide,
)

BENCH = "bench-a"
HELD = Claim(BENCH, 7)


def op(event: ev.AuditEvent, *, epoch: int | None = 7, station: str = BENCH, order_id=1000) -> Op:
    return Op("k-1", station, event.kind, order_id, epoch, event.payload())


def order(
    *,
    status: str = "packing",
    lines=((1, 2, 0, 0),),
    claim: Claim | None = HELD,
    labelled: bool = False,
    pending=(),
    reported=(),
) -> CentralOrder:
    return CentralOrder(
        1000,
        status,
        tuple(CentralLine(i, f"SKU-{i}", q, p, d, 9900) for i, q, p, d in lines),
        claim=claim,
        labelled=labelled,
        pending_parcel_ids=tuple(pending),
        reported_parcel_ids=tuple(reported),
    )


# --- the fence (R17) --------------------------------------------------------------------------


def test_r17_an_op_under_the_current_claim_counts():
    d = decide(op(ev.ItemPacked(1)), order())
    assert d.outcome == ACCEPTED and d.effects == (PackedDelta(1, 1),)


def test_r17_a_stale_epoch_is_refused_with_who_holds_it_now():
    d = decide(op(ev.ItemPacked(1), epoch=6), order(claim=Claim("bench-b", 8)))
    assert d.outcome == REFUSED
    assert d.reason == (
        "bench-a's claim on order 1000 (epoch 6) is stale: bench-b holds it now (epoch 8). "
        "This change was not applied."
    )
    assert d.effects == () and d.task is None


def test_r17_an_older_epoch_of_the_same_station_is_stale_too():
    d = decide(op(ev.ItemPacked(1), epoch=6), order(claim=Claim(BENCH, 9)))
    assert d.outcome == REFUSED and "stale" in d.reason


def test_r17_a_released_claim_refuses_late_ops():
    d = decide(op(ev.ItemPacked(1)), order(claim=None))
    assert d.outcome == REFUSED and "released" in d.reason


def test_r17_a_stale_shipment_is_refused_and_leaves_the_admin_a_task():
    shipped = ev.Shipped(5, ("PARCEL0001",), {"1": 2})
    d = decide(op(shipped, epoch=6), order(claim=Claim("bench-b", 8)))
    assert d.outcome == REFUSED and d.task is not None and "stale claim" in d.task


def test_r17_an_edit_without_epoch_is_refused_while_another_bench_holds_the_order():
    d = decide(op(ev.WaitingSet(True), epoch=None), order(claim=Claim("bench-b", 8)))
    assert d.outcome == REFUSED and "held by bench-b" in d.reason
    d = decide(op(ev.WaitingSet(True), epoch=None), order(claim=None))
    assert d.outcome == ACCEPTED and d.effects == (SetWaiting(True),)


def test_an_unknown_order_is_refused_and_a_physical_fact_on_it_is_a_task():
    d = decide(op(ev.ItemPacked(1)), None)
    assert d.outcome == REFUSED and d.reason == (
        "Order 1000 is not at central any more. Put the goods back."
    )
    d = decide(op(ev.Shipped(5, (), {"1": 2})), None)
    assert d.outcome == REFUSED and d.task is not None


def test_kinds_without_central_effect_are_accepted_and_recorded():
    d = decide(Op("k", BENCH, ev.SignedIn.kind, None, None, {"operator": 1, "how": "pin"}), None)
    assert d.outcome == ACCEPTED and d.effects == ()
    d = decide(Op("k", BENCH, "some.future_kind", 1000, 7, {"x": 1}), None)
    assert d.outcome == ACCEPTED


def test_a_known_kind_with_a_payload_that_does_not_fit_is_refused_readably():
    d = decide(Op("k", BENCH, ev.ItemPacked.kind, 1000, 7, {"nothing": 1}), order())
    assert d.outcome == REFUSED and "can't read" in d.reason


# --- packing ----------------------------------------------------------------------------------


def test_r12_unpacking_takes_the_packed_count_down_and_never_below_zero():
    d = decide(op(ev.ItemUnpacked(1)), order(lines=((1, 2, 1, 0),)))
    assert d.effects == (PackedDelta(1, -1),)
    d = decide(op(ev.ItemUnpacked(1)), order(lines=((1, 2, 0, 0),)))
    assert d.outcome == REFUSED


def test_r13_parcel_ids_kept_removed_and_never_on_two_orders():
    assert decide(op(ev.ParcelIdAdded("PARCEL0001")), order()).effects == (
        KeepParcelId("PARCEL0001"),
    )
    d = decide(
        op(ev.ParcelIdAdded("PARCEL0001")), order(), Elsewhere(taken_parcel_ids={"PARCEL0001"})
    )
    assert d.outcome == REFUSED and "another order" in d.reason
    d = decide(op(ev.ParcelIdRemoved("PARCEL0001")), order(pending=["PARCEL0001"]))
    assert d.effects == (DropParcelId("PARCEL0001"),)


def test_facts_are_monotonic_a_reported_parcel_id_is_never_removed():
    d = decide(op(ev.ParcelIdRemoved("PARCEL0001")), order(reported=["PARCEL0001"]))
    assert d.outcome == REFUSED and "reported already" in d.reason


def test_labels_mark_the_parcel_ids_labelled():
    d = decide(op(ev.LabelsPrinted(("PARCEL0001",), (3,))), order(pending=["PARCEL0001"]))
    assert d.effects == (MarkLabelled(("PARCEL0001",)),) and d.task is None


def test_r15_a_shipment_delivers_releases_and_ships_the_order():
    d = decide(
        op(ev.Shipped(5, ("PARCEL0001",), {"1": 2})), order(lines=((1, 2, 2, 0),), labelled=True)
    )
    assert d.outcome == ACCEPTED and d.task is None
    (report,) = d.effects
    assert report == Report({1: 2}, ("PARCEL0001",), {1: 2}, {"SKU-1": 2}, {"SKU-1": 2}, "shipped")


def test_r14_a_partial_delivery_leaves_the_order_packing():
    d = decide(op(ev.PartialDelivery(5, (), {"1": 1})), order(lines=((1, 2, 1, 0),)))
    (report,) = d.effects
    assert report.status == "packing" and report.released == {"SKU-1": 1}


# --- conflicts --------------------------------------------------------------------------------


def test_conflict_cancelled_centrally_before_any_label_central_wins_put_the_goods_back():
    d = decide(op(ev.ItemPacked(1)), order(status="order"))
    assert d.outcome == REFUSED
    assert d.reason == "Order 1000 is order at central now. Put the goods back."
    assert d.task is None


def test_conflict_edited_centrally_before_any_label_central_wins():
    d = decide(op(ev.ItemPacked(1)), order(lines=((1, 1, 1, 0),)))
    assert d.outcome == REFUSED and "Put the goods back" in d.reason


def test_conflict_after_a_label_the_physical_fact_wins_and_the_admin_gets_a_task():
    d = decide(op(ev.ItemPacked(1)), order(status="order", labelled=True))
    assert d.outcome == ACCEPTED and d.effects == (PackedDelta(1, 1),)
    assert d.task is not None and "after its label" in d.task


def test_conflict_a_shipment_of_an_order_cut_centrally_is_kept_and_tasked():
    d = decide(op(ev.Shipped(5, ("PARCEL0001",), {"1": 3})), order(lines=((1, 2, 2, 0),)))
    assert d.outcome == ACCEPTED and d.task is not None and "ships 3 of 2" in d.task


def test_conflict_an_order_is_never_reduced_below_what_has_shipped():
    edit = ev.LineQuantityChanged(1, "SKU-1", old=4, new=1)
    d = decide(op(edit, epoch=None), order(status="packing", lines=((1, 4, 0, 2),), claim=None))
    assert d.outcome == REFUSED and "can't be lower" in d.reason
    ok = ev.LineQuantityChanged(1, "SKU-1", old=4, new=3)
    d = decide(op(ok, epoch=None), order(lines=((1, 4, 0, 2),), claim=None))
    assert d.effects == (SetQuantity(1, "SKU-1", 3, 1),)


def test_conflict_an_edit_made_against_an_old_quantity_is_refused_not_guessed():
    edit = ev.LineQuantityChanged(1, "SKU-1", old=3, new=2)
    d = decide(op(edit, epoch=None), order(lines=((1, 4, 0, 0),), claim=None))
    assert d.outcome == REFUSED and "is 4 at central now, not 3" in d.reason


def test_r2_a_line_is_added_only_while_not_packing():
    add = ev.LineAdded(99, "SKU-9", 2, 500)
    d = decide(op(add, epoch=None), order(status="order", claim=None))
    assert d.effects == (AddLine("SKU-9", 2, 500),)
    d = decide(op(add, epoch=None), order(status="packing", claim=None))
    assert d.outcome == REFUSED


def test_r3_a_shipped_order_is_not_set_waiting():
    d = decide(op(ev.WaitingSet(True), epoch=None), order(status="shipped", claim=None))
    assert d.outcome == REFUSED and "shipped" in d.reason
