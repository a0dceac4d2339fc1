"""The bench: what one scan does to the order being packed (SPEC R12).

`decide_scan` takes the classified scan and the orders involved and returns a `BenchOutcome`:
what to show, which sound to play, and which line count changed. It changes the `Order` it is
given only when the scan is good; a wrong item, one too many, or an unreadable code change
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from stationd.core.barcodes import Classified, CodeKind, Command
from stationd.core.orders import Order, OrderLine, OrderStatus


class Sound:
    OK = "ok"
    ERROR = "error"
    DONE = "done"


@dataclass(frozen=True)
class BenchOutcome:
    """The answer to one scan, for the screen, the speaker and the store."""

    ok: bool
    message: str
    sound: str
    order_id: int | None = None  # the order open at the bench after this scan
    line_id: int | None = None  # the line whose packed count changed
    delta: int = 0  # +1 packed, -1 undone
    complete: bool = False  # every line of the order is now packed
    opened: bool = False  # this scan opened `order_id`
    closed: bool = False  # this scan closed the order at the bench


def error(message: str, order_id: int | None = None) -> BenchOutcome:
    return BenchOutcome(False, message, Sound.ERROR, order_id=order_id)


def decide_scan(
    scan: Classified,
    current: Order | None,
    scanned_order: Order | None = None,
    last_line_id: int | None = None,
    open_at: str | None = None,
) -> BenchOutcome:
    """Decide one scan at the bench.

    `current` is the order open at the bench (None if none); `scanned_order` is the order an
    order barcode named, loaded by the caller (None if it does not exist); `last_line_id` is the
    line the last good item scan counted, for UNDO; `open_at` names another bench that has the
    scanned order open now (R17), if any.
    """
    open_id = current.id if current is not None else None
    if scan.kind is CodeKind.INVALID:
        return error(scan.error or f"Unreadable code {scan.code!r}.", open_id)
    if scan.kind is CodeKind.ORDER:
        if open_at is not None and scanned_order is not None:
            return error(
                f"Order {scanned_order.id} is being packed at {open_at}; "
                "two benches never pack one order.",
                open_id,
            )
        return open_order(scanned_order, scan.order_id, open_id)
    if scan.kind is CodeKind.COMMAND:
        return _command(scan.command, current, last_line_id)
    if scan.kind is CodeKind.PARCEL:
        return error(
            f"{scan.code} looks like a parcel id: parcel ids are entered on the ship-out page.",
            open_id,
        )
    if current is None:
        return error("No order is open: scan the pick list's order barcode first.")
    if current.status is not OrderStatus.PACKING or current.waiting:
        # Someone changed the order while it was open here (report-in, the waiting flag).
        state = "waiting" if current.waiting else current.status.value
        return BenchOutcome(
            False,
            f"Order {current.id} is now {state}; it was closed at the bench. Scan a pick list.",
            Sound.ERROR,
            closed=True,
        )
    return pack_item(current, scan)


def open_order(order: Order | None, order_id: int | None, open_id: int | None) -> BenchOutcome:
    """R12: scanning a pick list opens its order, if it is ready to pack."""
    if order is None:
        return error(f"There is no order {order_id}.", open_id)
    if order.status is not OrderStatus.PACKING:
        why = {
            OrderStatus.PREORDER: "a preorder: it is never packed",
            OrderStatus.ORDER: "not ready to pack yet (the pack script hasn't moved it)",
            OrderStatus.SHIPPED: "already shipped",
        }[order.status]
        return error(f"Order {order.id} is {why}.", open_id)
    if order.waiting:
        return error(f"Order {order.id} is marked waiting; clear the flag to pack it.", open_id)
    left = sum(line.left_to_pack for line in order.lines)
    return BenchOutcome(
        True,
        f"Order {order.id} open: {left} item(s) to pack.",
        Sound.OK,
        order_id=order.id,
        opened=True,
        complete=order.fully_packed,
    )


def pack_item(order: Order, scan: Classified) -> BenchOutcome:
    """R12: count one item on its line, or say why not (wrong item, one too many)."""
    matching = [line for line in order.lines if line.gtin and line.gtin == scan.gtin]
    if not matching:
        return error(f"Wrong item: {scan.code} is not in order {order.id}.", order.id)
    line = next((m for m in matching if m.left_to_pack > 0), None)
    if line is None:
        first = matching[0]
        if first.undelivered == 0:
            why = f"all {first.quantity} were delivered already"
        else:
            why = f"all {first.undelivered} are already packed"
        return error(f"One too many: {first.name} — {why}.", order.id)
    line.packed += 1
    return _counted(order, line, +1)


def _counted(order: Order, line: OrderLine, delta: int) -> BenchOutcome:
    done = line.quantity - line.delivered - line.left_to_pack
    complete = order.fully_packed
    verb = "Packed" if delta > 0 else "Undone:"
    message = f"{verb} {line.name}: {done} of {line.quantity - line.delivered}."
    if complete:
        message += f" Order {order.id} is fully packed."
    sound = Sound.DONE if complete and delta > 0 else Sound.OK
    return BenchOutcome(
        True, message, sound, order_id=order.id, line_id=line.id, delta=delta, complete=complete
    )


def _command(command: Command | None, current: Order | None, last_line_id: int | None):
    if current is None:
        return error("No order is open: scan the pick list's order barcode first.")
    if command is Command.UNDO:
        if last_line_id is None:
            return error("Nothing to undo.", current.id)
        line = current.line(last_line_id)
        if line.packed < 1:
            return error("Nothing to undo.", current.id)
        line.packed -= 1
        return _counted(current, line, -1)
    if command in (Command.CANCEL, Command.DONE):
        left = sum(line.left_to_pack for line in current.lines)
        note = f" {left} item(s) still to pack." if left else ""
        return BenchOutcome(
            True, f"Order {current.id} closed at the bench.{note}", Sound.OK, closed=True
        )
    return error(f"The {command} command is not available at this bench yet.", current.id)
