"""The ship-out page's rows and its form: what one order's row shows, and reading what was posted.

A row holds the order's parcel id fields (each kept id marked saved, each typed one checked),
the quantities of its next delivery and the weight; `_posted` reads the form into one `Posted`
per order, with a clear error for a number that isn't one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from flask import abort, current_app
from werkzeug.datastructures import MultiDict

from stationd.core.deliveries import MAX_PARCEL_IDS, check_parcel_id
from stationd.core.numbers import whole_number
from stationd.core.orders import Order, OrderLine, OrderRuleError
from stationd.kiosk.i18n import gettext as _
from stationd.services.report_in import DeliveryOutcome, DeliveryRequest, Outcome
from stationd.services.shipout import check_parcel_id_for

#: No quantity or weight typed at the bench has more digits (a weight of 9,999,999 g is 10 t).
MAX_NUMBER_DIGITS = 7

# --- what one row shows ----------------------------------------------------------------------


@dataclass
class Slot:
    """One parcel-id field: what it holds and what the check said of it."""

    value: str = ""
    clean: str = ""  # the id as it would be stored, when the check passed
    error: object = None  # the sentence (a core Text) when it did not
    saved: str = ""  # the id kept on the delivery for this field ("" if none)


@dataclass
class Row:
    """One packed order on the page, with the values its fields show."""

    order: Order
    slots: list[Slot]
    quantities: dict[int, str]
    weight: str = ""
    outcome: DeliveryOutcome | None = None
    kept: list[str] = field(default_factory=list)  # the ids kept on the delivery

    @property
    def mark(self) -> str:
        """Changes when what the database says of this card does: the live list redraws a
        card only then, so a card being typed in stays as it is otherwise."""
        facts = repr(
            ([(line.id, line.packed, line.undelivered) for line in self.order.lines], self.kept)
        )
        return hashlib.blake2s(facts.encode(), digest_size=8).hexdigest()

    @property
    def lines(self) -> list[OrderLine]:
        return [line for line in self.order.lines if line.undelivered > 0]

    @property
    def shown_slots(self) -> int:
        """Fields on show: up to the last one filled, and at least one (the + adds more)."""
        filled = [i + 1 for i, slot in enumerate(self.slots) if slot.value.strip()]
        return max([1, *filled])

    @property
    def told_at_a_field(self) -> bool:
        """Whether the outcome's sentence already shows under one of the parcel fields."""
        said = str(self.outcome.message) if self.outcome is not None else None
        return any(str(slot.error) == said for slot in self.slots if slot.error)

    @property
    def confirm(self) -> bool:
        return self.outcome is not None and self.outcome.outcome is Outcome.CONFIRM


@dataclass
class Posted:
    """One order's fields as the form sent them, checked for shape (not for the rules)."""

    order_id: int
    parcels: list[str]
    quantities: dict[int, int]
    typed_quantities: dict[int, str]
    weight: str
    weight_g: int | None
    confirm: bool

    @property
    def filled(self) -> bool:
        return any(p.strip() for p in self.parcels)

    def request(self) -> DeliveryRequest:
        return DeliveryRequest(
            self.order_id,
            [p for p in self.parcels if p.strip()],
            self.quantities,
            weight_g=self.weight_g,
            confirm_weight=self.confirm,
        )


def _station():  # type: ignore[no-untyped-def]
    return current_app.config["STATION"]


def _as_kept(value: str) -> str:
    try:
        return check_parcel_id(value)
    except OrderRuleError:
        return ""


def _slots(values: list[str], kept: list[str]) -> list[Slot]:
    """The parcel fields as the packer has them, each kept id marked saved, and the kept ids
    no field holds (kept elsewhere: the bench, another screen) in the first empty fields."""
    slots = [Slot(v) for v in (values + [""] * MAX_PARCEL_IDS)[:MAX_PARCEL_IDS]]
    for slot in slots:
        clean = _as_kept(slot.value) if slot.value.strip() else ""
        if clean in kept and clean not in (s.saved for s in slots):
            slot.saved = slot.clean = clean
    shown = {slot.saved for slot in slots}
    empty = (slot for slot in slots if not slot.value.strip())
    for parcel_id in kept:
        if parcel_id not in shown and (slot := next(empty, None)) is not None:
            slot.value = slot.saved = slot.clean = parcel_id
    return slots


def _checked(values: list[str], order_id: int, kept: list[str]) -> list[Slot]:
    """The parcel fields with the check's word on each filled one not kept (a repeat on the
    later)."""
    slots = _slots(values, kept)
    store = _station().store
    typed = [slot.value for slot in slots]
    for i, slot in enumerate(slots):
        if slot.value.strip() and not slot.saved:
            try:
                slot.clean = check_parcel_id_for(
                    store, slot.value, others=typed[:i], order_id=order_id
                )
            except OrderRuleError as err:
                slot.error = err.args[0]
    return slots


def _fresh_row(order: Order, kept: list[str]) -> Row:
    # R14: the delivery proposes what is packed and not yet delivered, line by line.
    quantities = {line.id: str(line.packed) for line in order.lines if line.undelivered > 0}
    return Row(order, _slots([], kept), quantities, kept=kept)  # type: ignore[arg-type]


def _row_from_post(
    order: Order, posted: Posted, outcome: DeliveryOutcome | None, kept: list[str]
) -> Row:
    """A row as the packer left it (a refused one keeps what was typed), each id re-checked."""
    return Row(
        order,
        _checked(posted.parcels, order.id, kept),
        {**_fresh_row(order, kept).quantities, **posted.typed_quantities},
        posted.weight,
        outcome,
        kept,
    )


# --- reading the form ------------------------------------------------------------------------


def _number(value: str, what: str) -> int:
    number = whole_number(value, hi=10**MAX_NUMBER_DIGITS - 1)
    if number is None:
        value = value.strip()
        abort(
            400,
            _(
                "{what} must be a whole number of 0 or more, not “{value}”.",
                what=what,
                value=value[:20],
            ),
        )
    return number


def _order_id(value: str) -> int:
    order_id = whole_number(value, lo=1)
    if order_id is None:
        abort(400, _("“{value}” is not an order number: reload the page.", value=value[:20]))
    return order_id


def _posted(form: MultiDict[str, str]) -> dict[int, Posted]:
    """Every order row the form holds; a malformed form is a 400 before anything changes."""
    ids = [_order_id(v) for v in form.getlist("order")]
    if not ids:
        abort(400, _("The form lists no orders: reload the page."))
    rows: dict[int, Posted] = {}
    for order_id in dict.fromkeys(ids):
        typed: dict[int, str] = {}
        quantities: dict[int, int] = {}
        prefix = f"qty-{order_id}-"
        for key, value in form.items(multi=True):
            if not key.startswith(prefix):
                continue
            line_id = _number(key[len(prefix) :], _("A line number"))
            typed[line_id] = value
            if value.strip():
                what = _("The quantity of line {line} of order {id}", line=line_id, id=order_id)
                quantities[line_id] = _number(value, what)
        weight = form.get(f"weight-{order_id}", "")
        weight_g = None
        if weight.strip():
            weight_g = _number(weight, _("The weight of order {id} in grams", id=order_id))
            if weight_g == 0:
                abort(
                    400,
                    _(
                        "The weight of order {id} can't be 0 g: weigh the parcel or leave "
                        "the field empty.",
                        id=order_id,
                    ),
                )
        rows[order_id] = Posted(
            order_id,
            form.getlist(f"parcel-{order_id}"),
            quantities,
            typed,
            weight,
            weight_g,
            form.get(f"confirm-{order_id}") == "1",
        )
        if rows[order_id].filled:
            if not typed:
                abort(
                    400,
                    _("The form has no quantities for order {id}: reload the page.", id=order_id),
                )
            if len(quantities) != len(typed):
                abort(
                    400,
                    _(
                        "Give every line of order {id} a quantity (0 leaves it out of this "
                        "delivery).",
                        id=order_id,
                    ),
                )
    return rows
