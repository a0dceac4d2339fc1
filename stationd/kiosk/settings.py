"""Settings → own statuses (R5): the admin's own status codes, how many orders carry each,
create, rename (every order shows the new name: they refer to the status) and delete while
no order carries it. The rules are core's; services/own_statuses.py does each change."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from stationd.core.orders import FieldRefused, OrderRuleError
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.i18n import translate_error
from stationd.kiosk.layout import is_htmx
from stationd.services.own_statuses import (
    NoSuchOwnStatus,
    create_own_status,
    delete_unused_own_status,
    rename_own_status,
)
from stationd.store.reads.orders import own_statuses_with_use

bp = Blueprint("settings", __name__)


def _context(outcome: dict | None = None, typed: dict | None = None) -> dict[str, Any]:
    statuses = own_statuses_with_use(current_app.config["STATION"].store)
    return {"statuses": statuses, "outcome": outcome, "typed": typed or {}}


def _answer(outcome: dict, code: int = 200, typed: dict | None = None) -> Any:
    """The own statuses again with the outcome: the section for htmx, else the page."""
    context = _context(outcome, typed)
    if is_htmx():
        return render_template("settings_statuses.html", **context), code
    return render_template("settings.html", **context), code


def _outcome(ok: bool, message: str, where: str | int, field: str | None = None) -> dict:
    # `where` is the form the finger touched ("new" or a status id): the answer stands there,
    # and `field` is the input a refusal is about, marked in that form.
    seq = time.monotonic_ns()
    return {"ok": ok, "message": message, "seq": seq, "where": where, "field": field}


def _done(message: str, where: str | int) -> Any:
    if not is_htmx():
        return redirect(url_for("settings.page"), code=303)
    return _answer(_outcome(True, message, where))


def _refused(err: OrderRuleError, code: int, where: str | int, typed: dict | None = None) -> Any:
    message = translate_error(err)
    if isinstance(err, NoSuchOwnStatus):
        abort(404, message)
    field = err.field if isinstance(err, FieldRefused) else None
    # htmx too gets the section, the refusal beside the form it answers (settings.html swaps
    # a 4xx section): an error at the top of the page is out of view of the finger.
    return _answer(_outcome(False, message, where, field), code, typed)


def _typed() -> tuple[str, str]:
    code, name = request.form.get("code"), request.form.get("name")
    if code is None or name is None:
        abort(400, _("The form needs a code and a name."))
    return code[:200], name[:200]


@bp.get("/settings")
def page():  # type: ignore[no-untyped-def]
    return render_template("settings.html", **_context())


@bp.post("/settings/own-statuses")
def create():  # type: ignore[no-untyped-def]
    code, name = _typed()
    station = current_app.config["STATION"]
    try:
        status = create_own_status(station.store, code, name, station=station.settings.station.name)
    except OrderRuleError as err:
        return _refused(err, 400, "new", {"new": {"code": code, "name": name}})
    return _done(_("Own status {code} created.", code=status.code), "new")


@bp.post("/settings/own-statuses/<small_id:status_id>")
def rename(status_id: int):  # type: ignore[no-untyped-def]
    code, name = _typed()
    station = current_app.config["STATION"]
    try:
        status = rename_own_status(
            station.store, status_id, code, name, station=station.settings.station.name
        )
    except OrderRuleError as err:
        return _refused(err, 400, status_id, {status_id: {"code": code, "name": name}})
    return _done(
        _(
            "Saved: every order with it now shows {code} – {name}.",
            code=status.code,
            name=status.name,
        ),
        status_id,
    )


@bp.post("/settings/own-statuses/<small_id:status_id>/delete")
def delete(status_id: int):  # type: ignore[no-untyped-def]
    station = current_app.config["STATION"]
    try:
        status = delete_unused_own_status(
            station.store, status_id, station=station.settings.station.name
        )
    except OrderRuleError as err:
        return _refused(err, 409, status_id)
    return _done(_("Own status {code} deleted.", code=status.code), "list")
