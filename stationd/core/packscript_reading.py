"""Reading a pack-script trace for a person (R8): what became of each order, a page of it, and
the answer to the admin's question "why is order N not packing yet?".

`TraceIndex` folds a run's steps (as `core.packscript` makes them and the store unfolds them)
back into one outcome per order, so a trace of 100,000 orders can be filtered and paged without
keeping 300,000 step objects. `why_not_packing` combines the order's state now with what the
latest run decided about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from stationd.core.packscript import MOVED, SHORT, SKIPPED, STOPPED, UNPAID, Step, order_steps
from stationd.core.packscript_reasons import Decided

__all__ = [
    "OUTCOME_FILTERS",
    "Answer",
    "Outcome",
    "RunFacts",
    "TraceIndex",
    "TracePage",
    "Why",
    "decision_outcome",
    "why_not_packing",
]


class Outcome(StrEnum):
    """What a run made of one order."""

    MOVED = "moved"
    UNPAID = "unpaid"
    SHORT = "short"
    SKIPPED = "skipped"
    STOPPED = "stopped"


_BY_CODE = {
    MOVED: Outcome.MOVED,
    UNPAID: Outcome.UNPAID,
    SHORT: Outcome.SHORT,
    SKIPPED: Outcome.SKIPPED,
    STOPPED: Outcome.STOPPED,
}
_CODE = {outcome: code for code, outcome in _BY_CODE.items()}
# The decision step of each outcome in a trace stored as JSON lines by an early version, where
# the detail came back as the pack script's words only: the words are its own.
_DECISIONS = {
    order_steps(0, code)[-1].detail: outcome
    for code, outcome in _BY_CODE.items()
    if code != STOPPED
}

#: The trace filters a person can choose: a name → the outcomes it shows.
OUTCOME_FILTERS: dict[str, frozenset[Outcome]] = {
    "all": frozenset(Outcome),
    "not_moved": frozenset(Outcome) - {Outcome.MOVED},
    **{o.value: frozenset({o}) for o in Outcome},
}


def decision_outcome(step: Step) -> Outcome | None:
    """The outcome a decision step stands for (None for any other step)."""
    if step.check != "decision":
        return None
    if isinstance(step.detail, Decided):
        return Outcome(step.detail.outcome)
    return Outcome.MOVED if step.ok else _DECISIONS.get(step.detail, Outcome.SKIPPED)


@dataclass(frozen=True, slots=True)
class TracePage:
    """One page of a filtered trace: the steps of its orders (and the stop, on the last page)."""

    steps: list[Step]
    orders: int  # orders on this page
    matching: int  # orders matching the filter, over all pages
    page: int
    pages: int


class TraceIndex:
    """One outcome per order of a run's trace, in the order the run looked at them."""

    __slots__ = ("_position", "order_ids", "outcomes", "reasons", "stopped")

    def __init__(self, steps: Iterable[Step]) -> None:
        self.order_ids: list[int] = []
        self.outcomes = bytearray()
        self.reasons: dict[int, str] = {}  # position → why the order waits or was skipped
        self.stopped: Step | None = None
        self._position: dict[int, int] | None = None
        reason = ""
        for step in steps:
            check = step.check
            if check == "decision":
                outcome = decision_outcome(step)
                if reason:
                    self.reasons[len(self.outcomes)] = reason
                    reason = ""
                self.order_ids.append(step.order_id)  # type: ignore[arg-type]
                self.outcomes.append(_CODE[outcome])  # type: ignore[index]
            elif check == "stock" and not step.ok:
                reason = step.detail
            elif check == "error":
                self.stopped = step
                # It stopped while looking at this order (it had not decided it yet).
                if step.order_id is not None and (
                    not self.order_ids or self.order_ids[-1] != step.order_id
                ):
                    self.order_ids.append(step.order_id)
                    self.outcomes.append(STOPPED)

    def __len__(self) -> int:
        return len(self.order_ids)

    def count(self, outcome: Outcome) -> int:
        return self.outcomes.count(_CODE[outcome])

    def find(self, order_id: int) -> tuple[Outcome, str] | None:
        """What the run made of `order_id` and why, or None if it never looked at it."""
        n = self._position_of(order_id)
        if n is None:
            return None
        return _BY_CODE[self.outcomes[n]], self.reasons.get(n, "")

    def _position_of(self, order_id: int) -> int | None:
        if self._position is None:
            self._position = {oid: n for n, oid in enumerate(self.order_ids)}
        return self._position.get(order_id)

    def steps_at(self, positions: Sequence[int]) -> Iterator[Step]:
        for n in positions:
            yield from order_steps(self.order_ids[n], self.outcomes[n], self.reasons.get(n, ""))

    def page(
        self,
        *,
        outcomes: frozenset[Outcome] = OUTCOME_FILTERS["all"],
        order_id: int | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> TracePage:
        """The orders that match, `per_page` at a time, as steps; the stop ends the last page.

        `page` beyond the last gives the last page.
        """
        positions: Sequence[int]
        if order_id is not None:
            n = self._position_of(order_id)
            positions = [n] if n is not None and _BY_CODE[self.outcomes[n]] in outcomes else []
        elif outcomes == OUTCOME_FILTERS["all"]:
            positions = range(len(self.order_ids))
        else:
            wanted = {_CODE[o] for o in outcomes}
            positions = [n for n, code in enumerate(self.outcomes) if code in wanted]
        matching = len(positions)
        pages = max(1, -(-matching // per_page))
        page = min(max(1, page), pages)
        chosen = positions[(page - 1) * per_page : page * per_page]
        steps = list(self.steps_at(chosen))
        stop = self.stopped
        if stop is not None and page == pages and order_id in (None, stop.order_id):
            steps.append(stop)
        return TracePage(steps, len(chosen), matching, page, pages)


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the answer needs of the latest run."""

    id: int
    started_at: datetime
    status: str  # ok | stopped | failed
    error: str | None = None
    stopped_order_id: int | None = None


class Why(StrEnum):
    """The answers to "why is order N not packing?"."""

    NO_ORDER = "no_order"
    PREORDER = "preorder"
    SHIPPED = "shipped"
    PACKING = "packing"  # it is packing: in the outbound queue
    PACKING_WAITING = "packing_waiting"  # packing, but waiting keeps it out of the queue
    NO_RUN = "no_run"  # the pack script has never run
    UNPAID = "unpaid"
    SHORT = "short"
    SKIPPED = "skipped"
    STOPPED_AT = "stopped_at"  # the latest run stopped on this very order
    STOPPED_BEFORE = "stopped_before"  # … stopped before it got to this order
    RUN_FAILED = "run_failed"  # the latest run failed as a whole: nothing moved
    NOT_SEEN = "not_seen"  # came (back) to `order` after the latest run
    MOVED_SINCE_CHANGED = "moved_since_changed"  # moved by the run, back to `order` since


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer, as a kind and its facts; the kiosk words it in the reader's language."""

    why: Why
    order_id: int
    run: RunFacts | None = None
    reason: str = ""  # the trace's reason (short of stock, …) or the run's error
    waiting: bool = False  # the order is also marked waiting (R3)
    moved_by_run: int | None = None


def why_not_packing(
    order_id: int,
    *,
    status: str | None,
    waiting: bool = False,
    moved_by_run: int | None = None,
    run: RunFacts | None = None,
    found: tuple[Outcome, str] | None = None,
) -> Answer:
    """Why order `order_id` is (not) packing, from its `status` now and the latest `run`.

    `found` is what that run's trace says of the order (see `TraceIndex.find`), None if the
    run never looked at it. A preorder is never packed (R1); an order is packed once the pack
    script has found it paid and every line in stock (R6, R7); a waiting order stays out of
    the outbound queue (R3).
    """
    if status is None:
        return Answer(Why.NO_ORDER, order_id)
    if status == "preorder":
        return Answer(Why.PREORDER, order_id)
    if status == "shipped":
        return Answer(Why.SHIPPED, order_id)
    if status == "packing":
        why = Why.PACKING_WAITING if waiting else Why.PACKING
        return Answer(why, order_id, waiting=waiting, moved_by_run=moved_by_run)
    if run is None:
        return Answer(Why.NO_RUN, order_id, waiting=waiting)
    if run.status == "failed":  # nothing it decided was kept
        return Answer(Why.RUN_FAILED, order_id, run, run.error or "", waiting)
    if found is not None:
        outcome, reason = found
        if outcome is Outcome.STOPPED:
            return Answer(Why.STOPPED_AT, order_id, run, run.error or "", waiting)
        if outcome is Outcome.MOVED:
            return Answer(Why.MOVED_SINCE_CHANGED, order_id, run, waiting=waiting)
        why = {Outcome.UNPAID: Why.UNPAID, Outcome.SHORT: Why.SHORT}.get(outcome, Why.SKIPPED)
        return Answer(why, order_id, run, reason, waiting)
    if run.status == "stopped":
        return Answer(Why.STOPPED_BEFORE, order_id, run, run.error or "", waiting)
    return Answer(Why.NOT_SEEN, order_id, run, waiting=waiting)
