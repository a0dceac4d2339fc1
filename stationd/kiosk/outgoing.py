"""Tools → Outgoing (issue 13 section 4): the shipping notices and webhooks waiting, failed
with their reason, and sent; "Send again" on a failed or sent one."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, url_for

from stationd.core.carrier_cancel import CANCEL_KIND
from stationd.core.outgoing import INVOICE_KIND, NOTICE_KIND, WEBHOOK_KIND
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.layout import is_htmx
from stationd.services.outgoing import resend as resend_row
from stationd.store.reads.outgoing import outgoing_page

bp = Blueprint("outgoing", __name__)


def _kind(kind: str) -> str:
    names = {
        NOTICE_KIND: _("Shipping notice"),
        WEBHOOK_KIND: _("Webhook"),
        INVOICE_KIND: _("Invoice"),
        CANCEL_KIND: _("Carrier cancel"),
    }
    return names.get(kind, kind)


def _what(payload: dict) -> str:
    # A webhook says its event type; a notice, whom it goes to; a carrier cancel, its parcel
    # id; an invoice send, its record.
    said = payload.get("type") or payload.get("to") or payload.get("parcel_id")
    return str(said or payload.get("reference") or "")


@bp.app_context_processor
def _helpers() -> dict:
    return {"outgoing_kind": _kind, "outgoing_what": _what}


@bp.get("/tools/outgoing")
def page():  # type: ignore[no-untyped-def]
    station = current_app.config["STATION"]
    return render_template(
        "tools_outgoing.html",
        found=outgoing_page(station.store),
        configured=station.senders.kinds,
    )


@bp.post("/tools/outgoing/<event_id>/resend")
def resend(event_id: str):  # type: ignore[no-untyped-def]
    station = current_app.config["STATION"]
    if len(event_id) > 64:
        abort(404)
    if not resend_row(
        station.store, event_id, station.settings.station.name, station.outgoing_worker
    ):
        abort(409, _("That one is waiting to be sent already, or there is no such one."))
    if is_htmx():
        return render_template(
            "tools_outgoing.html",
            found=outgoing_page(station.store),
            configured=station.senders.kinds,
        )
    return redirect(url_for("outgoing.page"), code=303)
