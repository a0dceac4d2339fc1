"""The pack script (SPEC R6–R8): which paid, fully stocked orders move to packing.

A pure function over values: it takes the open orders and the available stock and returns the
moves, the stock each move reserves, and a trace of every step. The store loads the inputs and
writes the outcome in one transaction, under a lock, so stock is never reserved twice (R7, R17).

Built for 100,000 orders a run: candidates and steps are tuples, and a step's text is only put
together where a person will read it (`describe`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class PackCandidate(NamedTuple):
    """An order in state `order`, as the pack script sees it. `placed_at` only needs to sort."""

    order_id: int
    placed_at: Any
    paid: bool
    lines: tuple[tuple[str, int], ...]  # (SKU, quantity)


class Step(NamedTuple):
    """One step of the trace: which order, which check, did it pass, and why (R8)."""

    order_id: int | None
    check: str  # "paid", "stock", "decision", "error"
    ok: bool
    detail: str = ""


class Move(NamedTuple):
    """An order that goes to packing and the stock it reserves."""

    order_id: int
    reserve: tuple[tuple[str, int], ...]  # (SKU, quantity), one entry per SKU


class PackScriptError(Exception):
    """Data the pack script can't safely go on with; the run stops where it met it."""


@dataclass
class PackResult:
    moves: list[Move] = field(default_factory=list)
    trace: list[Step] = field(default_factory=list)
    looked_at: int = 0
    unpaid: int = 0
    short: int = 0
    skipped: int = 0
    stopped: Step | None = None
    reserved: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.stopped is None

    def summary(self) -> str:
        text = (
            f"{self.looked_at} orders looked at: {len(self.moves)} to packing, "
            f"{self.unpaid} not paid, {self.short} short of stock, {self.skipped} with errors"
        )
        if self.stopped is not None:
            where = f"order {self.stopped.order_id}" if self.stopped.order_id else "the start"
            text += f"; stopped at {where}: {self.stopped.detail}"
        return text


StepListener = Callable[[Step], None]


def run_pack_script(
    candidates: Iterable[PackCandidate],
    available: Mapping[str, int],
    on_step: StepListener | None = None,
) -> PackResult:
    """Decide the moves of one pack-script run.

    `available` is stock on hand minus what is already reserved, per SKU. Orders are served
    oldest first (by `placed_at`, then id); an order whose every line is covered reserves it,
    one that can't be covered reserves nothing and waits for the next run (R7). A negative
    available stock is corrupt data: the run stops there, keeping the moves decided before
    it, and the trace says where and why (R8). `on_step` sees each step as it is decided, for
    a manual run that shows the script at work.
    """
    result = PackResult()
    trace = result.trace
    moves = result.moves
    if on_step is None:
        emit = trace.append
    else:

        def emit(step: Step) -> None:
            trace.append(step)
            on_step(step)

    stock = dict(available)
    order_id: int | None = None
    try:
        ordered = sorted(candidates, key=lambda c: (c.placed_at, c.order_id))
        for order_id, _placed, paid, lines in ordered:
            result.looked_at += 1
            if not paid:
                result.unpaid += 1
                emit(Step(order_id, "paid", False, "not paid yet"))
                emit(Step(order_id, "decision", False, "waits: not paid"))
                continue
            emit(Step(order_id, "paid", True))
            need = _needs(order_id, lines)
            if need is None:
                result.skipped += 1
                emit(Step(order_id, "stock", False, _bad_lines(lines)))
                emit(Step(order_id, "decision", False, "skipped: order lines need fixing"))
                continue
            shortage = None
            for sku, qty in need:
                have = stock.get(sku)
                if have is None:
                    shortage = f"SKU {sku} has no stock record"
                    break
                if have < 0:
                    raise PackScriptError(
                        f"stock of SKU {sku} is negative ({have}): more is reserved than is on hand"
                    )
                if have < qty:
                    shortage = f"SKU {sku}: needs {qty}, {have} available"
                    break
            if shortage is not None:
                result.short += 1
                emit(Step(order_id, "stock", False, shortage))
                emit(Step(order_id, "decision", False, "waits: short of stock, reserves nothing"))
                continue
            for sku, qty in need:
                stock[sku] -= qty
            moves.append(Move(order_id, need))
            emit(Step(order_id, "stock", True, f"{len(need)} SKU(s) covered"))
            emit(Step(order_id, "decision", True, "to packing"))
    except Exception as err:  # the stop R8 describes: where, and the message
        message = str(err) or type(err).__name__
        if not isinstance(err, PackScriptError):
            message = f"{type(err).__name__}: {message}"
        result.stopped = Step(order_id, "error", False, message)
        emit(result.stopped)
    reserved = result.reserved
    for move in moves:
        for sku, qty in move.reserve:
            reserved[sku] = reserved.get(sku, 0) + qty
    return result


def _needs(order_id: int, lines: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...] | None:
    """The order's demand per SKU, or None when a line can't be served as it stands."""
    if not lines:
        return None
    if len(lines) == 1:
        sku, qty = lines[0]
        return lines if qty > 0 else None
    total: dict[str, int] = {}
    for sku, qty in lines:
        if qty <= 0:
            return None
        total[sku] = total.get(sku, 0) + qty
    return tuple(total.items())


def _bad_lines(lines: tuple[tuple[str, int], ...]) -> str:
    if not lines:
        return "the order has no lines"
    bad = next(sku for sku, qty in lines if qty <= 0)
    return f"SKU {bad} has a quantity below 1"


def describe(step: Step) -> str:
    """A step as one line for a person (the CLI's --trace and the Tools page)."""
    who = f"order {step.order_id}" if step.order_id is not None else "run"
    mark = "ok" if step.ok else ("STOP" if step.check == "error" else "no")
    detail = f" — {step.detail}" if step.detail else ""
    return f"{who}: {step.check} {mark}{detail}"
