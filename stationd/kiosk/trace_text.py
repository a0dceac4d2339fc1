"""Pack-script steps and answers as sentences in the reader's language (R8, the Tools page).

The pack script words its steps in English for its log and the CLI, and carries each reason
typed beside the words (core.packscript_reasons); here each kind of reason becomes a
translatable sentence with its facts (SKU, quantities) filled in. A reason known only by its
words (a program error, a trace stored by an earlier version) is shown as it was given, so
nothing is ever hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

from stationd.core.packscript import Step
from stationd.core.packscript_reading import Answer, Outcome, Why, decision_outcome
from stationd.core.packscript_reasons import (
    NegativeStock,
    NoLines,
    NoStockRecord,
    QuantityBelowOne,
    ShortOfStock,
    StoppedByHand,
)
from stationd.kiosk.i18n import gettext as _


def reason_text(reason: str) -> str:
    """A reason or error of the pack script (a typed `Reason`) as a sentence in the reader's
    language, from its facts; one known only by its words is shown as it was given."""
    match reason:
        case ShortOfStock(sku=sku, need=need, have=have):
            return _(
                "SKU {sku} is short: the order needs {need}, {have} available.",
                sku=sku,
                need=need,
                have=have,
            )
        case NoStockRecord(sku=sku):
            return _("SKU {sku} has no stock record.", sku=sku)
        case QuantityBelowOne(sku=sku):
            return _("SKU {sku} has a quantity below 1.", sku=sku)
        case NoLines():
            return _("The order has no lines.")
        case NegativeStock(sku=sku, have=have):
            return _(
                "The stock of SKU {sku} is negative ({have}): more is reserved than is on hand.",
                sku=sku,
                have=have,
            )
    return str(reason)


@dataclass(frozen=True, slots=True)
class StepLine:
    """One step as the page shows it: the order, what was checked, a mark and a sentence."""

    order_id: int | None
    check: str  # the check, translated
    mark: str  # "ok" | "no" | "stop" (a CSS class)
    text: str


def step_line(step: Step) -> StepLine:
    order = step.order_id
    if step.check == "paid":
        text = _("Paid.") if step.ok else _("Not paid yet.")
        return StepLine(order, _("Paid?"), "ok" if step.ok else "no", text)
    if step.check == "stock":
        text = _("Every line is in stock.") if step.ok else reason_text(step.detail)
        return StepLine(order, _("Stock?"), "ok" if step.ok else "no", text)
    if step.check == "decision":
        text = {
            Outcome.MOVED: _("Moves to packing; its stock is reserved."),
            Outcome.UNPAID: _("Waits: not paid. Reserves nothing."),
            Outcome.SHORT: _("Waits for stock. Reserves nothing."),
            Outcome.SKIPPED: _("Skipped: its lines need fixing."),
        }.get(decision_outcome(step), step.detail)  # type: ignore[arg-type]
        return StepLine(order, _("Decision"), "ok" if step.ok else "no", text)
    if step.check == "error":
        if isinstance(step.detail, StoppedByHand):
            text = _(
                "Stopped from Tools. The orders moved before stay in packing; "
                "the next run does the rest."
            )
        elif order is None:
            text = _(
                "The run stopped before the first order: {error}", error=reason_text(step.detail)
            )
        else:
            text = _(
                "The run stopped at order {order}: {error}",
                order=order,
                error=reason_text(step.detail),
            )
        return StepLine(order, _("Stopped"), "stop", text)
    return StepLine(order, step.check, "ok" if step.ok else "no", step.detail)


def outcome_label(outcome: Outcome | str) -> str:
    return {
        Outcome.MOVED: _("Moved to packing"),
        Outcome.UNPAID: _("Not paid"),
        Outcome.SHORT: _("Short of stock"),
        Outcome.SKIPPED: _("Lines need fixing"),
        Outcome.STOPPED: _("Stopped here"),
    }.get(Outcome(outcome), str(outcome))


def answer_text(answer: Answer, interval_min: int) -> tuple[str, list[str]]:
    """The answer to "why is order N not packing?": a headline and the sentences after it."""
    n = answer.order_id
    run = answer.run
    more: list[str] = []
    next_run = (
        _(
            "The pack script runs by itself every {minutes} minutes; Run now runs it at once.",
            minutes=interval_min,
        )
        if interval_min
        else _("The pack script runs only by hand here: press Run now.")
    )
    why = answer.why
    if why is Why.NO_ORDER:
        return _("There is no order {order}.", order=n), more
    if why is Why.PREORDER:
        return _(
            "Order {order} is a preorder: checkout was never completed, so it is never packed.",
            order=n,
        ), more
    if why is Why.SHIPPED:
        return _("Order {order} is shipped already.", order=n), more
    if why is Why.PACKING:
        if answer.moved_by_run:
            more.append(_("Pack-script run {run} moved it to packing.", run=answer.moved_by_run))
        return _("Order {order} is packing: it is in the outbound queue.", order=n), more
    if why is Why.PACKING_WAITING:
        return _(
            "Order {order} is packing, but it is marked waiting: it stays out of the "
            "outbound queue until the flag is cleared.",
            order=n,
        ), more
    if answer.waiting:
        more.append(
            _(
                "It is also marked waiting: once packing, it stays out of the outbound "
                "queue until the flag is cleared."
            )
        )
    if why is Why.NO_RUN or run is None:
        return _(
            "The pack script has not run yet, so it has not looked at order {order}.", order=n
        ), [next_run, *more]
    if why is Why.UNPAID:
        headline = _(
            "Order {order} is not paid yet: the pack script moves only paid orders.", order=n
        )
        more.insert(0, _("Run {run} found it unpaid.", run=run.id))
    elif why is Why.SHORT:
        headline = _(
            "Order {order} waits for stock: {reason}", order=n, reason=reason_text(answer.reason)
        )
        more.insert(
            0,
            _(
                "Run {run} could not cover every line, so it reserved nothing; older "
                "orders are served first.",
                run=run.id,
            ),
        )
    elif why is Why.SKIPPED:
        headline = _(
            "Order {order} was skipped: {reason}", order=n, reason=reason_text(answer.reason)
        )
        more.insert(0, _("Fix the order's lines; the next run looks again."))
    elif why is Why.STOPPED_AT:
        headline = _(
            "Run {run} stopped on order {order}: {error}",
            run=run.id,
            order=n,
            error=reason_text(answer.reason),
        )
        more.insert(0, _("Until the cause is fixed every run stops there."))
    elif why is Why.STOPPED_BEFORE:
        headline = _(
            "Run {run} stopped at order {stop} before it came to order {order}: {error}",
            run=run.id,
            stop=run.stopped_order_id or "—",
            order=n,
            error=reason_text(answer.reason),
        )
    elif why is Why.RUN_FAILED:
        headline = _(
            "The latest run ({run}) failed and moved nothing: {error}",
            run=run.id,
            error=reason_text(answer.reason),
        )
    elif why is Why.MOVED_SINCE_CHANGED:
        headline = _(
            "Run {run} moved order {order} to packing, but it has been set back to order since.",
            run=run.id,
            order=n,
        )
    else:  # Why.NOT_SEEN
        headline = _(
            "The latest run ({run}) did not see order {order}: it came in or changed "
            "after that run.",
            run=run.id,
            order=n,
        )
    more.append(next_run)
    return headline, more
