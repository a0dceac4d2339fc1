"""The outbound queue (R9, R10): orders in packing that are not waiting, oldest first.

A person selects orders and prints a pick list, a receipt, both, or (one own-invoice order at a
time) an invoice. The selection lives in the browser (queue.js) so that a live redraw of the
rows — the pack script moved orders in, an order was shipped — does not lose it; the server
says after each change which documents the selection can print and why not (`actions`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, abort, current_app, render_template, request

from stationd.core.numbers import whole_number
from stationd.core.orders import Document, OrderRuleError, ReprintNeedsConfirmation
from stationd.events import Event, OrderChanged
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.i18n import translate_error
from stationd.kiosk.layout import is_htmx
from stationd.kiosk.numbers import page_number
from stationd.kiosk.stream import live_stream, sse
from stationd.services.documents import PrintChoices, print_choices, print_orders
from stationd.services.printing import PrintJobChanged
from stationd.store.reads.outbound_queue import outbound_queue_changes, outbound_queue_page

bp = Blueprint("queue", __name__)

PAGE_SIZE = 100
#: More orders than the queue shows on ten pages is no selection a person made.
MAX_SELECTED = 10 * PAGE_SIZE
#: How often a live queue looks whether the database changed without an event saying so (the
#: pack script of another process or station, a sync): quick enough to feel live, one small
#: indexed query per open screen.
RECHECK_S = 2.0
#: The buttons, in the order they stand.
DOCUMENTS = (Document.PICKLIST, Document.RECEIPT, Document.PICKLIST_RECEIPT, Document.INVOICE)


def rows_context(page_arg: str | None) -> dict:
    """The rows of one page of the queue, with the documents printed or waiting at a printer."""
    store = current_app.config["STATION"].store
    shown = outbound_queue_page(
        store, size=PAGE_SIZE, choose=lambda pages: page_number(page_arg, pages)
    )
    return {
        "rows": shown.rows,
        "waiting": {order_id: {d.value for d in docs} for order_id, docs in shown.waiting.items()},
        "total": shown.total,
        "page": shown.page,
        "pages": shown.pages,
    }


def selected_ids() -> list[int]:
    """The order numbers of the request's `order` fields; 400 for anything else."""
    values = request.values.getlist("order")
    if len(values) > MAX_SELECTED:
        abort(400, _("Select at most {num} orders at a time.", num=MAX_SELECTED))
    ids = []
    for value in values:
        order_id = whole_number(value, lo=1)
        if order_id is None:
            abort(400, _("“{value}” is not an order number.", value=value.strip()[:40]))
        ids.append(order_id)
    return ids


def actions_context(choices: PrintChoices | None) -> dict:
    return {"choices": choices, "documents": DOCUMENTS}


@bp.get("/queue")
def page():  # type: ignore[no-untyped-def]
    return render_template(
        "queue.html", **rows_context(request.args.get("page")), **actions_context(None)
    )


@bp.get("/queue/actions")
def actions():  # type: ignore[no-untyped-def]
    """The function buttons for the selected orders: each enabled, or disabled with why."""
    ids = selected_ids()
    choices = print_choices(current_app.config["STATION"].store, ids) if ids else None
    return render_template("queue_actions.html", **actions_context(choices))


@bp.post("/queue/print")
def print_documents():  # type: ignore[no-untyped-def]
    """Print one document for the selected orders (R9); a second copy needs `confirm` (R10)."""
    raw = request.form.get("document", "")
    try:
        document = Document(raw)
    except ValueError:
        abort(400, _("“{value}” is not a document the queue prints.", value=raw[:40]))
    ids = selected_ids()
    if not ids:
        abort(400, _("Select at least one order."))
    station = current_app.config["STATION"]
    outcome: dict = {"seq": time.monotonic_ns(), "document": document.value}
    try:
        jobs = print_orders(
            station.store,
            station.printing,
            station.paperwork,
            ids,
            document,
            confirm_reprint=request.form.get("confirm") == "1",
        )
    except ReprintNeedsConfirmation as err:
        outcome |= {
            "confirm": True,
            "orders": ids,
            "repeats": {
                order_id: [d.value for d in docs] for order_id, docs in err.repeats.items()
            },
        }
    except OrderRuleError as err:
        abort(409, translate_error(err))
    else:
        outcome |= {"jobs": len(jobs), "printer": station.printing.printer_for(document.value)}
    if is_htmx():
        return render_template("queue_outcome.html", outcome=outcome)
    # A plain form (no script): the whole page again, the outcome on top.
    choices = print_choices(station.store, ids)
    return render_template(
        "queue.html",
        outcome=outcome,
        **rows_context(request.form.get("page")),
        **actions_context(choices),
    )


@bp.get("/queue/events")
def events():  # type: ignore[no-untyped-def]
    """The rows of the page being looked at, drawn again whenever the queue changed."""
    page_arg = request.args.get("page")
    store = current_app.config["STATION"].store

    def mark() -> tuple[object, ...]:
        # Jobs waiting at a printer show in the rows too.
        return outbound_queue_changes(store)

    last = [mark()]

    def messages(_event: Event | None) -> Iterator[str]:
        now = mark()
        if now != last[0]:
            last[0] = now
            html = render_template("queue_rows.html", oob=True, **rows_context(page_arg))
            yield sse("rows", html)

    return live_stream((OrderChanged, PrintJobChanged), messages, recheck_s=RECHECK_S)
