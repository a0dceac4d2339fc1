"""The Devices page's printers on the network (issue 14): what zeroconf heard of, and a touch
that puts a raw port-9100 printer to use as the receipt or the label printer — written to the
station's config, or, where the station may not write it (its unit keeps /etc read-only), the
lines to add by hand. Either way the station uses it after a restart."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from stationd.config import ConfigError
from stationd.config_file import ROLES, network_printer_change, write
from stationd.kiosk.i18n import gettext as _

bp = Blueprint("network_printers", __name__)


def network_context() -> dict:
    station = current_app.config["STATION"]
    discovery = station.discovery
    return {
        "discovery_on": discovery is not None,
        "found": discovery.printers() if discovery is not None else [],
    }


@bp.app_context_processor
def _network_printers() -> dict:
    # The devices page shows the section; a function, so other pages never ask zeroconf.
    return {"network_printers": network_context}


@bp.get("/devices/network")
def listing():  # type: ignore[no-untyped-def]
    return render_template("devices_network.html", **network_context())


@bp.post("/devices/network/use")
def use():  # type: ignore[no-untyped-def]
    """Put a printer heard of on the network to use as the receipt or the label printer."""
    station = current_app.config["STATION"]
    role = request.form.get("role", "")
    if role not in ROLES:
        abort(400, _("Choose whether it prints receipts or labels."))
    wanted = request.form.get("printer", "")
    found = {p.name: p for p in network_context()["found"] if p.usable}
    printer = found.get(wanted)
    if printer is None:
        abort(404, _("That printer is no longer heard of on the network."))
    if station.config_file is None or not station.config_file.is_file():
        abort(409, _("This station runs without a config file: add the printer to one by hand."))
    try:
        change = network_printer_change(
            station.config_file, role=role, name=role, host=printer.host, port=printer.port
        )
    except ConfigError as err:
        abort(409, _("The config was not changed: {reason}", reason=str(err)))
    try:
        write(change)
        written = True
    except OSError:
        written = False
    return render_template(
        "devices_network_used.html", change=change, written=written, role=role, printer=printer
    )
