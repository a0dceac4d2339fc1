"""The orders pages (R2–R5): the searchable order list and one order with everything about it.

The list's query lives in the URL (short names, see `FIELDS`), so a search can be shared,
bookmarked and gone back to; htmx swaps only the results and pushes the URL. Bad criteria get
the form again with what is wrong (400). The order page changes waiting, own status and the
contents through services/orders.py; each control core refuses is shown disabled with core's
reason beside it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from stationd.core.audit import (
    AuditEvent,
    DocumentQueued,
    ItemPacked,
    ItemUnpacked,
    JobDropped,
    JobHeld,
    JobReleased,
    JobReprinted,
    LabelsPrinted,
    LineAdded,
    LineQuantityChanged,
    LineRemoved,
    OrderImportUpdated,
    OwnStatusSet,
    Packed,
    PackedPartial,
    PackScriptMoved,
    ParcelBooked,
    ParcelIdAdded,
    ParcelIdRemoved,
    ParcelStarted,
    PartialDelivery,
    Shipped,
    WaitingSet,
)
from stationd.core.barcodes import CodeKind, classify
from stationd.core.numbers import MAX_SMALL_ID, whole_number
from stationd.core.orders import MAX_LINE_QUANTITY, OrderRuleError, OrderStatus
from stationd.core.search import OrderQuery, QueryError, parse_query, parse_yes_no
from stationd.events import Event, OrderChanged
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.i18n import ngettext, translate, translate_error
from stationd.kiosk.layout import is_htmx
from stationd.kiosk.stream import live_stream, sse
from stationd.services.orders import NoSuchOrder, OrderEditor
from stationd.store.audit import stored_kind
from stationd.store.reads.orders import (
    found_orders,
    order_exists,
    order_known,
    order_view,
    own_statuses,
)
from stationd.store.search import COUNT_CAP, OrderPage

bp = Blueprint("orders", __name__)

#: The list's URL parameters and the search criteria they carry.
FIELDS = {
    "q": "text",
    "from": "placed_from",
    "to": "placed_to",
    "status": "status",
    "own": "own_status_id",
    "payment": "payment_method",
    "min": "value_min_minor",
    "max": "value_max_minor",
    "comment": "has_comment",
    "waiting": "waiting",
    "item": "sku_or_ean",
    "parcel": "tracking_id",
    "after": "after",
    "before": "before",
}
#: Orders on one page: a few screens of a touchscreen, and quick to draw.
PAGE_SIZE = 25
#: The parameters that only page through a list, not choose it.
PAGING = ("after", "before")
#: The scans and events an order page shows, newest first.
HISTORY_ROWS = 100


def status_names() -> dict[str, str]:
    return {
        OrderStatus.PREORDER: _("Preorder"),
        OrderStatus.ORDER: _("Order"),
        OrderStatus.PACKING: _("Packing"),
        OrderStatus.SHIPPED: _("Shipped"),
    }


def payment_names() -> dict[str, str]:
    return {
        "card": _("Card"),
        "invoice": _("Invoice"),
        "own_invoice": _("Own invoice"),
        "swish": "Swish",
        "vipps": "Vipps",
        "bank": _("Bank transfer"),
    }


def field_labels() -> dict[str, str]:
    """What each criterion is called on the form (for the sentences about it)."""
    return {
        "text": _("Search"),
        "placed_from": _("Placed from"),
        "placed_to": _("Placed to"),
        "status": _("Status"),
        "own_status_id": _("Own status"),
        "payment_method": _("Payment"),
        "value_min_minor": _("Value from"),
        "value_max_minor": _("Value to"),
        "has_comment": _("Comment"),
        "waiting": _("Waiting"),
        "sku_or_ean": _("SKU or EAN"),
        "tracking_id": _("Parcel id"),
        "after": _("Page"),
        "before": _("Page"),
    }


# --- the list --------------------------------------------------------------------------------


def _criteria() -> dict[str, str]:
    """The URL's criteria as typed, by URL name (unknown parameters are ignored)."""
    return {name: request.args.get(name, "")[:200] for name in FIELDS if request.args.get(name, "")}


def _url(criteria: dict[str, str], **changes: Any) -> str:
    params = {k: v for k, v in (criteria | changes).items() if v not in (None, "")}
    if request.args.get("extended") or changes.get("extended"):
        params.setdefault("extended", "1")
    return url_for("orders.page", **params)


@bp.get("/orders")
def page():  # type: ignore[no-untyped-def]
    """The order list (R4): search box, extended criteria, a page of orders."""
    criteria = _criteria()
    station = current_app.config["STATION"]
    problems: dict[str, str] = {}
    result: OrderPage | None = None
    query: OrderQuery | None = None
    try:
        query = parse_query(
            {FIELDS[name]: value for name, value in criteria.items()}
            | {"page_size": str(PAGE_SIZE)}
        )
    except QueryError as err:
        labels = field_labels()
        problems = {
            field: f"{labels.get(field, field)}: {translate(hint)}"
            for field, hint in err.problems.items()
        }
    if query is not None:
        scanned = classify(query.text) if query.text else None
        if (
            scanned is not None
            and scanned.kind is CodeKind.ORDER
            and not query.extended
            # A pick list scanned into the search box: open that order, as the bench would.
            and order_exists(station.store, scanned.order_id)
        ):
            return _go(url_for("orders.order", order_id=scanned.order_id))
        result = found_orders(station.store, query, station.settings.station.tz)
    context = _list_context(criteria, query, result, problems)
    status = 400 if problems else 200
    if is_htmx() and request.headers.get("HX-Target") == "orders-results":
        # orders.js swaps a 400 too: the sentences stand where the results would.
        return render_template("orders_results.html", **context), status
    return render_template("orders.html", **context), status


def _list_context(
    criteria: dict[str, str],
    query: OrderQuery | None,
    result: OrderPage | None,
    problems: dict[str, str],
) -> dict[str, Any]:
    station = current_app.config["STATION"]
    own = own_statuses(station.store)
    extended = bool(request.args.get("extended")) or (query is not None and query.extended)
    if problems and any(field not in ("text", "after", "before") for field in problems):
        extended = True
    chosen = {k: v for k, v in criteria.items() if k not in PAGING}
    return {
        "criteria": criteria,
        "result": result,
        "problems": problems,
        # The form's names of the fields the problems are about: marked where they were typed.
        "bad_fields": [name for name, field in FIELDS.items() if field in problems],
        "extended": extended,
        "own_statuses": own,
        "statuses": status_names(),
        "payments": payment_names(),
        "count_text": _count_text(result),
        "newer_url": _url(chosen, before=result.newer) if result and result.newer else None,
        "older_url": _url(chosen, after=result.older) if result and result.older else None,
        "newest_url": _url(chosen) if result and result.newer else None,
        "seq": time.monotonic_ns(),
        # Each row links its order: one url_for for the page, not one a row.
        "order_href": url_for("orders.order", order_id=0).removesuffix("0"),
        "toggle_url": url_for("orders.page", **chosen)
        if extended
        else url_for("orders.page", extended="1", **chosen),
    }


def _count_text(result: OrderPage | None) -> str:
    if result is None:
        return ""
    if result.total is None:
        return _("More than {num} orders match", num=len(result.rows))
    if result.more:
        return _("More than {num} orders match", num=COUNT_CAP)
    return ngettext("{num} order matches", "{num} orders match", result.total)


def _go(url: str) -> Response:
    """To another page: htmx follows the header, a plain request the redirect."""
    if is_htmx():
        response = Response(status=200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)


# --- one order -------------------------------------------------------------------------------


def _editor() -> OrderEditor:
    station = current_app.config["STATION"]
    return OrderEditor(station.store, station.bus, station.settings.station.name)


def _order_context(order_id: int) -> dict[str, Any]:
    station = current_app.config["STATION"]
    view = order_view(station.store, order_id, history_rows=HISTORY_ROWS)
    if view is None:
        abort(404, _("There is no order {id}.", id=order_id))
    order, header, deliveries = view.order, view.header, view.deliveries
    scans, history, own = view.scans, view.history, view.own_statuses
    lines_by_id = {line.id: line for line in order.lines}
    return {
        "order": order,
        "header": header,
        "deliveries": deliveries,
        "lines_by_id": lines_by_id,
        "scans": scans,
        "history": [(row, describe_event(row.event, lines_by_id)) for row in history],
        "own_statuses": own,
        "statuses": status_names(),
        "payments": payment_names(),
        "edit_refusal": order.edit_refusal(),
        "add_refusal": order.add_refusal(),
        "waiting_refusal": order.waiting_refusal(),
        "max_quantity": MAX_LINE_QUANTITY,
    }


def _render_order(order_id: int, *, outcome: dict | None = None, code: int = 200) -> Any:
    context = _order_context(order_id) | {"outcome": outcome}
    if is_htmx() and request.headers.get("HX-Target") == "order":
        return render_template("order_body.html", **context), code
    return render_template("order.html", **context), code


@bp.get("/orders/<int:order_id>")
def order(order_id: int):  # type: ignore[no-untyped-def]
    """One order: header, lines, deliveries, scans and the audit trail."""
    return _render_order(order_id)


@bp.get("/orders/<int:order_id>/events")
def order_events_stream(order_id: int):  # type: ignore[no-untyped-def]
    """The order drawn again whenever it changes elsewhere (a scan at the bench, ship-out)."""
    if not order_known(current_app.config["STATION"].store, order_id):
        abort(404, _("There is no order {id}.", id=order_id))

    def messages(event: Event | None) -> Iterator[str]:
        if isinstance(event, OrderChanged) and event.order_id == order_id:
            yield sse("order", render_template("order_body.html", **_order_context(order_id)))

    return live_stream((OrderChanged,), messages)


def _changed(order_id: int, message: str) -> Any:
    """The answer to a change that was made: the order again, with the sentence and a sound."""
    outcome = {"ok": True, "message": message, "seq": time.monotonic_ns()}
    if is_htmx():
        return _render_order(order_id, outcome=outcome)
    return redirect(url_for("orders.order", order_id=order_id), code=303)


def _refused(order_id: int, err: OrderRuleError) -> Any:
    if isinstance(err, NoSuchOrder):
        abort(404, translate_error(err))
    message = translate_error(err)
    if is_htmx():
        abort(409, message)
    outcome = {"ok": False, "message": message, "seq": time.monotonic_ns()}
    return _render_order(order_id, outcome=outcome, code=409)


def _whole_number(name: str, label: str) -> int:
    number = whole_number(request.form.get(name), hi=9_999_999)
    if number is None:
        abort(400, _("{label}: write a whole number, like 2.", label=label))
    return number


@bp.post("/orders/<int:order_id>/waiting")
def set_waiting(order_id: int):  # type: ignore[no-untyped-def]
    """R3: the waiting checkbox (sent as `waiting=1`, or without it when cleared)."""
    sent = request.form.get("waiting", "").strip()
    try:
        waiting = parse_yes_no(sent) if sent else False  # an unticked box sends nothing
    except ValueError:
        abort(400, _("The waiting box is ticked or not: reload the page."))
    try:
        _editor().set_waiting(order_id, waiting)
    except OrderRuleError as err:
        return _refused(order_id, err)
    if waiting:
        message = _("Order {id} is waiting: it stays out of the outbound queue.", id=order_id)
    else:
        message = _("Order {id} is no longer waiting.", id=order_id)
    return _changed(order_id, message)


@bp.post("/orders/<int:order_id>/own-status")
def set_own_status(order_id: int):  # type: ignore[no-untyped-def]
    """R5: choose the order's own status (an empty choice takes it off)."""
    raw = request.form.get("own_status", "").strip()
    own_status_id = whole_number(raw, lo=1, hi=MAX_SMALL_ID)
    if raw and own_status_id is None:
        abort(400, _("Choose an own status from the list."))
    try:
        _editor().set_own_status(order_id, own_status_id)
    except OrderRuleError as err:
        return _refused(order_id, err)
    return _changed(order_id, _("Own status saved."))


@bp.post("/orders/<int:order_id>/lines/<int(signed=True):line_id>/quantity")
def set_quantity(order_id: int, line_id: int):  # type: ignore[no-untyped-def]
    """R2: a line's new quantity."""
    quantity = _whole_number("quantity", _("Quantity"))
    try:
        order = _editor().set_quantity(order_id, line_id, quantity)
    except OrderRuleError as err:
        return _refused(order_id, err)
    sku = order.line(line_id).sku
    return _changed(order_id, _("{sku}: quantity {num} saved.", sku=sku, num=quantity))


@bp.post("/orders/<int:order_id>/lines/<int(signed=True):line_id>/remove")
def remove_line(order_id: int, line_id: int):  # type: ignore[no-untyped-def]
    """R2: take a line off the order."""
    try:
        _editor().remove_line(order_id, line_id)
    except OrderRuleError as err:
        return _refused(order_id, err)
    return _changed(order_id, _("The line was removed."))


@bp.post("/orders/<int:order_id>/lines")
def add_line(order_id: int):  # type: ignore[no-untyped-def]
    """R2: add a line by SKU or EAN (typed, or scanned into the field)."""
    code = request.form.get("code", "").strip()
    if not code or len(code) > 40:
        abort(400, _("Type or scan the product's SKU or EAN (at most 40 characters)."))
    quantity = _whole_number("quantity", _("Quantity"))
    try:
        order = _editor().add_line(order_id, code, quantity)
    except OrderRuleError as err:
        return _refused(order_id, err)
    sku = order.lines[-1].sku
    return _changed(order_id, _("{sku} × {num} added.", sku=sku, num=quantity))


# --- the audit trail in words ----------------------------------------------------------------


def describe_event(event: AuditEvent, lines: dict[int | None, Any]) -> str:
    """One typed audit event as a sentence for the order page, in the packer's language
    (a kind this version does not know: its kind and fields)."""
    documents = {
        "picklist": _("Pick list"),
        "receipt": _("Receipt"),
        "picklist_receipt": _("Pick list + receipt"),
        "invoice": _("Invoice"),
    }
    match event:
        case WaitingSet(waiting=True):
            return _("Set waiting: kept out of the outbound queue.")
        case WaitingSet():
            return _("Waiting cleared.")
        case OwnStatusSet(own_status_id=None):
            return _("Own status taken off.")
        case OwnStatusSet(code=code, name=name):
            return _("Own status set to {code} ({name}).", code=code, name=name)
        case LineQuantityChanged(sku=sku, old=old, new=new, released=released):
            text = _("Quantity of {sku} changed from {old} to {new}.", sku=sku, old=old, new=new)
            if released:
                text += " " + _("{num} back in stock.", num=released)
            return text
        case LineRemoved(sku=sku, quantity=quantity):
            return _("Line {sku} × {num} removed.", sku=sku, num=quantity)
        case LineAdded(sku=sku, quantity=quantity):
            return _("Line {sku} × {num} added.", sku=sku, num=quantity)
        case PackScriptMoved(run=run):
            return _("Moved to packing by pack-script run {run}.", run=run)
        case OrderImportUpdated(shop=shop, ref=ref):
            return _("The shop's changed order taken in ({shop}, {ref}).", shop=shop, ref=ref)
        case ItemPacked(line_id=line_id, code=code, how=how):
            hows = {"item": _("scanned"), "touch": _("by touch")}
            item = _item(lines, line_id, code)
            return _("{item} packed ({how}).", item=item, how=hows.get(how, how))
        case ItemUnpacked(line_id=line_id, code=code):
            return _("{item} taken out of the parcel.", item=_item(lines, line_id, code))
        case ParcelStarted(parcels=parcels):
            return _("Parcel {num} started.", num=parcels)
        case PackedPartial():
            return _("Packed in part, for a partial delivery.")
        case Packed():
            return _("Packed: ready for ship-out.")
        case ParcelIdAdded(parcel_id=parcel_id):
            return _("Parcel id {id} added.", id=parcel_id)
        case ParcelIdRemoved(parcel_id=parcel_id):
            return _("Parcel id {id} taken off.", id=parcel_id)
        case LabelsPrinted(parcel_ids=ids):
            return _("Shipping labels printed ({ids}).", ids=", ".join(ids))
        case ParcelBooked(parcel_id=parcel_id, broker=carrier):
            return _("Parcel id {id} fetched from {carrier}.", id=parcel_id, carrier=carrier)
        case PartialDelivery(parcel_ids=ids):
            return _("Partial delivery reported in ({ids}).", ids=", ".join(ids))
        case Shipped(parcel_ids=ids):
            return _("Reported in and shipped ({ids}).", ids=", ".join(ids))
        case DocumentQueued(document=document, printer=printer):
            name = documents.get(document, document)
            return _("{document} sent to printer {printer}.", document=name, printer=printer)
        case JobReprinted(job_id=job):
            return _("Print job {job} printed again.", job=job)
        case JobHeld(job_id=job):
            return _("Print job {job} held.", job=job)
        case JobReleased(job_id=job):
            return _("Print job {job} released.", job=job)
        case JobDropped(job_id=job):
            return _("Print job {job} dropped.", job=job)
    kind = stored_kind(event)
    details = ", ".join(f"{key}: {value}" for key, value in event.payload().items())
    return f"{kind} ({details})" if details else kind


def _item(lines: dict[int | None, Any], line_id: int, code: str) -> str:
    line = lines.get(line_id)
    return line.sku if line is not None else code
