"""Orders, their four states and the rules on changing them (SPEC R1–R5, R9, R10).

Plain objects: the store loads them, a use case asks them to change, the store saves them. A
refused change raises `OrderRuleError` with a sentence a packer or admin can read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class OrderRuleError(ValueError):
    """A change the shop's rules refuse; `str(err)` is meant for the person who asked."""


class OrderStatus(StrEnum):
    """R1: an order is always in exactly one of these."""

    PREORDER = "preorder"
    ORDER = "order"
    PACKING = "packing"
    SHIPPED = "shipped"


#: R2: the states in which an order's lines, quantities and prices may change.
EDITABLE_STATES = frozenset({OrderStatus.ORDER, OrderStatus.PACKING})

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
    `delivered` counts items in reported deliveries; `reserved` is the stock held for the line
    by the pack script and released as the line is delivered.
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
    reserved: int = 0

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

    # R1 -----------------------------------------------------------------
    def move_to(self, new: OrderStatus) -> None:
        """Change state along an allowed transition (R1), or raise `OrderRuleError`."""
        if new not in TRANSITIONS[self.status]:
            raise OrderRuleError(
                f"Order {self.id} is {self.status.value} and cannot become {new.value}."
            )
        if new is OrderStatus.ORDER and not self.customer_name.strip():
            raise OrderRuleError(f"Order {self.id} has no customer yet; it stays a preorder.")
        self.status = new

    # R2 -----------------------------------------------------------------
    def require_editable(self) -> None:
        """R2: raise unless the order's contents may change now."""
        if self.status not in EDITABLE_STATES:
            raise OrderRuleError(
                f"Order {self.id} is {self.status.value}: its contents can only be changed "
                "while it is 'order' or 'packing'."
            )

    def line(self, line_id: int) -> OrderLine:
        for line in self.lines:
            if line.id == line_id:
                return line
        raise OrderRuleError(f"Order {self.id} has no line {line_id}.")

    def add_line(self, line: OrderLine) -> None:
        """R2: add a line (only while editable)."""
        self.require_editable()
        _check_quantity(line.quantity)
        _check_price(line.unit_price_minor)
        if self.status is OrderStatus.PACKING:
            # The pack script reserved stock for the lines it saw; a new line has none, so
            # the order would ship short. The admin moves it back by hand in the shop instead.
            raise OrderRuleError(
                f"Order {self.id} is already packing: change quantities of its lines instead "
                "of adding new ones."
            )
        self.lines.append(line)

    def set_quantity(self, line_id: int, quantity: int) -> int:
        """R2: change a line's quantity; returns the stock reservation it releases (≥ 0).

        While packing, a line can't drop below what is already packed or delivered, and can't
        grow: the pack script reserved stock for the quantity it saw, and more would ship short.
        """
        self.require_editable()
        _check_quantity(quantity)
        line = self.line(line_id)
        floor = line.delivered + line.packed
        if quantity < floor:
            raise OrderRuleError(
                f"Line {line.sku} has {floor} packed or delivered; the quantity can't be "
                f"lower than that."
            )
        if self.status is OrderStatus.PACKING and quantity > line.quantity:
            raise OrderRuleError(
                f"Order {self.id} is already packing with stock reserved for {line.quantity} of "
                f"{line.sku}; a larger quantity needs a new order."
            )
        line.quantity = quantity
        released = max(0, line.reserved - line.undelivered)
        line.reserved -= released
        return released

    def set_price(self, line_id: int, unit_price_minor: int) -> None:
        """R2: change a line's unit price."""
        self.require_editable()
        _check_price(unit_price_minor)
        self.line(line_id).unit_price_minor = unit_price_minor

    # R3 -----------------------------------------------------------------
    def set_waiting(self, waiting: bool) -> None:
        """R3: the waiting flag keeps an order out of the outbound queue, its state unchanged."""
        if self.status is OrderStatus.SHIPPED and waiting:
            raise OrderRuleError(f"Order {self.id} is shipped; there is nothing to wait for.")
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


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise OrderRuleError(f"A quantity must be a whole number of at least 1, not {quantity!r}.")
    if quantity > 100_000:
        raise OrderRuleError(f"A quantity of {quantity} is more than one order line can hold.")


def _check_price(price_minor: int) -> None:
    if isinstance(price_minor, bool) or not isinstance(price_minor, int) or price_minor < 0:
        raise OrderRuleError(f"A price must be zero or more, not {price_minor!r}.")


def check_print_request(document: Document, orders: Iterable[Order]) -> list[Order]:
    """R9: refuse a print the outbound queue must not offer; returns the orders to print.

    An invoice prints only for orders paid by "own invoice", and only one at a time.
    """
    chosen = list(orders)
    if not chosen:
        raise OrderRuleError("Select at least one order.")
    for order in chosen:
        if not order.in_outbound_queue:
            raise OrderRuleError(f"Order {order.id} is not in the outbound queue.")
    if document is Document.INVOICE:
        if len(chosen) != 1:
            raise OrderRuleError("Invoices print one order at a time.")
        if chosen[0].payment_method is not PaymentMethod.OWN_INVOICE:
            raise OrderRuleError(
                f"Order {chosen[0].id} is not paid by own invoice; it has no invoice to print."
            )
    return chosen


def printed_markers(document: Document) -> tuple[Document, ...]:
    """R10: which struck-through markers a printed document sets."""
    if document is Document.PICKLIST_RECEIPT:
        return (Document.PICKLIST, Document.RECEIPT)
    return (document,)


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
        raise OrderRuleError(
            "A status code is 1 to 16 letters, digits, '-' or '_' (for example BACKORDER)."
        )
    if not name or len(name) > 80:
        raise OrderRuleError("A status name is 1 to 80 characters.")
    if code in {c.upper() for c in taken_codes}:
        raise OrderRuleError(f"The status code {code} is already in use.")
    return OwnStatus(None, code, name)
