"""The ship-out page (R13–R15): packed orders, their parcel ids, the partial-delivery form, and
one Report in for every filled row.

Parcel ids are typed (or typed by a keyboard-wedge scanner into the focused field), scanned
with a station scanner (at the bench with the order open they go on that order; with none open
the SSE stream hands them to the selected order in the browser), or fetched from the shipping
carrier. Each id is kept on the order's next delivery as soon as its field is left with a good
one, so the page is drawn from the database after a reload or a restart, and again whenever
the list changes (an order packed, shipped at another bench, a parcel id kept elsewhere). The
rules live in core and the use cases in services/; this module reads the form, calls them,
and draws the outcome.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

from babel.numbers import format_decimal
from flask import Blueprint, Response, abort, current_app, render_template, request

from stationd.carriers import CarrierError
from stationd.core.barcodes import CodeKind, classify
from stationd.core.deliveries import MAX_PARCEL_IDS
from stationd.core.numbers import whole_number
from stationd.core.orders import OrderRuleError
from stationd.core.weight import gross_weight_g
from stationd.devices.scales.scale import WeightRead
from stationd.events import Event, OrderChanged, ScanOutcome
from stationd.kiosk.i18n import LOCALES, request_language, translate, translate_error
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.layout import is_htmx
from stationd.kiosk.numbers import page_number
from stationd.kiosk.shipout_rows import (
    Posted,
    Row,
    Slot,
    _as_kept,
    _checked,
    _fresh_row,
    _number,
    _order_id,
    _posted,
    _row_from_post,
    _slots,
    _station,
)
from stationd.kiosk.stream import live_stream, sse
from stationd.services.report_in import DeliveryOutcome
from stationd.services.shipout import check_parcel_id_for, fetch_parcel_id, keep_typed_parcel_id
from stationd.store.reads.ship_out import (
    ShipOutChanges,
    kept_parcel_ids,
    order_with_kept_parcel_ids,
    ship_out_page,
)

bp = Blueprint("shipout", __name__)

PAGE_SIZE = 10
#: How often the live list looks for changes no event of this process announces (another
#: bench shipping an order from the central database).
RECHECK_S = 2.0

# --- the page --------------------------------------------------------------------------------


def _context(
    page: str | None,
    posted: dict[int, Posted] | None = None,
    outcomes: list[DeliveryOutcome] | None = None,
) -> dict:
    station = _station()
    by_order = {o.order_id: o for o in outcomes or []}
    shown = ship_out_page(station.store, size=PAGE_SIZE, choose=lambda n: page_number(page, n))
    orders, kept, total, page_no, pages = (
        shown.orders, shown.kept, shown.total, shown.page, shown.pages,
    )  # fmt: skip
    rows = []
    for order in orders:
        outcome = by_order.get(order.id)
        sent = (posted or {}).get(order.id)
        if sent is None or (outcome is not None and outcome.ok):
            rows.append(_fresh_row(order, kept[order.id]))
        else:
            rows.append(_row_from_post(order, sent, outcome, kept[order.id]))
    reading = station.scale.last_weight if station.scale is not None else None
    return {
        "rows": rows,
        "total": total,
        "page": page_no,
        "pages": pages,
        "outcomes": outcomes or [],
        "seq": secrets.token_hex(6),
        "carrier": station.carrier is not None,
        "has_scale": station.scale is not None,
        "scale_shown": _kg(_gross(reading)),
        "max_parcels": MAX_PARCEL_IDS,
    }


def _kg(grams: int | None) -> str:
    """A weight for the packer to read, in kilograms as the locale writes them."""
    if grams is None:
        return ""
    return format_decimal(grams / 1000, "#,##0.00", locale=LOCALES[request_language()]) + " kg"


def _gross(reading: WeightRead | None) -> int | None:
    if reading is None:
        return None
    return gross_weight_g(
        reading_g=reading.grams,
        stable=reading.stable,
        net=reading.net,
        box_tare_g=_station().settings.scale.box_tare_g,
    )


@bp.get("/shipout")
def page():  # type: ignore[no-untyped-def]
    template = "shipout_list.html" if is_htmx() else "shipout.html"
    chosen = request.args.get("order", "")
    # The bench's "To ship-out" names the order it packed: its card takes the scans.
    chosen_id = whole_number(chosen, lo=1)
    selected = str(chosen_id) if chosen_id is not None else ""
    return render_template(template, selected=selected, **_context(request.args.get("page")))


@bp.post("/shipout/report")
def report():  # type: ignore[no-untyped-def]
    """R15: report in every filled row, each order on its own; the outcome per order."""
    posted = _posted(request.form)
    filled = [p for p in posted.values() if p.filled]
    if not filled:
        abort(400, _("Type, scan or fetch a parcel id for at least one order, then report in."))
    outcomes = _station().report_in.report([p.request() for p in filled])
    context = _context(request.form.get("page"), posted, outcomes)
    template = "shipout_list.html" if is_htmx() else "shipout.html"
    status = 200 if any(o.ok for o in outcomes) else 422
    return render_template(template, **context), status


@bp.post("/shipout/check")
def check():  # type: ignore[no-untyped-def]
    """R13: one parcel-id field left: checked, and kept on the order's next delivery in place
    of what the field held before (`saved-<order>`); an emptied field (its ×) takes that off."""
    order_id = _order_id(request.form.get("check_order", ""))
    slot = _number(request.form.get("check_slot", ""), _("The parcel field number"))
    values = request.form.getlist(f"parcel-{order_id}")
    if not 1 <= slot <= min(len(values), MAX_PARCEL_IDS):
        abort(
            400,
            _(
                "The form has no parcel field {slot} for order {id}: reload the page.",
                slot=slot,
                id=order_id,
            ),
        )
    saved = (request.form.getlist(f"saved-{order_id}") + [""] * MAX_PARCEL_IDS)[slot - 1]
    station = _station()
    checked = Slot(values[slot - 1], saved=saved.strip())
    try:
        if checked.value.strip():
            others = values[: slot - 1] + values[slot:]
            check_parcel_id_for(station.store, checked.value, others=others, order_id=order_id)
        checked.clean = keep_typed_parcel_id(
            station.store,
            station.bus,
            order_id,
            checked.value,
            replaces=checked.saved,
            station=station.settings.station.name,
        )
        checked.saved = checked.clean
    except OrderRuleError as err:
        checked.error = err.args[0]
    return render_template(
        "shipout_check.html",
        slot=checked,
        order_id=order_id,
        n=slot,
        oob=True,
        seq=secrets.token_hex(6),
    )


@bp.post("/shipout/<int:order_id>/fetch")
def fetch(order_id: int):  # type: ignore[no-untyped-def]
    """R13: a parcel id from the carrier, kept on the delivery and put into the
    order's next empty field."""
    station = _station()
    if station.carrier is None:
        abort(409, _("This station has no carrier: type or scan the parcel id."))
    values = request.form.getlist(f"parcel-{order_id}")
    if len(values) > MAX_PARCEL_IDS:
        abort(
            400,
            _("The form has too many parcel fields for order {id}: reload the page.", id=order_id),
        )
    weight = request.form.get(f"weight-{order_id}", "").strip()
    weight_g = _number(weight, _("The weight in grams")) if weight else None
    kept = kept_parcel_ids(station.store, order_id)
    if all(slot.value.strip() for slot in _slots(values, kept)):
        abort(
            409,
            _(
                "A delivery carries at most {max} parcel ids: empty a field of order {id} first.",
                max=MAX_PARCEL_IDS,
                id=order_id,
            ),
        )
    try:
        parcel_id = fetch_parcel_id(
            station.store,
            station.carrier,
            order_id,
            taken=[v for v in values if v.strip() and _as_kept(v) not in kept],
            weight_g=weight_g or None,
            station=station.settings.station.name,
            bus=station.bus,
            printing=station.printing,
        )
    except OrderRuleError as err:
        abort(409, translate_error(err))
    except CarrierError as err:
        abort(502, translate_error(err))
    order, kept = order_with_kept_parcel_ids(station.store, order_id)
    row = Row(order, _checked(values, order_id, kept), {}, kept=kept)  # type: ignore[arg-type]
    return render_template(
        "shipout_parcels.html",
        row=row,
        carrier=True,
        max_parcels=MAX_PARCEL_IDS,
        fetched=parcel_id,
        seq=secrets.token_hex(6),
    )


@bp.get("/shipout/scale")
def scale():  # type: ignore[no-untyped-def]
    """The weight of the parcel on the scale, into one order's weight field."""
    order_id = _order_id(request.args.get("order", ""))
    station = _station()
    if station.scale is None:
        abort(409, _("This station has no scale: type the weight in grams."))
    grams = _gross(station.scale.last_weight)
    if grams is None:
        abort(409, _("The scale shows no steady weight: put the parcel on it and wait a moment."))
    return render_template("shipout_weight.html", order_id=order_id, weight=str(grams))


@bp.get("/events/shipout")
def events() -> Response:
    """What the page hears as it happens: a scanner's parcel id (taken by the bench's open
    order, or left for the selected card), the scale's weight, and that the list changed."""
    store = _station().store
    # One query per RECHECK_S for every open ship-out page together, a fresh one after a change.
    changes = current_app.extensions.setdefault("ship_out_changes", ShipOutChanges(store))

    def mark(*, max_age_s: float = 0.0) -> tuple[object, ...]:
        return changes.mark(not_before=time.monotonic() - max_age_s)

    last = [mark()]

    def messages(event: Event | None) -> Iterator[str]:
        if isinstance(event, ScanOutcome):
            yield from _scan_message(event)
        elif isinstance(event, WeightRead):
            grams = _gross(event)
            if grams is not None:
                yield sse("weight", json.dumps({"grams": grams, "shown": _kg(grams)}))
        elif event is None or (isinstance(event, OrderChanged) and event.what != "opened"):
            # Another station's change announces nothing here: looked for every RECHECK_S.
            now = mark(max_age_s=RECHECK_S / 2 if event is None else 0.0)
            if now != last[0]:
                last[0] = now
                yield sse("orders", "")  # the page fetches its list and redraws what changed

    return live_stream((ScanOutcome, WeightRead, OrderChanged), messages, recheck_s=RECHECK_S)


def _scan_message(outcome: ScanOutcome) -> Iterator[str]:
    """A scanner's parcel id as the bench decided it: left for this page (no order open at the
    bench), put on the open order, or refused — with the sentence why.

    Order, item, command and badge codes are the bench's own, and a code typed on the bench
    page was answered there: the page leaves them alone.
    """
    if outcome.source == "kiosk":
        return
    kind = classify(outcome.code).kind
    if outcome.unclaimed_parcel:
        message: dict[str, object] = {"ok": True, "parcel": outcome.unclaimed_parcel}
    elif kind in (CodeKind.PARCEL, CodeKind.INVALID):
        message = {"ok": outcome.ok, "message": translate(outcome.message)}
    else:
        return
    yield sse("parcel", json.dumps(message))
