"""The pack script (SPEC R6–R8): which paid, fully stocked orders move to packing.

A pure function over values: it takes the open orders and the available stock and returns the
orders that move, the stock they reserve, and a trace of every step. The store loads the inputs
and writes the outcome in one transaction, under a lock, so stock is never reserved twice (R7,
R17).

Built for 100,000 orders a run. The common case — a paid order whose every line is in stock —
takes one pass over its lines and makes no new objects; anything else (a short line, a missing
stock record, a bad quantity, negative stock) is sent to a careful second look that says why.
The trace keeps one outcome letter per order and unfolds into `Step`s only when someone reads
it (`Trace`), because building and storing ~300,000 step objects would cost more than deciding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any, NamedTuple

from stationd.core.packscript_reasons import (
    EveryLineInStock,
    LinesNeedFixing,
    Message,
    NegativeStock,
    NoLines,
    NoStockRecord,
    NotPaidYet,
    QuantityBelowOne,
    Reason,
    ShortOfStock,
    ToPacking,
    WaitsForStock,
    WaitsUnpaid,
    reason_from_data,
)

#: A reason as a run keeps it: `Reason.data` (a tuple, or the list JSON gives back), or the
#: English words alone of a trace stored by an earlier version.
ReasonData = tuple[Any, ...] | list[Any] | str


class PackCandidate(NamedTuple):
    """An order in state `order`, as the pack script sees it. `placed_at` only needs to sort."""

    order_id: int
    placed_at: Any
    paid: bool
    lines: Sequence[tuple[str, int]]  # (SKU, quantity); a SKU may appear on several lines


#: An open order as a plain tuple in `PackCandidate`'s field order; the store makes these,
#: as 100,000 named tuples take noticeably longer to build than plain ones.
Candidate = tuple[int, Any, bool, Sequence[tuple[str, int]]]


class Step(NamedTuple):
    """One step of the trace: which order, which check, did it pass, and why (R8)."""

    order_id: int | None
    check: str  # "paid", "stock", "decision", "error"
    ok: bool
    #: In English; a failed stock check or a stop is a typed `Reason` (a str with its facts).
    detail: str = ""


class PackScriptError(Exception):
    """Data the pack script can't safely go on with; the run stops where it met it. Its one
    argument is the `Reason`."""


StepListener = Callable[[Step], None]

# What became of an order, one byte each in `Trace.outcomes`.
MOVED = ord("m")  # paid, every line in stock: to packing
UNPAID = ord("u")  # waits: not paid
SHORT = ord("s")  # waits: a line is short of stock (or has no stock record)
SKIPPED = ord("x")  # the order's lines can't be served as they stand (no lines, quantity < 1)
STOPPED = ord("e")  # the run stopped while looking at this order

_PAID = ("paid", True, "")
_STEPS_AFTER_PAID: dict[int, tuple[tuple[str, bool, Reason | None], ...]] = {
    # (check, ok, detail); a detail of None is the order's own reason
    MOVED: (("stock", True, EveryLineInStock()), ("decision", True, ToPacking())),
    SHORT: (("stock", False, None), ("decision", False, WaitsForStock())),
    SKIPPED: (("stock", False, None), ("decision", False, LinesNeedFixing())),
    STOPPED: (),
}
_UNPAID_STEPS = (("paid", False, NotPaidYet()), ("decision", False, WaitsUnpaid()))


class Trace:
    """Every step of a run, in the order it happened (R8), kept compact.

    Per order looked at it holds the id and one outcome byte (`MOVED`, `UNPAID`, …), plus the
    reason of each order that waits or is skipped (as its data, `ReasonData`: a run may find
    thousands); iterating unfolds that into `Step`s, each reason typed — which
    order, what was checked, what was decided and why — ending with the stop, if the run
    stopped.
    """

    __slots__ = ("order_ids", "outcomes", "reasons", "stopped")

    def __init__(
        self,
        order_ids: Sequence[int] = (),
        outcomes: bytes | bytearray = b"",
        reasons: Mapping[int, ReasonData] | None = None,
        stopped: Step | None = None,
    ) -> None:
        if len(order_ids) != len(outcomes):
            raise ValueError(f"{len(order_ids)} order ids but {len(outcomes)} outcomes")
        self.order_ids = order_ids
        self.outcomes = bytes(outcomes)
        self.reasons: Mapping[int, ReasonData] = reasons or {}  # position in `order_ids` → why
        self.stopped = stopped

    def __iter__(self) -> Iterator[Step]:
        reasons = self.reasons
        for n, (order_id, outcome) in enumerate(zip(self.order_ids, self.outcomes, strict=True)):
            yield from order_steps(order_id, outcome, reasons.get(n, ""))
        if self.stopped is not None:
            yield self.stopped

    def __len__(self) -> int:
        count = self.outcomes.count
        steps = 3 * len(self.outcomes) - count(UNPAID) - 2 * count(STOPPED)
        return steps + (self.stopped is not None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Trace):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Trace of {len(self.outcomes)} orders, {len(self)} steps>"


def order_steps(order_id: int, outcome: int, reason: ReasonData = "") -> list[Step]:
    """The steps of one order with the given outcome (the stop itself is not among them), its
    `reason` typed (`reason_from_data`)."""
    if outcome == UNPAID:
        return [Step(order_id, *step) for step in _UNPAID_STEPS]
    steps = [Step(order_id, *_PAID)]
    for check, ok, detail in _STEPS_AFTER_PAID[outcome]:
        if detail is None:
            detail = reason_from_data(reason) if reason else ""
        steps.append(Step(order_id, check, ok, detail))
    return steps


@dataclass
class PackResult:
    """What one run decided.

    `moves` are the candidates that go to packing, oldest first; each reserves its lines.
    `reserved` is the stock they take together, per SKU. A run that wrote its moves as they
    came from a child process (`services.packscript_child`) keeps only their ids, in `ids`
    (`moves` then stays empty): holding 100,000 orders' lines is what it keeps out of `serve`.
    """

    moves: list[Candidate] = field(default_factory=list)
    reserved: dict[str, int] = field(default_factory=dict)
    trace: Trace = field(default_factory=Trace)
    ids: list[int] | None = None

    @property
    def moved_ids(self) -> list[int]:
        if self.ids is not None:
            return list(self.ids)
        return [move[0] for move in self.moves]

    @property
    def moved(self) -> int:
        """How many orders the run moved to packing."""
        return len(self.ids) if self.ids is not None else len(self.moves)

    @property
    def looked_at(self) -> int:
        return len(self.trace.outcomes)

    @property
    def unpaid(self) -> int:
        return self.trace.outcomes.count(UNPAID)

    @property
    def short(self) -> int:
        return self.trace.outcomes.count(SHORT)

    @property
    def skipped(self) -> int:
        return self.trace.outcomes.count(SKIPPED)

    @property
    def stopped(self) -> Step | None:
        return self.trace.stopped

    @property
    def ok(self) -> bool:
        return self.stopped is None

    def summary(self) -> str:
        text = (
            f"{self.looked_at} orders looked at: {self.moved} to packing, "
            f"{self.unpaid} not paid, {self.short} short of stock, {self.skipped} with errors"
        )
        if self.stopped is not None:
            where = f"order {self.stopped.order_id}" if self.stopped.order_id else "the start"
            text += f"; stopped at {where}: {self.stopped.detail}"
        return text


_OLDEST_FIRST = itemgetter(1, 0)  # (placed_at, order_id)


#: A listener that is handed the moves as they are decided, a batch at a time (`run_pack_script`).
MovesListener = Callable[[list[Candidate]], None]


def run_pack_script(
    candidates: Iterable[Candidate],
    available: Mapping[str, int],
    on_step: StepListener | None = None,
    on_moves: MovesListener | None = None,
    hand_on_every: int = 10_000,
) -> PackResult:
    """Decide the moves of one pack-script run.

    `available` is stock on hand minus what is already reserved, per SKU. Orders are served
    oldest first (by `placed_at`, then id); an order whose every line is covered reserves it,
    one that can't be covered reserves nothing and waits for the next run (R7). A negative
    available stock is corrupt data: the run stops there, keeping the moves decided before
    it, and the trace says where and why (R8). `on_step` sees each order's steps as soon as
    that order is decided, for a manual run that shows the script at work.

    `on_moves` is handed the moves as they are decided, oldest first: those of each
    `hand_on_every` orders looked at, and the rest at the end (also when the run stopped: the
    moves before the stop stand), so that they can be written while the rest is decided. A
    move handed on is never taken back. It must not raise (an exception there would read as
    the run's stop): hand the batch on.
    """
    stock = dict(available)
    have_of = stock.get
    moves: list[Candidate] = []
    outcomes = bytearray()
    reasons: dict[int, ReasonData] = {}
    ordered: list[Candidate] = []
    stopped: Step | None = None
    order_id: int | None = None
    n = 0
    handed = 0  # how many moves `on_moves` has had
    try:
        ordered = sorted(candidates, key=_OLDEST_FIRST)
        # In parts of `hand_on_every` orders, the moves handed on after each (checked per
        # part, not per order: the loop below runs 100,000 times a run).
        every = hand_on_every if on_moves is not None else len(ordered) or 1
        for begin in range(0, len(ordered), every):
            part = ordered if every >= len(ordered) else ordered[begin : begin + every]
            for n, candidate in enumerate(part, begin):
                order_id = candidate[0]
                if not candidate[2]:  # paid
                    outcomes.append(UNPAID)
                else:
                    # The quick look: take each line's stock as we go (so a SKU on two lines is
                    # counted twice). It succeeds exactly when the careful look would. Kept to
                    # plain loops and a counter: this runs 300,000 times a run.
                    lines = candidate[3]
                    taken = 0
                    for sku, qty in lines:
                        have = have_of(sku, -1)  # -1: no stock record
                        if not 0 < qty <= have:
                            break
                        stock[sku] = have - qty
                        taken += 1
                    if taken and taken == len(lines):
                        moves.append(candidate)
                        outcomes.append(MOVED)
                    else:
                        for sku, qty in lines[:taken]:  # give back what this order took
                            stock[sku] += qty
                        outcome, reason = _why_not_covered(lines, stock)
                        reasons[n] = reason
                        outcomes.append(outcome)
                if on_step is not None:
                    for step in order_steps(order_id, outcomes[-1], reasons.get(n, "")):
                        on_step(step)
            if on_moves is not None and len(moves) > handed:
                on_moves(moves[handed:])
                handed = len(moves)
    except Exception as err:  # the stop R8 describes: where, and the message
        message = stop_reason(err)
        last_steps = []
        if order_id is not None and len(outcomes) == n:
            outcomes.append(STOPPED)  # it stopped while deciding this order
            last_steps.append(Step(order_id, *_PAID))
        stopped = Step(order_id, "error", False, message)
        last_steps.append(stopped)
        if on_step is not None:
            with suppress(Exception):  # the listener may be what failed; the result still tells
                for step in last_steps:
                    on_step(step)

    if on_moves is not None and len(moves) > handed:
        on_moves(moves[handed:])
    if stopped is None:
        # Only the moves changed `stock`: what they took is what it lost.
        reserved = {sku: have - stock[sku] for sku, have in available.items() if stock[sku] != have}
    else:
        reserved = reserved_by(moves)
    order_ids = [candidate[0] for candidate in islice(ordered, len(outcomes))]
    return PackResult(moves, reserved, Trace(order_ids, outcomes, reasons, stopped))


def stop_reason(err: BaseException) -> Reason:
    """The reason a run stopped on `err`: a `PackScriptError`'s own, else the error's type
    and message."""
    if isinstance(err, PackScriptError) and err.args and isinstance(err.args[0], Reason):
        return err.args[0]
    message = str(err) or type(err).__name__
    return Message(
        message if isinstance(err, PackScriptError) else f"{type(err).__name__}: {message}"
    )


def _why_not_covered(
    lines: Sequence[tuple[str, int]], stock: Mapping[str, int]
) -> tuple[int, ReasonData]:
    """The careful look at an order the quick one could not cover: `SHORT`/`SKIPPED` and why.

    Raises PackScriptError on a negative stock: more is reserved than is on hand.
    """
    if not lines:
        return SKIPPED, (NoLines.kind,)
    need: dict[str, int] = {}
    for sku, qty in lines:
        if qty <= 0:
            return SKIPPED, (QuantityBelowOne.kind, sku)
        need[sku] = need.get(sku, 0) + qty
    for sku, qty in need.items():
        have = stock.get(sku)
        if have is None:
            return SHORT, (NoStockRecord.kind, sku)
        if have < 0:
            raise PackScriptError(NegativeStock(sku, have))
        if have < qty:
            return SHORT, (ShortOfStock.kind, sku, qty, have)
    raise PackScriptError(Message(f"the lines of this order can't be checked: {list(lines)!r}"))


def reserved_by(moves: Iterable[Candidate]) -> dict[str, int]:
    """The stock the given moves reserve together, per SKU."""
    total: dict[str, int] = {}
    for move in moves:
        for sku, qty in move[3]:
            total[sku] = total.get(sku, 0) + qty
    return total


def describe(step: Step) -> str:
    """A step as one line for a person (the CLI's --trace and the Tools page)."""
    who = f"order {step.order_id}" if step.order_id is not None else "run"
    mark = "ok" if step.ok else ("STOP" if step.check == "error" else "no")
    detail = f" — {step.detail}" if step.detail else ""
    return f"{who}: {step.check} {mark}{detail}"
