"""What one op a station pushed does at central, or why central refuses it (docs/sync.md).

An op is one audit event of a station (core.audit), sent with its claim's epoch. `decide` takes
the op and central's order as it is now (plain values, read under the order's row lock) and
returns a `Decision`: `accepted` with the effects to write, or `refused` with a sentence a person
can read; either may leave a task for the admin. Nothing here reads a clock: which op came first
is the station's sequence and the claim's epoch, never a time (a Pi has no clock battery).

The rules, in the order they are checked:
- the fence (R17): an op that carries an epoch counts only if it is the order's current claim's
  and that claim is the op's station's; an op without one (an admin's edit on the orders page)
  only if no other station holds the order. A stale shipment or label is still a parcel in the
  world: refused, and the admin gets a task.
- facts are monotonic: a shipped status, a reported parcel id, a delivered count is never taken
  back; corrections are ops of their own (ItemUnpacked, ParcelIdRemoved of a pending id).
- central changed the order while the bench packed it offline (lines cut, order no longer
  packing or gone): before any label of that order, central wins and the packer is told to put
  the goods back; after a label or a shipment, the physical fact wins and the admin gets a task.
- an order is never reduced below what has shipped (nor below what is packed).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stationd.core import audit as ev
from stationd.core.orders import (
    STATUS_WORDS,
    Order,
    OrderLine,
    OrderRuleError,
    OrderStatus,
)
from stationd.core.text import Text, sentence

ACCEPTED = "accepted"
REFUSED = "refused"

#: Kinds a bench writes while it packs an order it claimed: they need the order's claim.
BENCH_KINDS = frozenset(
    {
        ev.ItemPacked.kind,
        ev.ItemUnpacked.kind,
        ev.ParcelStarted.kind,
        ev.PackedPartial.kind,
        ev.Packed.kind,
        ev.LabelsPrinted.kind,
        ev.ParcelIdAdded.kind,
        ev.ParcelBooked.kind,
        ev.ParcelIdRemoved.kind,
        ev.PartialDelivery.kind,
        ev.Shipped.kind,
    }
)
#: R2, R3, R5 edits from an order's page.
EDIT_KINDS = frozenset(
    {
        ev.LineQuantityChanged.kind,
        ev.LineRemoved.kind,
        ev.LineAdded.kind,
        ev.WaitingSet.kind,
        ev.OwnStatusSet.kind,
    }
)
#: Kinds whose op is a thing in the world already (a label on a box, a parcel gone): refusing
#: one leaves the admin a task, as the world can't be refused.
PHYSICAL_KINDS = frozenset({ev.LabelsPrinted.kind, ev.PartialDelivery.kind, ev.Shipped.kind})
#: Kinds that report a delivery (a parcel left).
REPORT_KINDS = frozenset({ev.PartialDelivery.kind, ev.Shipped.kind})


@dataclass(frozen=True, slots=True)
class Op:
    """One op as pushed: its idempotency key, station, kind, order, claim epoch and payload."""

    key: str
    station: str
    kind: str
    order_id: int | None = None
    epoch: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Claim:
    """Who holds an order at central, and the claim's epoch (R17's fencing token)."""

    station: str
    epoch: int


@dataclass(frozen=True, slots=True)
class CentralLine:
    """An order line at central: its counts."""

    id: int
    sku: str
    quantity: int
    packed: int = 0
    delivered: int = 0
    unit_price_minor: int = 0


@dataclass(frozen=True, slots=True)
class CentralOrder:
    """An order at central as an op meets it: state, lines, claim, parcel ids, and whether a
    label of it exists (a labelled parcel id or a reported delivery: the physical stage)."""

    id: int
    status: str
    lines: tuple[CentralLine, ...] = ()
    waiting: bool = False
    claim: Claim | None = None
    labelled: bool = False
    pending_parcel_ids: tuple[str, ...] = ()
    reported_parcel_ids: tuple[str, ...] = ()

    def line(self, line_id: int) -> CentralLine | None:
        return next((line for line in self.lines if line.id == line_id), None)


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """What central knows beyond the order: parcel ids that are on other orders, the own
    statuses' codes, and — for a reported delivery — the op's station's item scans on the
    order that central refused (line → refused packs less refused unpacks): a report that
    ships them ships what central was told was not packed."""

    taken_parcel_ids: Collection[str] = ()
    own_status_codes: Collection[str] = ()
    refused_packing: Mapping[int, int] = field(default_factory=dict)


# --- effects: what store.central_ops writes for an accepted op ------------------------------


@dataclass(frozen=True, slots=True)
class PackedDelta:
    """A line's packed count moves by `delta` (±1)."""

    line_id: int
    delta: int


@dataclass(frozen=True, slots=True)
class KeepParcelId:
    """A parcel id kept on the order's pending delivery (made if it has none)."""

    parcel_id: str


@dataclass(frozen=True, slots=True)
class DropParcelId:
    """A parcel id taken off the pending delivery."""

    parcel_id: str


@dataclass(frozen=True, slots=True)
class MarkLabelled:
    """These parcel ids have their label printed (R16)."""

    parcel_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """A reported delivery: line → delivered items, its parcel ids, packed counts it takes
    down, stock it takes out and the reservation it lets go (per SKU), the order's new status."""

    quantities: Mapping[int, int]
    parcel_ids: tuple[str, ...]
    unpacked: Mapping[int, int]
    stock_out: Mapping[str, int]
    released: Mapping[str, int]
    status: str


@dataclass(frozen=True, slots=True)
class SetQuantity:
    """R2: a line's quantity set; `released` items of `sku` go back from reserved."""

    line_id: int
    sku: str
    quantity: int
    released: int = 0


@dataclass(frozen=True, slots=True)
class DropLine:
    """R2: a line removed, with the reservation it held."""

    line_id: int
    sku: str
    released: int = 0


@dataclass(frozen=True, slots=True)
class AddLine:
    """R2: a line added (central gives it its own id)."""

    sku: str
    quantity: int
    unit_price_minor: int


@dataclass(frozen=True, slots=True)
class SetWaiting:
    """R3: the waiting flag."""

    waiting: bool


@dataclass(frozen=True, slots=True)
class SetOwnStatus:
    """R5: the own status with this code (None: none)."""

    code: str | None


Effect = (
    PackedDelta
    | KeepParcelId
    | DropParcelId
    | MarkLabelled
    | Report
    | SetQuantity
    | DropLine
    | AddLine
    | SetWaiting
    | SetOwnStatus
)


@dataclass(frozen=True, slots=True)
class Decision:
    """Central's answer to one op: the outcome, its reason (None when accepted plainly), the
    effects to write, and a task for the admin (None: nothing to decide)."""

    outcome: str
    reason: Text | None = None
    effects: tuple[Effect, ...] = ()
    task: Text | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == ACCEPTED


def accept(*effects: Effect, task: Text | None = None) -> Decision:
    return Decision(ACCEPTED, None, tuple(effects), task)


def refuse(reason: Text, *, task: Text | None = None) -> Decision:
    return Decision(REFUSED, reason, (), task)


def parcel_ids_of(op: Op) -> tuple[str, ...]:
    """The parcel ids an op names (to look up which are on other orders)."""
    payload = op.payload
    found = [payload["parcel_id"]] if isinstance(payload.get("parcel_id"), str) else []
    found += [p for p in payload.get("parcel_ids") or () if isinstance(p, str)]
    return tuple(found)


def ruled_on(op: Op) -> bool:
    """Whether core's rules decide `op` against central's order (a bench's or an edit's op);
    any other op is reported work, accepted as it is (`decide`)."""
    return op.kind in BENCH_KINDS or op.kind in EDIT_KINDS


def needs_elsewhere(op: Op) -> bool:
    """Whether deciding `op` needs more of central than its order (`Elsewhere`): the parcel
    ids it names, the own statuses' codes, a report's refused scans."""
    return bool(parcel_ids_of(op)) or op.kind == "order.own_status" or op.kind in REPORT_KINDS


def decide(op: Op, order: CentralOrder | None, elsewhere: Elsewhere = Elsewhere()) -> Decision:
    """Central's decision on `op` against `order` as it is now (None: central has no such
    order). Pure: the caller holds the order's row lock and writes the effects."""
    from stationd.core import sync_rules  # here, not at the top: it imports this module's types

    event = ev.event_from_payload(op.kind, op.payload)
    known = op.kind in ev.EVENT_KINDS
    if known and isinstance(event, ev.UnknownEvent):
        return refuse(
            sentence(
                "The change ({kind}) came with data this central can't read; it was not applied.",
                kind=op.kind,
            )
        )
    if not ruled_on(op):
        return accept()  # reported work with no effect here: sign-ins, print jobs, …
    if op.order_id is None:
        return refuse(sentence("The change ({kind}) names no order.", kind=op.kind))
    if order is None:
        return _gone(op)
    if why := fence(op, order):
        return refuse(why, task=_stale_task(op, order) if op.kind in PHYSICAL_KINDS else None)
    return sync_rules.apply(event, op, order, elsewhere)


def fence(op: Op, order: CentralOrder) -> Text | None:
    """R17: why `op` may not touch `order` under its claim (None: it may).

    An op with an epoch counts only under the order's current claim, held by the op's station;
    one without (an edit on the orders page) only while no other station holds the order."""
    claim = order.claim
    if op.epoch is None:
        if claim is not None and claim.station != op.station:
            return sentence(
                "Order {id} is held by {holder}: this change from {station} was not applied.",
                id=order.id,
                holder=claim.station,
                station=op.station,
            )
        return None
    if claim is None:
        return sentence(
            "{station}'s claim on order {id} (epoch {epoch}) was released before this change "
            "reached central: it was not applied.",
            station=op.station,
            id=order.id,
            epoch=op.epoch,
        )
    if claim.station != op.station or claim.epoch != op.epoch:
        return sentence(
            "{station}'s claim on order {id} (epoch {epoch}) is stale: {holder} holds it now "
            "(epoch {current}). This change was not applied.",
            station=op.station,
            id=order.id,
            epoch=op.epoch,
            holder=claim.station,
            current=claim.epoch,
        )
    return None


def _gone(op: Op) -> Decision:
    why = sentence("Order {id} is not at central any more.", id=op.order_id)
    if op.kind in PHYSICAL_KINDS:
        return refuse(
            why,
            task=sentence(
                "{station} reported {kind} for order {id}, which central no longer has: the "
                "goods are labelled or gone; decide what happens to them.",
                station=op.station,
                kind=op.kind,
                id=op.order_id,
            ),
        )
    if op.kind in BENCH_KINDS:
        return refuse(sentence("{why} Put the goods back.", why=why))
    return refuse(why)


def _stale_task(op: Op, order: CentralOrder) -> Text:
    return sentence(
        "{station} reported {kind} for order {id} under a stale claim: the goods are labelled "
        "or gone; check the order against what was shipped.",
        station=op.station,
        kind=op.kind,
        id=order.id,
    )


def as_order(order: CentralOrder) -> Order:
    """The central order as core's `Order`, for the R2/R3 rules it keeps (placed_at unused)."""
    return Order(
        id=order.id,
        status=OrderStatus(order.status),
        placed_at=datetime(2000, 1, 1, tzinfo=UTC),
        customer_name="-",
        waiting=order.waiting,
        lines=[
            OrderLine(
                sku=line.sku,
                name=line.sku,
                quantity=line.quantity,
                unit_price_minor=line.unit_price_minor,
                id=line.id,
                packed=line.packed,
                delivered=line.delivered,
            )
            for line in order.lines
        ],
    )


def status_word(status: str) -> Text:
    try:
        return STATUS_WORDS[OrderStatus(status)]
    except ValueError:
        return sentence(status)


__all__ = [
    "ACCEPTED",
    "BENCH_KINDS",
    "EDIT_KINDS",
    "PHYSICAL_KINDS",
    "REFUSED",
    "REPORT_KINDS",
    "AddLine",
    "CentralLine",
    "CentralOrder",
    "Claim",
    "Decision",
    "DropLine",
    "DropParcelId",
    "Effect",
    "Elsewhere",
    "KeepParcelId",
    "MarkLabelled",
    "Op",
    "OrderRuleError",
    "PackedDelta",
    "Report",
    "SetOwnStatus",
    "SetQuantity",
    "SetWaiting",
    "accept",
    "as_order",
    "decide",
    "fence",
    "needs_elsewhere",
    "parcel_ids_of",
    "refuse",
    "ruled_on",
    "status_word",
]
