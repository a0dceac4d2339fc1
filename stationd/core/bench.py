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
from dataclasses import dataclass, replace

from stationd.core.barcodes import Classified, CodeKind, Command, command_barcode
from stationd.core.deliveries import MAX_PARCEL_IDS, check_parcel_id
from stationd.core.documents import Barcode, Heading, Paragraph, Rule, Section
from stationd.core.orders import (
    STATUS_WORDS,
    Document,
    Order,
    OrderLine,
    OrderRuleError,
    OrderStatus,
)
from stationd.core.text import and_list, sentence

__all__ = [
    "COMMAND_ORDER",
    "BenchOutcome",
    "CommandSheet",
    "Packing",
    "Sound",
    "build_command_sheet",
    "cancel",
    "decide_scan",
    "decide_touch",
    "error",
    "parcel_added",
    "shown_on_a_new_page",
    "unusable_code",
    "with_note",
]


class Sound:
    """The sounds the bench page plays (kiosk.js): ok, error and done."""

    OK = "ok"
    ERROR = "error"
    DONE = "done"


@dataclass(frozen=True)
class BenchOutcome:
    """The answer to one scan or touch, for the screen, the speaker and the store.

    `message` is English, a `core.text.Text` where the kiosk can translate it. The effect flags
    say what the caller does besides saving the counts: `print_labels` — book the parcels'
    ids and queue one label per parcel now; `parcel_id` — put this parcel id on the open
    order's delivery (R13). `unclaimed_parcel` is a good parcel id scanned with no order open:
    the bench refuses it, the ship-out page may take it.
    """

    ok: bool
    message: str
    sound: str
    order_id: int | None = None  # the order this is about (opened, counted, closed…)
    line_id: int | None = None  # the line whose packed count changed
    delta: int = 0  # +1 packed, -1 taken back
    complete: bool = False  # every line of the order is now packed
    opened: bool = False  # this scan opened `order_id`
    closed: bool = False  # this scan closed the order at the bench
    ready: bool = False  # closed with everything packed: the order waits at ship-out
    partial: bool = False  # PARTIAL: what is packed ships as a partial delivery (R14)
    parcel_started: bool = False  # NEXT PARCEL started another parcel
    print_labels: bool = False  # the delivery is packed: print its parcel labels now
    parcel_id: str | None = None  # put on the open order's delivery (R13)
    unclaimed_parcel: str | None = None  # scanned with no order open: left to ship-out
    taken_back: tuple[int, ...] = ()  # CANCEL: the line of each count taken back, newest first
    parcels_dropped: tuple[str, ...] = ()  # CANCEL: parcel ids to take off the delivery


def error(message: str, order_id: int | None = None) -> BenchOutcome:
    """A red outcome with the error sound, which changes nothing."""
    return BenchOutcome(False, message, Sound.ERROR, order_id=order_id)


#: How long a red outcome is the bench's news: a bench page drawn later shows no error (R12).
ERROR_NEWS_S = 30.0


def shown_on_a_new_page(outcome: BenchOutcome, age_s: float) -> bool:
    """Whether a bench page drawn `age_s` seconds after `outcome` shows it.

    An error belongs to the moment of its scan (R12: the packer sees and hears it then); shown
    again minutes later, when the page is opened, it reads as the answer to whatever the packer
    just did. A good outcome stays: it says where the open order stands.
    """
    return outcome.ok or age_s < ERROR_NEWS_S


def unusable_code(scan: Classified) -> str:
    """What the packer reads for a code the bench can't use: one whole sentence.

    Most of classify()'s reasons are clauses ("a number of 5 digits is not a product, order or
    parcel code"), nested in other sentences elsewhere; a banner says a sentence that starts
    with a capital and ends with a full stop. A reason that is a whole sentence already (an
    unknown code, which says where another parcel id format goes) is said as it is.
    """
    if not scan.error:
        return sentence("Unreadable code {code}.", code=repr(scan.code))
    if str(scan.error).rstrip().endswith("."):
        return scan.error
    return sentence("Scan not accepted: {reason}.", reason=scan.error)


def with_note(outcome: BenchOutcome, note: str) -> BenchOutcome:
    """`outcome` with one more sentence (e.g. what became of the labels)."""
    return replace(outcome, message=sentence("{said} {note}", said=outcome.message, note=note))


@dataclass
class Packing:
    """The bench's record of the delivery being packed for one order (R13, R14, R16).

    `parcels` counts the parcels started (0 before the first item is packed; NEXT PARCEL adds
    one, at most four — R13). `parcel_start` is how many items were packed when the current
    parcel was started, so an empty parcel is not followed by another. `partial` says PARTIAL
    ended the packing: what is packed ships as a partial delivery (R14). `labels` counts the
    parcel labels printed at the bench for this delivery (0: report-in prints them).
    Report-in ends the record: the next delivery starts afresh.
    """

    parcels: int = 0
    parcel_start: int = 0
    partial: bool = False
    labels: int = 0


def _packed_items(order: Order) -> int:
    return sum(line.packed for line in order.lines)


def _left(order: Order) -> int:
    return sum(line.left_to_pack for line in order.lines)


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
    `open_at` names another bench that has the scanned order open now (R17), if any.
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


def cancel(
    current: Order, packing: Packing, session: Sequence[int], parcels: Sequence[str] = ()
) -> BenchOutcome:
    """CANCEL: the order goes back to how it was when this bench opened it (issue 12, item 1).

    The decision, in SPEC terms: R12 counts what the packer scans, and R14 makes a partial
    delivery something the packer *chooses* (PARTIAL at the bench, or the quantities on the
    ship-out page). A cancelled bench session chose nothing, so every item counted since the
    order was opened here (`session`: the line of each count not undone, oldest first) is
    taken back out, newest first, as UNDO would — ship-out then proposes none of it.
    Items packed in an earlier session, ended by DONE or PARTIAL, stay packed: those were
    chosen. The parcel ids scanned in the session (`parcels`) come off the delivery too. The
    session begins at the last scan of the order's pick list at this bench.

    Once the parcel labels are printed for the delivery, its items went into labelled
    parcels: CANCEL then takes nothing back and says so (UNDO still can, one by one).
    """
    if (session or parcels) and packing.labels:
        return error(
            sentence(
                "The parcel labels of order {order} are printed already, so Cancel takes "
                "nothing back: take items out with Undo, or close the order with Done.",
                order=current.id,
            ),
            current.id,
        )
    lines = {line.id: line for line in current.lines}
    taken: list[int] = []
    for line_id in reversed(session):
        line = lines.get(line_id)
        if line is not None and line.packed > 0:
            line.packed -= 1
            taken.append(line_id)
    kept = _packed_items(current)
    if taken:
        packing.parcel_start = min(packing.parcel_start, kept)
        if kept == 0:
            packing.parcels = 0
        said = sentence(
            "Order {order} closed at the bench; the {count} item(s) packed since it was opened "
            "are taken back out.",
            order=current.id,
            count=len(taken),
        )
    else:
        said = sentence("Order {order} closed at the bench; nothing was changed.", order=current.id)
    outcome = BenchOutcome(
        True,
        said,
        Sound.OK,
        order_id=current.id,
        closed=True,
        taken_back=tuple(taken),
        parcels_dropped=tuple(dict.fromkeys(parcels)),
    )
    if kept:
        note = sentence("{kept} item(s) packed before it was opened stay packed.", kept=kept)
        outcome = with_note(outcome, note)
    if parcels:
        note = sentence(
            "Parcel ids taken off the delivery: {ids}.", ids=", ".join(dict.fromkeys(parcels))
        )
        outcome = with_note(outcome, note)
    return outcome


def _done(current: Order, packing: Packing, label_when_packed: bool) -> BenchOutcome:
    """DONE closes the order at the bench; packed in full, it waits at ship-out."""
    if current.fully_packed:
        packing.parcels = max(packing.parcels, 1)
        return BenchOutcome(
            True,
            sentence("Order {order} is packed and ready for ship-out.", order=current.id),
            Sound.DONE,
            order_id=current.id,
            closed=True,
            ready=True,
            complete=True,
            print_labels=label_when_packed and packing.labels == 0,
        )
    return BenchOutcome(
        True,
        sentence(
            "Order {order} closed at the bench. {left} item(s) still to pack.",
            order=current.id,
            left=_left(current),
        ),
        Sound.OK,
        order_id=current.id,
        closed=True,
    )


def _next_parcel(current: Order, packing: Packing) -> BenchOutcome:
    """NEXT PARCEL: the items from now on go in another parcel of the same delivery (R13)."""
    packed = _packed_items(current)
    parcels = max(packing.parcels, 1)
    facts = {"order": current.id, "parcel": parcels, "max": MAX_PARCEL_IDS}
    if packing.labels:
        why = sentence(
            "The parcel labels of order {order} are printed already; it gets no more parcels.",
            **facts,
        )
    elif current.fully_packed:
        why = sentence(
            "Everything in order {order} is packed: nothing is left for another parcel.", **facts
        )
    elif packed - packing.parcel_start <= 0:
        why = sentence("Parcel {parcel} is still empty: pack an item into it first.", **facts)
    elif parcels >= MAX_PARCEL_IDS:
        why = sentence(
            "A delivery has at most {max} parcels; order {order} has {parcel} already.", **facts
        )
    else:
        packing.parcels = parcels + 1
        packing.parcel_start = packed
        return BenchOutcome(
            True,
            sentence(
                "Parcel {parcel} of order {order} started.",
                parcel=packing.parcels,
                order=current.id,
            ),
            Sound.OK,
            order_id=current.id,
            parcel_started=True,
        )
    return error(why, current.id)


def _partial(current: Order, packing: Packing, label_when_packed: bool) -> BenchOutcome:
    """PARTIAL ends packing with what is packed: it ships as a partial delivery (R14)."""
    if current.fully_packed:
        outcome = _done(current, packing, label_when_packed)
        return with_note(outcome, sentence("Everything is packed, so it ships whole."))
    packed = _packed_items(current)
    if packed == 0:
        return error(
            sentence(
                "Nothing of order {order} is packed: a partial delivery needs packed items.",
                order=current.id,
            ),
            current.id,
        )
    packing.partial = True
    packing.parcels = max(packing.parcels, 1)
    return BenchOutcome(
        True,
        sentence(
            "Order {order}: the {packed} packed item(s) go as a partial delivery; "
            "{left} stay to pack later. Report it on the ship-out page.",
            order=current.id,
            packed=packed,
            left=_left(current),
        ),
        Sound.DONE,
        order_id=current.id,
        closed=True,
        partial=True,
        print_labels=label_when_packed and packing.labels == 0,
    )


# --- the command sheet ------------------------------------------------------------------------

#: The commands in the order the sheet shows them: the common ones first.
COMMAND_ORDER = (Command.DONE, Command.NEXT_PARCEL, Command.PARTIAL, Command.UNDO, Command.CANCEL)


@dataclass(frozen=True)
class CommandSheet:
    """The bench's command barcodes on paper, so the flow runs without touching the screen.

    `entries` are (name, what it does, barcode text) in sheet order, the words in the packer's
    language (the kiosk's). It reads like the outbound queue's documents (`sections()`), so the
    receipt printer's renderer prints it.
    """

    title: str
    entries: tuple[tuple[str, str, str], ...]
    language: str = "en"
    order_id: int = 0  # no order: the sheet belongs to the bench
    kind: Document = Document.RECEIPT  # printed on the receipt printer, like a receipt

    def sections(self) -> tuple[Section, ...]:
        blocks: list[Heading | Rule | Paragraph | Barcode] = [Heading(self.title)]
        for name, hint, code in self.entries:
            blocks += [
                Rule(),
                Paragraph((name,), align="center", bold=True),
                Paragraph((hint,), align="center"),
                Barcode(code),
            ]
        return (Section(Document.RECEIPT, tuple(blocks)),)


def build_command_sheet(
    title: str, words: Mapping[Command, tuple[str, str]], language: str = "en"
) -> CommandSheet:
    """The command sheet: one barcode per command of `COMMAND_ORDER` under its name and what it
    does, from `words` (the command's own name, and nothing more, where `words` has none)."""
    return CommandSheet(
        title,
        tuple((*words.get(c, (c.value, "")), command_barcode(c)) for c in COMMAND_ORDER),
        language,
    )
