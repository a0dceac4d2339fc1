"""What a bench decision returns, and the packing state it decides on.

`BenchOutcome` says what to show, which `Sound` to play, which line count changed and the
effects the caller carries out; `Packing` is the bench session's parcels. A red outcome is the
bench's news for `ERROR_NEWS_S` (R12).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from stationd.core.barcodes import Classified
from stationd.core.orders import (
    Order,
)
from stationd.core.text import sentence

__all__ = [
    "BenchOutcome",
    "Packing",
    "Sound",
    "error",
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

    classify()'s reasons are clauses ("a number of 5 digits is not a product, order or parcel
    code"), nested in other sentences elsewhere; a banner says a sentence that starts with a
    capital and ends with a full stop. An unknown code's reason is that sentence already.
    """
    if not scan.error:
        return sentence("Unreadable code {code}.", code=repr(scan.code))
    if scan.unknown:
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
