"""Deliveries of an order: parcel ids, partial delivery and report-in (SPEC R13–R15)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from stationd.core.barcodes import CodeKind, classify
from stationd.core.check_digits import gtin_check_digit, is_valid_gtin, s10_check_digit
from stationd.core.gs1 import GS, Gs1Error, parse_gs1
from stationd.core.orders import STATUS_WORDS, Order, OrderRuleError, OrderStatus
from stationd.core.text import sentence

#: R13: one delivery carries at most this many parcel ids.
MAX_PARCEL_IDS = 4
#: The longest parcel id kept (the store's parcel_ids.parcel_id column).
PARCEL_ID_MAX_LENGTH = 40
#: Shorter ids are no carrier's: the scanner's classify() reads them as no parcel either.
PARCEL_ID_MIN_LENGTH = 4
PARCEL_ID_MIN_DIGITS = 6

_S10_SHAPE = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
_SSCC_SHAPE = re.compile(r"(00)?[0-9]{18}")
_PARCEL_ID_CHARS = re.compile(r"[A-Z0-9\-_./]+")
_GTIN_NAMES = {8: "EAN-8", 13: "EAN-13", 14: "GTIN-14"}


@dataclass
class Delivery:
    """One shipment of (part of) an order: quantities per line id and its parcel ids."""

    order_id: int
    quantities: dict[int, int]
    parcel_ids: list[str] = field(default_factory=list)
    id: int | None = None
    reported_at: datetime | None = None
    weight_g: int | None = None

    @property
    def reported(self) -> bool:
        return self.reported_at is not None


def plan_delivery(order: Order, quantities: Mapping[int, int] | None = None) -> Delivery:
    """R14: a delivery of `quantities` (line id → items), or of everything still undelivered.

    A partial delivery names fewer items than are left; each quantity is 0 or more and never
    more than what is left undelivered on its line.
    """
    if order.status is not OrderStatus.PACKING:
        raise _not_packing(order)
    by_id = {line.id: line for line in order.lines}
    if quantities is None:
        chosen = {line.id: line.undelivered for line in order.lines if line.undelivered > 0}
    else:
        chosen = {}
        for line_id, qty in quantities.items():
            line = by_id.get(line_id)
            if line is None:
                raise OrderRuleError(
                    sentence("Order {id} has no line {line}.", id=order.id, line=line_id)
                )
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
                raise OrderRuleError(
                    sentence("The quantity for {sku} must be 0 or more.", sku=line.sku)
                )
            if qty > line.undelivered:
                raise OrderRuleError(
                    sentence(
                        "{sku}: {qty} is more than the {left} left to deliver.",
                        sku=line.sku,
                        qty=qty,
                        left=line.undelivered,
                    )
                )
            if qty:
                chosen[line_id] = qty
    if not chosen:
        raise OrderRuleError(sentence("Order {id}: the delivery holds no items.", id=order.id))
    return Delivery(order_id=order.id, quantities=chosen)  # type: ignore[arg-type]


def check_parcel_id(code: str) -> str:
    """R13: whether `code` is a parcel id a carrier could have issued; returns it as stored.

    - UPU S10 postal item ids (two letters, eight digits, a check digit, two letters, e.g.
      ``RR473124829SE``) need the right mod-11 check digit.
    - SSCCs (GS1 (00)) need the right mod-10 check digit, whether given as 18 digits, with
      their AI ("00" + 18 digits, "(00)…") or as a scanned GS1-128 element string; they are
      kept as the 18 digits, so one parcel is one id however it was entered.
    - Anything else is 4 to 40 letters, digits and ``- _ . /`` (only digits: at least 6), and
      not a product's EAN-8/13 or GTIN-14, nor an order, command or badge barcode.

    Letters are upper-cased and spaces (the grouping printed under a label's barcode) dropped.
    Raises `OrderRuleError` with a sentence for the packer.
    """
    if GS in code or code.strip().startswith("("):
        return _sscc_of_gs1(code)
    clean = "".join(code.split()).upper()
    shown = clean if len(clean) <= PARCEL_ID_MAX_LENGTH else clean[:PARCEL_ID_MAX_LENGTH] + "…"
    if not clean:
        raise OrderRuleError(sentence("A parcel id can't be empty."))
    kind = classify(clean).kind
    if kind in (CodeKind.ORDER, CodeKind.COMMAND, CodeKind.BADGE):
        raise OrderRuleError(
            sentence("{code} is one of the station's barcodes, not a parcel id.", code=shown)
        )
    if _SSCC_SHAPE.fullmatch(clean):
        sscc = clean[-18:]
        right = gtin_check_digit(sscc[:-1])
        if int(sscc[-1]) != right:
            raise OrderRuleError(
                sentence(
                    "SSCC {code} has a wrong check digit (it should end in {right}).",
                    code=sscc,
                    right=right,
                )
            )
        return sscc
    if _S10_SHAPE.fullmatch(clean):
        right = s10_check_digit(clean[2:10])
        if int(clean[10]) != right:
            raise OrderRuleError(
                sentence(
                    "Postal parcel id {code} has a wrong check digit (the last digit should "
                    "be {right}).",
                    code=clean,
                    right=right,
                )
            )
        return clean
    if len(clean) in _GTIN_NAMES and is_valid_gtin(clean):
        raise OrderRuleError(
            sentence(
                "{code} is a product barcode ({kind}), not a parcel id.",
                code=clean,
                kind=_GTIN_NAMES[len(clean)],
            )
        )
    bad = _PARCEL_ID_CHARS.sub("", clean)
    if bad:
        raise OrderRuleError(
            sentence(
                "Parcel id {code} contains “{char}”: a parcel id has only letters A–Z, digits "
                "and - _ . /",
                code=shown,
                char=bad[0],
            )
        )
    if len(clean) > PARCEL_ID_MAX_LENGTH:
        raise OrderRuleError(
            sentence(
                "Parcel id {code} is too long: at most {max} characters.",
                code=shown,
                max=PARCEL_ID_MAX_LENGTH,
            )
        )
    least = PARCEL_ID_MIN_DIGITS if clean.isdigit() else PARCEL_ID_MIN_LENGTH
    if len(clean) < least:
        raise OrderRuleError(
            sentence(
                "Parcel id {code} is too short: at least {min} characters.", code=clean, min=least
            )
        )
    return clean


def _sscc_of_gs1(code: str) -> str:
    """A GS1 element string as a parcel id: the SSCC (00) it carries, check digit checked."""
    data = code.strip().replace(" ", "")
    try:
        ais = parse_gs1(data)
    except Gs1Error as err:
        raise OrderRuleError(
            sentence("This GS1 code is no parcel id: {error}.", error=str(err))
        ) from None
    if "00" not in ais:
        raise OrderRuleError(sentence("This GS1 code carries no SSCC (00): it is no parcel id."))
    return ais["00"]


def next_parcel_number(parcel_ids: Collection[str]) -> int:
    """R13: the number (from 1) of the next parcel of a delivery that has `parcel_ids`.

    Raises `OrderRuleError` when the delivery already carries the most it may.
    """
    if len(parcel_ids) >= MAX_PARCEL_IDS:
        raise OrderRuleError(
            sentence("A delivery carries at most {max} parcel ids.", max=MAX_PARCEL_IDS)
        )
    return len(parcel_ids) + 1


class ParcelIdTaken(OrderRuleError):
    """R13: the parcel id is on this delivery already, or on another order's."""


def add_parcel_id(delivery: Delivery, parcel_id: str, used_elsewhere: Collection[str] = ()) -> str:
    """R13: put a parcel id on a delivery; returns it cleaned.

    Refuses a fifth id, and (`ParcelIdTaken`) an id already on this delivery or one that
    `used_elsewhere` says belongs to another order.
    """
    if delivery.reported:
        raise OrderRuleError(
            sentence("This delivery is already reported; its parcel ids are final.")
        )
    clean = check_parcel_id(parcel_id)
    if clean in delivery.parcel_ids:
        raise ParcelIdTaken(sentence("Parcel id {code} is already on this delivery.", code=clean))
    if clean in used_elsewhere:
        raise ParcelIdTaken(
            sentence("Parcel id {code} is already used on another order.", code=clean)
        )
    next_parcel_number(delivery.parcel_ids)
    delivery.parcel_ids.append(clean)
    return clean


def check_kept_parcel_ids(order_id: int, kept: Collection[str], reported: Collection[str]) -> None:
    """R13, R15: a report-in carries every parcel id kept for the order's delivery.

    `kept` are the ids put on the delivery before report-in (typed, scanned, booked — a label
    may be out with them); `reported` the ids the report-in names. One missing was added after
    the packer's screen was drawn: refused, so no id with a label on a parcel is dropped
    unseen. (An id is taken off the delivery on purpose with its field's ×.)
    """
    missing = [p for p in kept if p not in set(reported)]
    if missing:
        raise OrderRuleError(
            sentence(
                "Order {order} also has parcel id {ids}, which this report-in did not name: "
                "check the parcel ids and report in again.",
                order=order_id,
                ids=", ".join(missing),
            )
        )


@dataclass(frozen=True)
class ReportResult:
    """What a report-in did to one order."""

    order_id: int
    shipped: bool
    stock_out: dict[str, int]  # SKU → items that left the warehouse
    released: dict[str, int]  # SKU → reserved items no longer held (≤ stock_out)


def check_delivery_of(order: Order, delivery: Delivery) -> None:
    """Refuse a delivery of another order (OrderRuleError)."""
    if delivery.order_id != order.id:
        raise OrderRuleError(
            sentence(
                "That delivery belongs to order {other}, not {order}.",
                other=delivery.order_id,
                order=order.id,
            )
        )


def report_in(order: Order, delivery: Delivery, at: datetime) -> ReportResult:
    """R15: record a delivery; the order becomes shipped only when every line is delivered.

    Packed counts and stock reservations fall by what was delivered; a partial delivery (R14)
    leaves the order packing.
    """
    check_delivery_of(order, delivery)
    if delivery.reported:
        raise OrderRuleError(
            sentence("Order {id}: this delivery is already reported.", id=order.id)
        )
    if not delivery.parcel_ids:
        raise OrderRuleError(
            sentence("Order {id}: add at least one parcel id before reporting in.", id=order.id)
        )
    if order.status is not OrderStatus.PACKING:
        raise _not_packing(order)
    by_id = {line.id: line for line in order.lines}
    stock_out: dict[str, int] = {}
    for line_id, qty in delivery.quantities.items():
        line = by_id.get(line_id)
        if line is None or qty > line.undelivered:
            # The order changed since the delivery was planned; refuse rather than over-ship.
            raise OrderRuleError(
                sentence("Order {id} changed; plan this delivery again.", id=order.id)
            )
    held = [order.reserved(line) for line in order.lines]
    for line_id, qty in delivery.quantities.items():
        line = by_id[line_id]
        line.delivered += qty
        line.packed = max(0, line.packed - qty)
        stock_out[line.sku] = stock_out.get(line.sku, 0) + qty
    delivery.reported_at = at
    shipped = order.fully_delivered
    if shipped:
        order.move_to(OrderStatus.SHIPPED)
        order.waiting = False
    released: dict[str, int] = {}
    for line, before in zip(order.lines, held, strict=True):
        if freed := before - order.reserved(line):
            released[line.sku] = released.get(line.sku, 0) + freed
    return ReportResult(order.id, shipped, stock_out, released)


def _not_packing(order: Order) -> OrderRuleError:
    return OrderRuleError(
        sentence(
            "Order {id} is {status}; only packing orders ship.",
            id=order.id,
            status=STATUS_WORDS[order.status],
        )
    )
