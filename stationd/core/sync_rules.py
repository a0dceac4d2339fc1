"""Each op kind's effect at central once the fence let it through (core.sync_ops.decide).

One function per kind; each returns a `Decision`. The conflict rules (docs/sync.md) live here:
before any label central wins (refused, the packer puts the goods back), after one the
physical fact wins (accepted, a task for the admin); facts never go back; nothing goes below
what has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

from stationd.core import audit as ev
from stationd.core.orders import OrderRuleError, OrderStatus, line_reservation
from stationd.core.sync_ops import (
    AddLine,
    CentralOrder,
    Decision,
    DropLine,
    DropParcelId,
    Elsewhere,
    KeepParcelId,
    MarkLabelled,
    Op,
    PackedDelta,
    Report,
    SetOwnStatus,
    SetQuantity,
    SetWaiting,
    accept,
    as_order,
    refuse,
    status_word,
)
from stationd.core.text import Text, clauses, sentence

PACKING = OrderStatus.PACKING.value
SHIPPED = OrderStatus.SHIPPED.value


def apply(event: ev.AuditEvent, op: Op, order: CentralOrder, elsewhere: Elsewhere) -> Decision:
    """The decision for an op the fence let through (its kind is a bench's or an edit's)."""
    rule = _RULES.get(type(event))
    if rule is None:  # a bench kind with nothing to write here (ParcelStarted, Packed, …)
        return _bench_fact(op, order)
    return rule(event, op, order, elsewhere)


def _changed_at_central(order: CentralOrder) -> Text | None:
    """Why the order is no longer one a bench packs (None: it is)."""
    if order.status == PACKING:
        return None
    return sentence(
        "Order {id} is {status} at central now.", id=order.id, status=status_word(order.status)
    )


def _central_wins_or_fact(op: Op, order: CentralOrder, why: Text, *effects) -> Decision:  # type: ignore[no-untyped-def]
    """Central changed the order under a bench: before any label central wins (refused: put
    the goods back); after one, the physical fact wins and the admin gets a task."""
    if not order.labelled:
        return refuse(sentence("{why} Put the goods back.", why=why))
    return accept(
        *effects,
        task=sentence(
            "{station} packed order {id} after its label while central changed it: {why}",
            station=op.station,
            id=order.id,
            why=why,
        ),
    )


def _bench_fact(op: Op, order: CentralOrder) -> Decision:
    if why := _changed_at_central(order):
        if order.status == SHIPPED:
            return accept()  # a fact about a box of an order already gone: nothing to undo
        return _central_wins_or_fact(op, order, why)
    return accept()


def _packed(event: ev.ItemPacked, op: Op, order: CentralOrder, _: Elsewhere) -> Decision:
    line = order.line(event.line_id)
    if line is None:
        why = sentence("Order {id} has no line {line} at central.", id=order.id, line=event.line_id)
        if not order.labelled:
            return refuse(sentence("{why} Put the goods back.", why=why))
        return refuse(why, task=sentence("{station}: {why}", station=op.station, why=why))
    effect = PackedDelta(line.id, 1)
    if why := _changed_at_central(order):
        return _central_wins_or_fact(op, order, why, effect)
    if line.quantity - line.delivered - line.packed <= 0:
        why = sentence(
            "Line {sku} of order {id} has all its {quantity} packed or delivered at central.",
            sku=line.sku,
            id=order.id,
            quantity=line.quantity,
        )
        return _central_wins_or_fact(op, order, why, effect)
    return accept(effect)


def _unpacked(event: ev.ItemUnpacked, op: Op, order: CentralOrder, _: Elsewhere) -> Decision:
    line = order.line(event.line_id)
    if line is None or line.packed <= 0:
        # Its packing was refused (or the line went): the item is out of the box already.
        return refuse(
            sentence(
                "Line {line} of order {id} has nothing packed at central to take out.",
                line=event.line_id,
                id=order.id,
            )
        )
    return accept(PackedDelta(line.id, -1))


def _parcel_id(
    event: ev.ParcelIdAdded | ev.ParcelBooked, op: Op, order: CentralOrder, elsewhere: Elsewhere
) -> Decision:
    pid = event.parcel_id
    if pid in elsewhere.taken_parcel_ids:
        return refuse(
            sentence("Parcel id {code} is already used on another order.", code=pid),
            task=sentence(
                "{station} kept parcel id {code} for order {id}, but another order has it.",
                station=op.station,
                code=pid,
                id=order.id,
            )
            if order.labelled
            else None,
        )
    if pid in order.pending_parcel_ids or pid in order.reported_parcel_ids:
        return accept()  # a fact central has already
    if order.status == SHIPPED:
        return refuse(sentence("Order {id} is shipped; it takes no new parcel id.", id=order.id))
    if why := _changed_at_central(order):
        return _central_wins_or_fact(op, order, why, KeepParcelId(pid))
    return accept(KeepParcelId(pid))


def _parcel_id_removed(
    event: ev.ParcelIdRemoved, op: Op, order: CentralOrder, _: Elsewhere
) -> Decision:
    pid = event.parcel_id
    if pid in order.reported_parcel_ids:
        return refuse(
            sentence(
                "Parcel id {code} of order {id} is reported already; it stays on its delivery.",
                code=pid,
                id=order.id,
            )
        )
    if pid not in order.pending_parcel_ids:
        return accept()  # never reached central (its adding was refused): nothing to take off
    return accept(DropParcelId(pid))


def _labels(event: ev.LabelsPrinted, op: Op, order: CentralOrder, _: Elsewhere) -> Decision:
    on_order = tuple(p for p in event.parcel_ids if p in order.pending_parcel_ids)
    task = None
    if missing := [p for p in event.parcel_ids if p not in on_order]:
        task = sentence(
            "{station} printed labels for order {id} with parcel ids central does not have on "
            "it: {codes}.",
            station=op.station,
            id=order.id,
            codes=", ".join(missing),
        )
    if why := _changed_at_central(order):
        task = sentence(
            "{station} printed labels for order {id}, but {why}",
            station=op.station,
            id=order.id,
            why=why,
        )
    return accept(MarkLabelled(on_order), task=task)


def _reported(event: ev.PartialDelivery, op: Op, order: CentralOrder, el: Elsewhere) -> Decision:
    """A delivery reported at a bench: a parcel in the world, so accepted whatever central did
    meanwhile; what does not fit becomes the admin's task, never a count below what shipped."""
    problems: list[Text] = []
    quantities: dict[int, int] = {}
    unpacked: dict[int, int] = {}
    stock_out: dict[str, int] = {}
    released: dict[str, int] = {}
    delivered_after: dict[int, int] = {}
    for key, qty in event.quantities.items():
        try:
            line_id, qty = int(key), int(qty)
        except (TypeError, ValueError):
            problems.append(sentence("line {line} is no line number", line=key))
            continue
        line = order.line(line_id)
        if line is None:
            problems.append(sentence("line {line} is not on it at central", line=line_id))
            continue
        if qty <= 0:
            continue
        if line.delivered + qty > line.quantity:
            problems.append(
                sentence(
                    "line {sku} ships {count} of {quantity}",
                    sku=line.sku,
                    count=line.delivered + qty,
                    quantity=line.quantity,
                )
            )
        elif qty > line.packed and (refused := el.refused_packing.get(line_id, 0)) > 0:
            # Central refused this bench's scans of the line (a stale or released claim, the
            # line full at central): the parcel left all the same, but what the bench packed
            # is not what central counted, and the order may have been packed elsewhere too.
            problems.append(
                sentence(
                    "line {sku} ships {count} with {packed} packed at central, which refused "
                    "{refused} of this bench's scans of it",
                    sku=line.sku,
                    count=qty,
                    packed=line.packed,
                    refused=refused,
                )
            )
        quantities[line_id] = qty
        unpacked[line_id] = min(line.packed, qty)
        stock_out[line.sku] = stock_out.get(line.sku, 0) + qty
        before = line_reservation(order.status, line.quantity, line.delivered)
        after = line_reservation(order.status, line.quantity, line.delivered + qty)
        released[line.sku] = released.get(line.sku, 0) + max(0, before - max(0, after))
        delivered_after[line_id] = line.delivered + qty
    ids = tuple(p for p in event.parcel_ids if p not in el.taken_parcel_ids)
    if taken := [p for p in event.parcel_ids if p in el.taken_parcel_ids]:
        problems.append(sentence("parcel ids on another order: {codes}", codes=", ".join(taken)))
    if why := _changed_at_central(order):
        problems.append(why)
    all_delivered = all(
        delivered_after.get(line.id, line.delivered) >= line.quantity for line in order.lines
    )
    status = SHIPPED if all_delivered and order.lines else order.status
    if isinstance(event, ev.Shipped) and status != SHIPPED:
        problems.append(sentence("the bench shipped the rest, central has more on it"))
    task = None
    if problems:
        task = sentence(
            "{station} reported a delivery of order {id} that does not fit central: {what}.",
            station=op.station,
            id=order.id,
            what=clauses(problems),
        )
    return accept(Report(quantities, ids, unpacked, stock_out, released, status), task=task)


def _edit(run: Callable[[], Decision]) -> Decision:
    try:
        return run()
    except OrderRuleError as err:
        why = err.args[0] if err.args and isinstance(err.args[0], Text) else sentence(str(err))
        return refuse(why)


def _quantity(event: ev.LineQuantityChanged, op: Op, order: CentralOrder, _: Elsewhere) -> Decision:
    line = order.line(event.line_id)
    if line is None:
        return refuse(
            sentence("Order {id} has no line {line} at central.", id=order.id, line=event.line_id)
        )
    if line.quantity != event.old:
        return refuse(
            sentence(
                "Line {sku} of order {id} is {quantity} at central now, not {old}: the change "
                "to {new} was not applied.",
                sku=line.sku,
                id=order.id,
                quantity=line.quantity,
                old=event.old,
                new=event.new,
            )
        )

    def run() -> Decision:
        released = as_order(order).set_quantity(line.id, event.new)  # R2: never below shipped
        return accept(SetQuantity(line.id, line.sku, event.new, released))

    return _edit(run)


def _removed(event: ev.LineRemoved, op: Op, order: CentralOrder, _: Elsewhere) -> Decision:
    line = order.line(event.line_id)
    if line is None:
        return accept()  # gone at central already

    def run() -> Decision:
        released = as_order(order).remove_line(line.id)
        return accept(DropLine(line.id, line.sku, released))

    return _edit(run)


def _added(event: ev.LineAdded, op: Op, order: CentralOrder, _: Elsewhere) -> Decision:
    from stationd.core.orders import OrderLine

    def run() -> Decision:
        new = OrderLine(event.sku, event.sku, event.quantity, event.unit_price_minor)
        as_order(order).add_line(new)
        return accept(AddLine(event.sku, event.quantity, event.unit_price_minor))

    return _edit(run)


def _waiting(event: ev.WaitingSet, op: Op, order: CentralOrder, _: Elsewhere) -> Decision:
    def run() -> Decision:
        as_order(order).set_waiting(event.waiting)
        return accept(SetWaiting(event.waiting))

    return _edit(run)


def _own_status(event: ev.OwnStatusSet, op: Op, order: CentralOrder, el: Elsewhere) -> Decision:
    if event.own_status_id is None:
        return accept(SetOwnStatus(None))
    if event.code not in el.own_status_codes:
        return refuse(
            sentence("Own status {code} does not exist at central.", code=event.code or "?")
        )
    return accept(SetOwnStatus(event.code))


_RULES: dict[type, Callable[..., Decision]] = {
    ev.ItemPacked: _packed,
    ev.ItemUnpacked: _unpacked,
    ev.ParcelIdAdded: _parcel_id,
    ev.ParcelBooked: _parcel_id,
    ev.ParcelIdRemoved: _parcel_id_removed,
    ev.LabelsPrinted: _labels,
    ev.PartialDelivery: _reported,
    ev.Shipped: _reported,
    ev.LineQuantityChanged: _quantity,
    ev.LineRemoved: _removed,
    ev.LineAdded: _added,
    ev.WaitingSet: _waiting,
    ev.OwnStatusSet: _own_status,
}

__all__ = ["apply"]
