"""The bench commands a packer scans (CANCEL, DONE, NEXT PARCEL, PARTIAL) and the command sheet.

Each command is a decision on the open order and the bench's `Packing` that returns a
`BenchOutcome`; the command sheet is the paper with the command barcodes, in the order the
bench's packers use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stationd.core.barcodes import Command, command_barcode
from stationd.core.bench_outcome import (
    BenchOutcome,
    Packing,
    Sound,
    _left,
    _packed_items,
    error,
    with_note,
)
from stationd.core.deliveries import MAX_PARCEL_IDS
from stationd.core.orders import (
    Document,
    Order,
)
from stationd.core.paper_blocks import Barcode, Heading, Paragraph, Rule, Section
from stationd.core.text import sentence

__all__ = [
    "COMMAND_ORDER",
    "CommandSheet",
    "build_command_sheet",
    "cancel",
]


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
