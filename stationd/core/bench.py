"""The bench: what one scan or one touch does to the order being packed (SPEC R12–R14, R19).

`decide_scan` takes the classified scan and what the bench knows of the orders involved and
returns a `BenchOutcome`: what to show, which sound to play, which line count changed, and the
effects the caller carries out (print the parcel labels). `decide_touch` does the same for the
+ / − buttons of a line. After those first functions a scan and a touch are one path
(`_count`), so the bounds hold for both: a line never counts more than it has left to deliver,
nor less than nothing.

The functions change the `Order` and the `Packing` they are given only when the outcome is
good; a wrong item, one too many, an item of another order or an unreadable code change
nothing.

Every message is a `core.text.Text`: English for the journal and the log, and translatable
by its template where the kiosk shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from stationd.core.barcodes import Classified, CodeKind, Command
from stationd.core.bench_commands import (
    _done,
    _next_parcel,
    _partial,
    cancel,
)
from stationd.core.bench_outcome import (
    BenchOutcome,
    Packing,
    Sound,
    _left,
    _packed_items,
    error,
    unusable_code,
)
from stationd.core.deliveries import MAX_PARCEL_IDS, check_parcel_id
from stationd.core.orders import (
    STATUS_WORDS,
    Order,
    OrderLine,
    OrderRuleError,
    OrderStatus,
)
from stationd.core.text import Text, and_list, sentence

__all__ = [
    "decide_scan",
    "decide_touch",
    "parcel_added",
]


def decide_scan(
    scan: Classified,
    current: Order | None,
    scanned_order: Order | None = None,
    last_line_id: int | None = None,
    open_at: str | None = None,
    *,
    packing: Packing | None = None,
    elsewhere: Mapping[int, str] | None = None,
    label_when_packed: bool = False,
    session: Sequence[int] = (),
    session_parcels: Sequence[str] = (),
) -> BenchOutcome:
    """Decide one scan at the bench.

    `current` is the order open at the bench (None if none); `scanned_order` is the order an
    order barcode named, loaded by the caller (None if it does not exist); `last_line_id` is
    the line of the newest item count not yet undone (the top of the undo stack), for UNDO;
    `open_at` names another bench that has the scanned order open now (R17), if any — or, as
    a `Text`, says why this bench can't open it now (a synced bench offline).
    `packing` is the bench's record of `current`'s delivery; `elsewhere` maps the other packing
    orders that hold the scanned item to the item's name there; `label_when_packed` says the
    parcel labels print as soon as the delivery is packed. `session` is, for CANCEL, the line
    of each item count not undone since this bench opened `current`, oldest first, and
    `session_parcels` the parcel ids put on its delivery since then.
    """
    open_id = current.id if current is not None else None
    if scan.kind is CodeKind.INVALID:
        return error(unusable_code(scan), open_id)
    if scan.kind is CodeKind.ORDER:
        if isinstance(open_at, Text) and scanned_order is not None:
            return error(open_at, open_id)
        if open_at is not None and scanned_order is not None:
            return error(
                sentence(
                    "Order {order} is being packed at {bench}; two benches never pack one order.",
                    order=scanned_order.id,
                    bench=open_at,
                ),
                open_id,
            )
        return open_order(scanned_order, scan.order_id, open_id)
    if scan.kind is CodeKind.PARCEL:
        return _parcel(scan, current)
    if scan.kind not in (CodeKind.COMMAND, CodeKind.ITEM):
        return error(sentence("{code} is no code the bench knows.", code=scan.code), open_id)
    if current is None:
        return error(sentence("No order is open: scan the pick list's order barcode first."))
    closed = _closed_under_us(current)
    if closed is not None:
        return closed
    packing = packing if packing is not None else Packing()
    if scan.kind is CodeKind.COMMAND:
        if scan.command is Command.CANCEL:
            return cancel(current, packing, session, session_parcels)
        return _command(scan.command, current, packing, last_line_id, label_when_packed)
    return pack_item(current, scan, packing, elsewhere or {}, label_when_packed)


def decide_touch(
    current: Order | None,
    line_id: int,
    delta: int,
    *,
    packing: Packing | None = None,
    label_when_packed: bool = False,
) -> BenchOutcome:
    """Decide a touch on a line's + (`delta` 1) or − (`delta` -1): the same count as a scan,
    for items without a barcode, and within the same bounds."""
    open_id = current.id if current is not None else None
    if delta not in (1, -1):
        return error(sentence("A touch adds or takes back one item at a time."), open_id)
    if current is None:
        return error(sentence("No order is open: scan the pick list's order barcode first."))
    closed = _closed_under_us(current)
    if closed is not None:
        return closed
    line = next((line for line in current.lines if line.id == line_id), None)
    if line is None:
        return error(
            sentence(
                "Order {order} has no line {line}: the screen was out of date.",
                order=current.id,
                line=line_id,
            ),
            current.id,
        )
    if delta > 0 and line.left_to_pack == 0:
        return _one_too_many(current, line)
    if delta < 0 and line.packed == 0:
        return error(
            sentence("Nothing of {name} is packed: there is nothing to take back.", name=line.name),
            current.id,
        )
    packing = packing if packing is not None else Packing()
    return _count(current, line, delta, packing, label_when_packed)


def _parcel(scan: Classified, current: Order | None) -> BenchOutcome:
    """R13: a parcel id scanned at the bench goes on the delivery of the open order, once
    something of it is packed; the caller puts it there with the ship-out page's rules."""
    open_id = current.id if current is not None else None
    try:
        parcel_id = check_parcel_id(scan.sscc or scan.code)
    except OrderRuleError as err:
        return error(err.args[0], open_id)
    if current is None:
        return replace(
            error(
                sentence(
                    "No order is open for parcel id {code}: scan the order's pick list first, "
                    "or enter the parcel id on the ship-out page.",
                    code=parcel_id,
                )
            ),
            unclaimed_parcel=parcel_id,
        )
    closed = _closed_under_us(current)
    if closed is not None:
        return closed
    if _packed_items(current) == 0:
        return error(
            sentence(
                "Nothing of order {order} is packed yet: pack its items before scanning the "
                "parcel id.",
                order=current.id,
            ),
            current.id,
        )
    return BenchOutcome(
        True,
        sentence("Parcel id {code} for order {order}.", code=parcel_id, order=current.id),
        Sound.OK,
        order_id=current.id,
        parcel_id=parcel_id,
    )


def parcel_added(outcome: BenchOutcome, count: int) -> BenchOutcome:
    """The outcome of a parcel id the caller put on the delivery, which now has `count`."""
    return replace(
        outcome,
        message=sentence(
            "Parcel id {code} added to order {order} ({count} of {max}).",
            code=outcome.parcel_id,
            order=outcome.order_id,
            count=count,
            max=MAX_PARCEL_IDS,
        ),
    )


def _closed_under_us(current: Order) -> BenchOutcome | None:
    if current.status is OrderStatus.PACKING and not current.waiting:
        return None
    # Someone changed the order while it was open here (report-in, the waiting flag).
    state = sentence("waiting") if current.waiting else STATUS_WORDS[current.status]
    return BenchOutcome(
        False,
        sentence(
            "Order {order} is now {state}; it was closed at the bench. Scan a pick list.",
            order=current.id,
            state=state,
        ),
        Sound.ERROR,
        order_id=current.id,
        closed=True,
    )


def open_order(order: Order | None, order_id: int | None, open_id: int | None) -> BenchOutcome:
    """R12: scanning a pick list opens its order, if it is ready to pack."""
    if order is None:
        return error(sentence("There is no order {order}.", order=order_id), open_id)
    if order.status is not OrderStatus.PACKING:
        why = {
            OrderStatus.PREORDER: sentence(
                "Order {order} is a preorder: it is never packed.", order=order.id
            ),
            OrderStatus.ORDER: sentence(
                "Order {order} is not ready to pack yet (the pack script hasn't moved it).",
                order=order.id,
            ),
            OrderStatus.SHIPPED: sentence("Order {order} is already shipped.", order=order.id),
        }[order.status]
        return error(why, open_id)
    if order.waiting:
        return error(
            sentence("Order {order} is marked waiting; clear the flag to pack it.", order=order.id),
            open_id,
        )
    return BenchOutcome(
        True,
        sentence("Order {order} open: {left} item(s) to pack.", order=order.id, left=_left(order)),
        Sound.OK,
        order_id=order.id,
        opened=True,
        complete=order.fully_packed,
    )


def pack_item(
    order: Order,
    scan: Classified,
    packing: Packing | None = None,
    elsewhere: Mapping[int, str] | None = None,
    label_when_packed: bool = False,
) -> BenchOutcome:
    """R12: count one item on its line, or say why not (wrong item, an item of another order,
    one too many)."""
    matching = [line for line in order.lines if line.gtin and line.gtin == scan.gtin]
    if not matching:
        if elsewhere:
            others = sorted(elsewhere)
            facts = {
                "name": elsewhere[others[0]],
                "other": and_list(others),
                "order": order.id,
            }
            said = (
                sentence("Wrong order: {name} belongs to order {other}, not {order}.", **facts)
                if len(others) == 1
                else sentence(
                    "Wrong order: {name} belongs to orders {other}, not {order}.", **facts
                )
            )
            return error(said, order.id)
        return error(
            sentence("Wrong item: {code} is not in order {order}.", code=scan.code, order=order.id),
            order.id,
        )
    line = next((m for m in matching if m.left_to_pack > 0), None)
    if line is None:
        return _one_too_many(order, matching[0])
    return _count(order, line, +1, packing or Packing(), label_when_packed)


def _one_too_many(order: Order, line: OrderLine) -> BenchOutcome:
    if line.undelivered == 0:
        said = sentence(
            "One too many: {name} — all {count} were delivered already.",
            name=line.name,
            count=line.quantity,
        )
    else:
        said = sentence(
            "One too many: {name} — all {count} are already packed.",
            name=line.name,
            count=line.undelivered,
        )
    return error(said, order.id)


def _count(
    order: Order, line: OrderLine, delta: int, packing: Packing, label_when_packed: bool
) -> BenchOutcome:
    """The one place a line's packed count changes at the bench, by one, within its bounds."""
    line.packed += delta
    packed = _packed_items(order)
    if delta > 0 and packing.parcels == 0:
        packing.parcels = 1
    if packed == 0 and not packing.labels:  # printed labels keep their parcels
        packing.parcels = 0
    packing.parcel_start = min(packing.parcel_start, packed)
    packing.partial = False  # packing goes on: the packer says PARTIAL again if it still is
    complete = order.fully_packed
    facts = {"name": line.name, "done": line.packed, "total": line.undelivered, "order": order.id}
    if delta < 0:
        said = sentence("Undone: {name}: {done} of {total}.", **facts)
    elif complete:
        said = sentence("Packed {name}: {done} of {total}. Order {order} is fully packed.", **facts)
    else:
        said = sentence("Packed {name}: {done} of {total}.", **facts)
    return BenchOutcome(
        True,
        said,
        Sound.DONE if complete and delta > 0 else Sound.OK,
        order_id=order.id,
        line_id=line.id,
        delta=delta,
        complete=complete,
        print_labels=complete and delta > 0 and label_when_packed and packing.labels == 0,
    )


def _command(
    command: Command | None,
    current: Order,
    packing: Packing,
    last_line_id: int | None,
    label_when_packed: bool,
) -> BenchOutcome:
    if command is Command.UNDO:
        line = next((line for line in current.lines if line.id == last_line_id), None)
        if line is None or line.packed < 1:
            return error(sentence("Nothing to undo."), current.id)
        return _count(current, line, -1, packing, label_when_packed)
    if command is Command.CANCEL:
        return cancel(current, packing, ())
    if command is Command.DONE:
        return _done(current, packing, label_when_packed)
    if command is Command.NEXT_PARCEL:
        return _next_parcel(current, packing)
    if command is Command.PARTIAL:
        return _partial(current, packing, label_when_packed)
    return error(
        sentence("The {command} command is not available at this bench.", command=str(command)),
        current.id,
    )
