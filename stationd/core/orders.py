"""Orders, their four states and the rules on changing them (SPEC R1–R5, R9, R10).

Plain objects: the store loads them, a use case asks them to change, the store saves them. A
refused change raises `OrderRuleError` with a sentence a packer or admin can read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from stationd.core.text import Text, sentence


class OrderRuleError(ValueError):
    """A change the shop's rules refuse; `str(err)` is meant for the person who asked."""


class FieldRefused(OrderRuleError):
    """A refusal about one field of what was typed: `field` names it, so a form can mark it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class OrderStatus(StrEnum):
    """R1: an order is always in exactly one of these."""

    PREORDER = "preorder"
    ORDER = "order"
    PACKING = "packing"
    SHIPPED = "shipped"


#: R1: what each state is called in a sentence (the kiosk says it in the packer's language).
STATUS_WORDS: dict[OrderStatus, Text] = {
    OrderStatus.PREORDER: sentence("preorder"),
    OrderStatus.ORDER: sentence("order"),
    OrderStatus.PACKING: sentence("packing"),
    OrderStatus.SHIPPED: sentence("shipped"),
}
#: R2: the states in which an order's lines, quantities and prices may change.
EDITABLE_STATES = frozenset({OrderStatus.ORDER, OrderStatus.PACKING})
#: The most items one order line holds.
MAX_LINE_QUANTITY = 100_000

#: R1: the moves between states; nothing else is allowed.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PREORDER: frozenset({OrderStatus.ORDER}),
    OrderStatus.ORDER: frozenset({OrderStatus.PACKING}),
    OrderStatus.PACKING: frozenset({OrderStatus.SHIPPED}),
    OrderStatus.SHIPPED: frozenset(),
}


class PaymentMethod(StrEnum):
    CARD = "card"
    INVOICE = "invoice"
    OWN_INVOICE = "own_invoice"
    SWISH = "swish"
    VIPPS = "vipps"
    BANK = "bank"


#: Payment methods of one country, so of one currency: Swish is Swedish, Vipps Norwegian.
PAYMENT_CURRENCIES: dict[PaymentMethod, frozenset[str]] = {
    PaymentMethod.SWISH: frozenset({"SEK"}),
    PaymentMethod.VIPPS: frozenset({"NOK"}),
}


def payment_fits(method: PaymentMethod, currency: str) -> bool:
    """Whether an order in `currency` can be paid by `method` (a Swish payment is in SEK, a
    Vipps payment in NOK; the other methods take any currency)."""
    return currency in PAYMENT_CURRENCIES.get(PaymentMethod(method), frozenset({currency}))


class Document(StrEnum):
    """What the outbound queue prints (R9)."""

    PICKLIST = "picklist"
    RECEIPT = "receipt"
    PICKLIST_RECEIPT = "picklist_receipt"
    INVOICE = "invoice"


@dataclass
class OrderLine:
    """One line of an order. Quantities are whole items; money is in minor units (öre, cents).

    `packed` counts items scanned at the bench and not yet reported as delivered;
    `delivered` counts items in reported deliveries. The stock a line holds is not stored: it
    follows from the order's state (`line_reservation`).
    """

    sku: str
    name: str
    quantity: int
    unit_price_minor: int
    gtin: str | None = None
    location: str = ""
    id: int | None = None
    packed: int = 0
    delivered: int = 0

    @property
    def undelivered(self) -> int:
        return self.quantity - self.delivered

    @property
    def left_to_pack(self) -> int:
        return self.quantity - self.delivered - self.packed

    @property
    def value_minor(self) -> int:
        return self.quantity * self.unit_price_minor


@dataclass
class Order:
    """An order as the bench and the admin see it."""

    id: int
    status: OrderStatus
    placed_at: datetime
    customer_name: str = ""
    payment_method: PaymentMethod = PaymentMethod.CARD
    paid: bool = False
    waiting: bool = False
    comment: str = ""
    own_status_id: int | None = None
    lines: list[OrderLine] = field(default_factory=list)
    printed: dict[Document, datetime] = field(default_factory=dict)
    country: str = "SE"  # where it ships: the customer's paper speaks its language
    currency: str = "SEK"  # the prices' currency (ISO 4217)

    # R1 -----------------------------------------------------------------
    def move_to(self, new: OrderStatus) -> None:
        """Change state along an allowed transition (R1), or raise `OrderRuleError`."""
        if new not in TRANSITIONS[self.status]:
            raise OrderRuleError(
                sentence(
                    "Order {id} is {status} and cannot become {new}.",
                    id=self.id,
                    status=STATUS_WORDS[self.status],
                    new=STATUS_WORDS[new],
                )
            )
        if new is OrderStatus.ORDER and not self.customer_name.strip():
            raise OrderRuleError(
                sentence("Order {id} has no customer yet; it stays a preorder.", id=self.id)
            )
        self.status = new

    # R2 -----------------------------------------------------------------
    # Each `…_refusal` says why a change can't be made now (None: it can), so a page can show
    # the reason beside a disabled control; the changes themselves raise the same sentence.
    def edit_refusal(self) -> Text | None:
        """R2: why the order's contents can't change now, or None."""
        if self.status in EDITABLE_STATES:
            return None
        return sentence(
            "Order {id} is {status}: its contents can only be changed while it is "
            "'order' or 'packing'.",
            id=self.id,
            status=STATUS_WORDS[self.status],
        )

    def require_editable(self) -> None:
        """R2: raise unless the order's contents may change now."""
        if why := self.edit_refusal():
            raise OrderRuleError(why)

    def line(self, line_id: int) -> OrderLine:
        for line in self.lines:
            if line.id == line_id:
                return line
        raise OrderRuleError(sentence("Order {id} has no line {line}.", id=self.id, line=line_id))

    def add_refusal(self) -> Text | None:
        """R2: why no line can be added now, or None."""
        if why := self.edit_refusal():
            return why
        if self.status is OrderStatus.PACKING:
            # The pack script reserved stock for the lines it saw; a new line has none, so
            # the order would ship short. The admin moves it back by hand in the shop instead.
            return sentence(
                "Order {id} is already packing: change quantities of its lines instead "
                "of adding new ones.",
                id=self.id,
            )
        return None

    def add_line(self, line: OrderLine) -> None:
        """R2: add a line (only while editable, and not once packing)."""
        self.require_editable()
        _check_quantity(line.quantity)
        _check_price(line.unit_price_minor)
        if why := self.add_refusal():
            raise OrderRuleError(why)
        self.lines.append(line)

    def quantity_range(self, line: OrderLine) -> tuple[int, int]:
        """R2: the lowest and highest quantity `line` may be given now.

        Never below what is already packed or delivered; while packing, never above what the
        pack script reserved stock for (more would ship short).
        """
        top = line.quantity if self.status is OrderStatus.PACKING else MAX_LINE_QUANTITY
        return max(1, line.packed + line.delivered), top

    def set_quantity(self, line_id: int, quantity: int) -> int:
        """R2: change a line's quantity; returns the stock reservation it releases (≥ 0)."""
        self.require_editable()
        _check_quantity(quantity)
        line = self.line(line_id)
        lowest, highest = self.quantity_range(line)
        if quantity < lowest:
            raise OrderRuleError(
                sentence(
                    "Line {sku} has {floor} packed or delivered; the quantity can't be lower "
                    "than that.",
                    sku=line.sku,
                    floor=lowest,
                )
            )
        if quantity > highest:
            raise OrderRuleError(
                sentence(
                    "Order {id} is already packing with stock reserved for {quantity} of "
                    "{sku}; a larger quantity needs a new order.",
                    id=self.id,
                    quantity=line.quantity,
                    sku=line.sku,
                )
            )
        held = self.reserved(line)
        line.quantity = quantity
        return held - self.reserved(line)

    def removal_refusal(self, line: OrderLine) -> Text | None:
        """R2: why `line` can't be taken off the order now, or None.

        A line with items packed or delivered stays (they are in a box or with the customer),
        and so does an order's last line: an order of nothing can't be packed or shipped.
        """
        if why := self.edit_refusal():
            return why
        if line.packed or line.delivered:
            return sentence(
                "Line {sku} has {count} packed or delivered; it can't be removed.",
                sku=line.sku,
                count=line.packed + line.delivered,
            )
        if len(self.lines) == 1:
            return sentence(
                "Line {sku} is the order's last line; it can't be removed.", sku=line.sku
            )
        return None

    def remove_line(self, line_id: int) -> int:
        """R2: take a line off the order; returns the stock reservation it releases (≥ 0)."""
        line = self.line(line_id)
        if why := self.removal_refusal(line):
            raise OrderRuleError(why)
        held = self.reserved(line)
        self.lines.remove(line)
        return held

    def set_price(self, line_id: int, unit_price_minor: int) -> None:
        """R2: change a line's unit price."""
        self.require_editable()
        _check_price(unit_price_minor)
        self.line(line_id).unit_price_minor = unit_price_minor

    def reserved(self, line: OrderLine) -> int:
        """R7: the stock `line` holds now (see `line_reservation`)."""
        return line_reservation(self.status, line.quantity, line.delivered)

    # R3 -----------------------------------------------------------------
    def waiting_refusal(self) -> Text | None:
        """R3: why the order can't be set waiting now, or None (clearing is always allowed)."""
        if self.status is OrderStatus.SHIPPED:
            return sentence("Order {id} is shipped; there is nothing to wait for.", id=self.id)
        return None

    def set_waiting(self, waiting: bool) -> None:
        """R3: the waiting flag keeps an order out of the outbound queue, its state unchanged."""
        if waiting and (why := self.waiting_refusal()):
            raise OrderRuleError(why)
        self.waiting = waiting

    # R9 / R10 -----------------------------------------------------------
    @property
    def in_outbound_queue(self) -> bool:
        """R9 + R3: packing and not waiting."""
        return self.status is OrderStatus.PACKING and not self.waiting

    @property
    def value_minor(self) -> int:
        return sum(line.value_minor for line in self.lines)

    @property
    def fully_delivered(self) -> bool:
        return bool(self.lines) and all(line.undelivered == 0 for line in self.lines)

    @property
    def fully_packed(self) -> bool:
        return bool(self.lines) and all(line.left_to_pack == 0 for line in self.lines)


def line_reservation(status: str, quantity: int, delivered: int) -> int:
    """R7: the stock an order line holds, from its order's state and its counts.

    The pack script reserves every line of an order it moves to packing, in full; a line then
    holds what is still to be delivered, and lets go of each item as it is delivered (R15) or
    taken off the line (R2). Orders in any other state hold nothing. This is the one place that
    says so: the store keeps no per-line reservation, only the total per SKU in `stock`.
    """
    return quantity - delivered if status == OrderStatus.PACKING else 0


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise OrderRuleError(
            sentence(
                "A quantity must be a whole number of at least 1, not {quantity}.",
                quantity=repr(quantity),
            )
        )
    if quantity > MAX_LINE_QUANTITY:
        raise OrderRuleError(
            sentence(
                "A quantity of {quantity} is more than one order line can hold.",
                quantity=quantity,
            )
        )


def _check_price(price_minor: int) -> None:
    if isinstance(price_minor, bool) or not isinstance(price_minor, int) or price_minor < 0:
        raise OrderRuleError(
            sentence("A price must be zero or more, not {price}.", price=repr(price_minor))
        )


def check_print_request(document: Document, orders: Iterable[Order]) -> list[Order]:
    """R9: refuse a print the outbound queue must not offer; returns the orders to print.

    An invoice prints only for orders paid by "own invoice", and only one at a time.
    """
    chosen = list(orders)
    if not chosen:
        raise OrderRuleError(sentence("Select at least one order."))
    for order in chosen:
        if not order.in_outbound_queue:
            raise OrderRuleError(sentence("Order {id} is not in the outbound queue.", id=order.id))
    if document is Document.INVOICE:
        if len(chosen) != 1:
            raise OrderRuleError(sentence("Invoices print one order at a time."))
        if chosen[0].payment_method is not PaymentMethod.OWN_INVOICE:
            raise OrderRuleError(
                sentence(
                    "Order {id} is not paid by own invoice; it has no invoice to print.",
                    id=chosen[0].id,
                )
            )
    return chosen


def printed_markers(document: Document) -> tuple[Document, ...]:
    """R10: which struck-through markers a printed document sets."""
    if document is Document.PICKLIST_RECEIPT:
        return (Document.PICKLIST, Document.RECEIPT)
    return (document,)


#: R10: what each marker is called in a sentence.
MARKER_NAMES: dict[Document, Text] = {
    Document.PICKLIST: sentence("pick list"),
    Document.RECEIPT: sentence("receipt"),
    Document.INVOICE: sentence("invoice"),
}


class ReprintNeedsConfirmation(OrderRuleError):
    """R10: a chosen order already has the document printed, or waiting at the printer.

    Printing it again takes a person's second, deliberate touch. `repeats` maps each such
    order's id to the markers it already has, in the order they print.
    """

    def __init__(self, repeats: Mapping[int, tuple[Document, ...]]) -> None:
        self.repeats = dict(repeats)
        documents = {d for docs in self.repeats.values() for d in docs}
        super().__init__(
            sentence(
                "Printed already or waiting at the printer — {documents}: {orders}. "
                "Confirm to print again.",
                orders=", ".join(str(order_id) for order_id in self.repeats),
                documents=" + ".join(MARKER_NAMES[d] for d in Document if d in documents),
            )
        )


def repeated_prints(
    document: Document,
    orders: Iterable[Order],
    waiting: Mapping[int, Iterable[Document]] | None = None,
) -> dict[int, tuple[Document, ...]]:
    """R10: the orders that printing `document` would give a second copy of something.

    For each order, the markers `document` sets that the order already has — printed
    (`Order.printed`), or in `waiting`: documents queued or held at a printer, not out yet (a
    second copy asked for while the paper is out would come out too). Orders with none are
    left out; an empty answer means nothing prints twice.
    """
    waiting = waiting or {}
    repeats: dict[int, tuple[Document, ...]] = {}
    for order in orders:
        had = set(order.printed) | set(waiting.get(order.id, ()))
        again = tuple(marker for marker in printed_markers(document) if marker in had)
        if again:
            repeats[order.id] = again
    return repeats


@dataclass(frozen=True)
class OwnStatus:
    """R5: an admin-defined status for people only; orders refer to it by id."""

    id: int | None
    code: str
    name: str


def validate_own_status(code: str, name: str, taken_codes: Iterable[str]) -> OwnStatus:
    """R5: check a new or renamed own status; returns it cleaned, or raises `OrderRuleError`."""
    code, name = code.strip().upper(), name.strip()
    if not code or len(code) > 16 or not code.replace("-", "").replace("_", "").isalnum():
        raise FieldRefused(
            sentence(
                "A status code is 1 to 16 letters, digits, '-' or '_' (for example BACKORDER)."
            ),
            "code",
        )
    if not name or len(name) > 80:
        raise FieldRefused(sentence("A status name is 1 to 80 characters."), "name")
    if code in {c.upper() for c in taken_codes}:
        raise FieldRefused(sentence("The status code {code} is already in use.", code=code), "code")
    return OwnStatus(None, code, name)


def check_own_status_unused(status: OwnStatus, orders_using: int) -> None:
    """R5: an own status can be deleted only while no order carries it.

    Orders refer to their own status; deleting one in use would take it off those orders,
    old ones too, with no trace of what it said.
    """
    if orders_using:
        raise OrderRuleError(
            sentence(
                "{code} is on {count} order(s): take it off them before deleting it.",
                code=status.code,
                count=orders_using,
            )
        )
