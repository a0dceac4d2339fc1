"""Why the pack script let an order wait, skipped it, or stopped (R8), as typed values.

A reason is its English wording — the value the log, the CLI and the stored run's `error` show,
so it compares and prints as that sentence — with its facts (SKU, quantities) typed beside it.
The kiosk words a reason in the reader's language from those facts, never from the English.
A reason known only by its words (a program error, a trace stored before reasons were typed)
is a `Message`.

A run decides 100,000 orders and may find thousands short: it keeps each reason as its data
(`kind, *facts`, as a trace stores it) and the `Reason` is made only when someone reads the
step (`reason_from_data`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

#: Every reason's kind (as stored in a trace) → its class; filled by `_kind`.
REASON_KINDS: dict[str, type[Reason]] = {}


class Reason(str):
    """A reason of the pack script: the English sentence, with `facts` as attributes.

    Built from its facts in `facts` order; frozen like the sentence it is.
    """

    kind: ClassVar[str] = ""
    wording: ClassVar[str] = ""  # the facts by name: "SKU {sku} has no stock record"
    facts: ClassVar[tuple[str, ...]] = ()
    _template: ClassVar[str] = ""  # the wording with the facts by position (quicker to fill)

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        by_position = {name: f"{{{n}}}" for n, name in enumerate(cls.facts)}
        cls._template = cls.wording.format(**by_position)

    def __new__(cls, *values: Any) -> Self:
        if len(values) != len(cls.facts):
            raise TypeError(f"{cls.__name__} takes {cls.facts}, got {values!r}")
        self = super().__new__(cls, cls._template.format(*values))
        self.__dict__["_facts"] = values
        return self

    def __getattr__(self, name: str) -> Any:
        # only for names not found otherwise: the facts
        try:
            return self.__dict__["_facts"][type(self).facts.index(name)]
        except (KeyError, ValueError):
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.__dict__['_facts']))})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self.__dict__["_facts"])

    def data(self) -> tuple[Any, ...]:
        """The reason as a trace keeps it: its kind, then its facts (`reason_from_data`)."""
        return (self.kind, *self.__dict__["_facts"])


def _kind(cls: type[Reason]) -> type[Reason]:
    REASON_KINDS[cls.kind] = cls
    return cls


@_kind
class Message(Reason):
    """A reason known only by its words."""

    kind = "message"
    wording = "{text}"
    facts = ("text",)
    text: str


@_kind
class NoLines(Reason):
    """The order has no lines: skipped."""

    kind = "no_lines"
    wording = "the order has no lines"


@_kind
class QuantityBelowOne(Reason):
    """A line asks for less than one item: skipped."""

    kind = "quantity_below_1"
    wording = "SKU {sku} has a quantity below 1"
    facts = ("sku",)
    sku: str


@_kind
class NoStockRecord(Reason):
    """A line's SKU has no stock record: waits."""

    kind = "no_stock_record"
    wording = "SKU {sku} has no stock record"
    facts = ("sku",)
    sku: str


@_kind
class ShortOfStock(Reason):
    """The order needs `need` of a SKU of which only `have` are available: waits."""

    kind = "short"
    wording = "SKU {sku}: needs {need}, {have} available"
    facts = ("sku", "need", "have")
    sku: str
    need: int
    have: int


@_kind
class NegativeStock(Reason):
    """Corrupt stock: more is reserved than is on hand. The run stops."""

    kind = "negative_stock"
    wording = "stock of SKU {sku} is negative ({have}): more is reserved than is on hand"
    facts = ("sku", "have")
    sku: str
    have: int


# --- the fixed words of the steps every order goes through -------------------------------------


@_kind
class NotPaidYet(Reason):
    """The paid check failed."""

    kind = "not_paid_yet"
    wording = "not paid yet"


@_kind
class EveryLineInStock(Reason):
    """The stock check passed."""

    kind = "every_line_in_stock"
    wording = "every line in stock"


class Decided(Reason):
    """A decision about one order; `outcome` names it (core.packscript_reading.Outcome)."""

    outcome: ClassVar[str] = ""


@_kind
class ToPacking(Decided):
    """Paid and every line covered: it moves and reserves its stock."""

    kind = "to_packing"
    wording = "to packing"
    outcome = "moved"


@_kind
class WaitsUnpaid(Decided):
    """Not paid: it waits."""

    kind = "waits_unpaid"
    wording = "waits: not paid"
    outcome = "unpaid"


@_kind
class WaitsForStock(Decided):
    """A line is not covered: it waits and reserves nothing."""

    kind = "waits_for_stock"
    wording = "waits: short of stock, reserves nothing"
    outcome = "short"


@_kind
class LinesNeedFixing(Decided):
    """Its lines can't be served as they stand: skipped."""

    kind = "lines_need_fixing"
    wording = "skipped: order lines need fixing"
    outcome = "skipped"


@_kind
class StoppedByHand(Reason):
    """Stop was pressed on the Tools page: the run ended between two of its transactions."""

    kind = "stopped_by_hand"
    wording = "stopped from Tools: the orders moved before stay in packing"


def reason_from_data(data: Any) -> Reason:
    """A reason from its data (`Reason.data`: a tuple, or the list JSON gives back); a reason
    already is one. A plain string (a trace of an earlier version) or a kind this version does
    not know is a `Message` of its words."""
    if isinstance(data, Reason):
        return data
    if isinstance(data, str):
        return Message(data)
    if isinstance(data, (list, tuple)) and data and data[0] in REASON_KINDS:
        try:
            return REASON_KINDS[data[0]](*data[1:])
        except (TypeError, IndexError, ValueError):
            pass
    return Message(str(data))


__all__ = [
    "REASON_KINDS",
    "Decided",
    "EveryLineInStock",
    "LinesNeedFixing",
    "Message",
    "NegativeStock",
    "NoLines",
    "NoStockRecord",
    "NotPaidYet",
    "QuantityBelowOne",
    "Reason",
    "ShortOfStock",
    "StoppedByHand",
    "ToPacking",
    "WaitsForStock",
    "WaitsUnpaid",
    "reason_from_data",
]
