"""The audit log's events, one frozen dataclass per kind (no I/O).

Every change a station makes is written beside it as one of these (store.audit writes and reads
them); the log is also the outbox a later sync sends to the central database. Each class names
the `kind` string stored with it, and its fields are the keys of the stored JSON payload, so a
row written by any version reads back as the same value. A kind no class knows any more (or a
payload that no longer fits its class) reads back as `UnknownEvent`, never as an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

#: Every known kind string → its class; filled by `_kind`.
EVENT_KINDS: dict[str, type[AuditEvent]] = {}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One fact of the audit log. Subclasses set `kind`; their fields are the payload."""

    kind: ClassVar[str] = ""

    def payload(self) -> dict[str, Any]:
        """The fields as the stored JSON payload (tuples become lists when written)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _kind(kind: str):  # type: ignore[no-untyped-def]
    """Register a class under its stored kind string (which never changes once written)."""

    def register(cls: type[AuditEvent]) -> type[AuditEvent]:
        if kind in EVENT_KINDS:
            raise ValueError(f"two audit event classes for {kind!r}")
        cls.kind = kind
        EVENT_KINDS[kind] = cls
        return cls

    return register


@dataclass(frozen=True, slots=True)
class UnknownEvent(AuditEvent):
    """A stored event of a kind this version does not know, or whose payload does not fit its
    class: kept as it was written, shown as kind and fields."""

    stored_kind: str = ""
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return dict(self.fields)


def event_from_payload(kind: str, payload: Mapping[str, Any]) -> AuditEvent:
    """The typed event of a stored row: its class filled from the payload's keys (JSON lists
    become tuples); an unknown kind or a payload that does not fit gives `UnknownEvent`."""
    cls = EVENT_KINDS.get(kind)
    if cls is None:
        return UnknownEvent(kind, dict(payload))
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: _frozen(v) for k, v in payload.items() if k in names}
    try:
        return cls(**values)
    except TypeError:  # a field it must have is missing
        return UnknownEvent(kind, dict(payload))


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


# --- the order page's changes (R2, R3, R5) ----------------------------------------------------


@_kind("order.waiting")
@dataclass(frozen=True, slots=True)
class WaitingSet(AuditEvent):
    """R3: the waiting flag set (True) or cleared."""

    waiting: bool


@_kind("order.own_status")
@dataclass(frozen=True, slots=True)
class OwnStatusSet(AuditEvent):
    """R5: an own status put on the order (its code and name then), or taken off (None)."""

    own_status_id: int | None
    code: str = ""
    name: str = ""


@_kind("order.line_quantity")
@dataclass(frozen=True, slots=True)
class LineQuantityChanged(AuditEvent):
    """R2: a line's quantity changed from `old` to `new`; `released` units went back to stock."""

    line_id: int
    sku: str
    old: int
    new: int
    released: int = 0


@_kind("order.line_removed")
@dataclass(frozen=True, slots=True)
class LineRemoved(AuditEvent):
    """R2: a line taken off the order, with the stock it held."""

    line_id: int
    sku: str
    quantity: int
    released: int = 0


@_kind("order.line_added")
@dataclass(frozen=True, slots=True)
class LineAdded(AuditEvent):
    """R2: a line added at the product's price."""

    line_id: int
    sku: str
    quantity: int
    unit_price_minor: int = 0


# --- the shop's orders in (R1, R2; issue 13 §1) ------------------------------------------------


@_kind("import.orders")
@dataclass(frozen=True, slots=True)
class OrdersImported(AuditEvent):
    """R1: new orders taken in from `shop` (a file or the intake API): one event per batch,
    naming the orders, as the pack script's run does; each order keeps its shop and reference.
    """

    shop: str
    orders: tuple[int, ...] = ()


@_kind("order.import_updated")
@dataclass(frozen=True, slots=True)
class OrderImportUpdated(AuditEvent):
    """R1, R2: the shop's changed version of the order (its reference `ref`) taken in: its
    state now, and how many lines were kept (updated in place), removed and added."""

    shop: str
    ref: str
    status: str
    kept: int = 0
    removed: int = 0
    added: int = 0


# --- the pack script (R6) ---------------------------------------------------------------------


@_kind("packscript.moved")
@dataclass(frozen=True, slots=True)
class PackScriptMoved(AuditEvent):
    """R6: one run moved these orders to packing (one event per run; each order keeps the run's
    id, so its own page tells the move too)."""

    run: int
    orders: tuple[int, ...] = ()


# --- the bench (R12) --------------------------------------------------------------------------


@_kind("order.item_packed")
@dataclass(frozen=True, slots=True)
class ItemPacked(AuditEvent):
    """R12: one item of a line packed; `how` is the scan's kind ("item") or "touch"."""

    line_id: int
    code: str = ""
    how: str = ""


@_kind("order.item_unpacked")
@dataclass(frozen=True, slots=True)
class ItemUnpacked(AuditEvent):
    """R12: one item of a line taken out of the parcel again."""

    line_id: int
    code: str = ""
    how: str = ""


@_kind("order.parcel_started")
@dataclass(frozen=True, slots=True)
class ParcelStarted(AuditEvent):
    """A new parcel begun; the order now has `parcels` of them."""

    parcels: int


@_kind("order.packed_partial")
@dataclass(frozen=True, slots=True)
class PackedPartial(AuditEvent):
    """R14: packed in part for a partial delivery; line id (as text) → quantity packed."""

    quantities: Mapping[str, int] = dataclasses.field(default_factory=dict)


@_kind("order.packed")
@dataclass(frozen=True, slots=True)
class Packed(AuditEvent):
    """R12: every line packed, in `parcels` parcels: ready for ship-out."""

    parcels: int = 0


@_kind("order.labels_printed")
@dataclass(frozen=True, slots=True)
class LabelsPrinted(AuditEvent):
    """R16 at the bench: one label per parcel id queued (the print jobs' ids)."""

    parcel_ids: tuple[str, ...] = ()
    jobs: tuple[int, ...] = ()


@_kind("bench.command_sheet_printed")
@dataclass(frozen=True, slots=True)
class CommandSheetPrinted(AuditEvent):
    """The bench's sheet of command barcodes sent to a printer."""

    job: int
    printer: str


# --- parcel ids and report-in (R13–R15) -------------------------------------------------------


@_kind("order.parcel_id_added")
@dataclass(frozen=True, slots=True)
class ParcelIdAdded(AuditEvent):
    """R13: a parcel id kept on the order's next delivery, typed or scanned (`how`)."""

    parcel_id: str
    how: str = ""


@_kind("order.parcel_booked")
@dataclass(frozen=True, slots=True)
class ParcelBooked(AuditEvent):
    """R13: a parcel id fetched from a shipping broker (the parcel's number) and kept, with
    the station's `reference` for its booking at the broker (empty in events written before it
    was kept: core/carrier_cancel.py makes it again)."""

    parcel_id: str
    how: str = ""
    broker: str = ""
    parcel: int = 0
    reference: str = ""


@_kind("order.parcel_id_removed")
@dataclass(frozen=True, slots=True)
class ParcelIdRemoved(AuditEvent):
    """R13: a kept parcel id taken off the next delivery."""

    parcel_id: str


@dataclass(frozen=True, slots=True)
class _Reported(AuditEvent):
    delivery_id: int | None
    parcel_ids: tuple[str, ...] = ()
    #: Line id (as text) → quantity delivered.
    quantities: Mapping[str, int] = dataclasses.field(default_factory=dict)


@_kind("order.partial_delivery")
@dataclass(frozen=True, slots=True)
class PartialDelivery(_Reported):
    """R14, R15: a delivery reported in that leaves the order packing."""


@_kind("order.shipped")
@dataclass(frozen=True, slots=True)
class Shipped(_Reported):
    """R15: the delivery reported in that shipped the order's last line."""


# --- printing (R9, R10, R20) ------------------------------------------------------------------


@_kind("print.queued")
@dataclass(frozen=True, slots=True)
class DocumentQueued(AuditEvent):
    """R9: a document of the order sent to a printer; `again` when it was printed before."""

    document: str
    printer: str
    job_id: int
    again: bool = False


@_kind("print.test_page")
@dataclass(frozen=True, slots=True)
class TestPageQueued(AuditEvent):
    """A printer's test page sent (the Devices page)."""

    __test__: ClassVar[bool] = False  # not a pytest test class, whatever its name

    printer: str
    job_id: int


@dataclass(frozen=True, slots=True)
class JobAction(AuditEvent):
    """A person's action on a print job (the Print queue, the CLI)."""

    job_id: int
    printer: str = ""
    document: str = ""
    new_job_id: int | None = None


@_kind("print.held")
@dataclass(frozen=True, slots=True)
class JobHeld(JobAction):
    """R20: a person held a print job."""


@_kind("print.released")
@dataclass(frozen=True, slots=True)
class JobReleased(JobAction):
    """R20: a held print job let go again."""


@_kind("print.dropped")
@dataclass(frozen=True, slots=True)
class JobDropped(JobAction):
    """R20: a print job dropped: it never prints."""


@_kind("print.reprinted")
@dataclass(frozen=True, slots=True)
class JobReprinted(JobAction):
    """R10: a print job printed again, as the new job `new_job_id`."""


# --- own statuses (R5) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OwnStatusEvent(AuditEvent):
    id: int
    code: str
    name: str


@_kind("own_status.created")
@dataclass(frozen=True, slots=True)
class OwnStatusCreated(_OwnStatusEvent):
    """R5: an own status defined."""


@_kind("own_status.deleted")
@dataclass(frozen=True, slots=True)
class OwnStatusDeleted(_OwnStatusEvent):
    """R5: an own status no order uses deleted."""


@_kind("own_status.renamed")
@dataclass(frozen=True, slots=True)
class OwnStatusRenamed(AuditEvent):
    """R5: an own status renamed (on every order that has it: `orders` of them)."""

    id: int
    old_code: str
    old_name: str
    new_code: str
    new_name: str
    orders: int = 0


# --- operators --------------------------------------------------------------------------------


@_kind("operator.created")
@dataclass(frozen=True, slots=True)
class OperatorCreated(AuditEvent):
    """An operator added."""

    operator: int
    name: str


@_kind("operator.activated")
@dataclass(frozen=True, slots=True)
class OperatorActivated(AuditEvent):
    """An operator allowed to sign in again."""

    operator: int


@_kind("operator.deactivated")
@dataclass(frozen=True, slots=True)
class OperatorDeactivated(AuditEvent):
    """An operator no longer allowed to sign in."""

    operator: int


@_kind("operator.signed_in")
@dataclass(frozen=True, slots=True)
class SignedIn(AuditEvent):
    """An operator signed in at the station, by "pin" or "badge"."""

    operator: int
    how: str


@_kind("operator.signed_out")
@dataclass(frozen=True, slots=True)
class SignedOut(AuditEvent):
    """The station's operator signed out: by hand, idle, or by the next one signing in (who
    it was is in the row's operator)."""

    how: str
    operator: int | None = None


@_kind("operator.wrong_pin")
@dataclass(frozen=True, slots=True)
class WrongPinEntered(AuditEvent):
    """A wrong PIN for an operator, the `in_a_row`-th."""

    operator: int
    in_a_row: int


# --- the demo ---------------------------------------------------------------------------------


@_kind("demo.created")
@dataclass(frozen=True, slots=True)
class DemoCreated(AuditEvent):
    """The demo's data made from this seed."""

    seed: int


__all__ = [
    "EVENT_KINDS",
    "AuditEvent",
    "CommandSheetPrinted",
    "DemoCreated",
    "DocumentQueued",
    "ItemPacked",
    "ItemUnpacked",
    "JobAction",
    "JobDropped",
    "JobHeld",
    "JobReleased",
    "JobReprinted",
    "LabelsPrinted",
    "LineAdded",
    "LineQuantityChanged",
    "LineRemoved",
    "OperatorActivated",
    "OperatorCreated",
    "OperatorDeactivated",
    "OrderImportUpdated",
    "OrdersImported",
    "OwnStatusCreated",
    "OwnStatusDeleted",
    "OwnStatusRenamed",
    "OwnStatusSet",
    "PackScriptMoved",
    "Packed",
    "PackedPartial",
    "ParcelBooked",
    "ParcelIdAdded",
    "ParcelIdRemoved",
    "ParcelStarted",
    "PartialDelivery",
    "Shipped",
    "SignedIn",
    "SignedOut",
    "TestPageQueued",
    "UnknownEvent",
    "WaitingSet",
    "WrongPinEntered",
    "event_from_payload",
]
