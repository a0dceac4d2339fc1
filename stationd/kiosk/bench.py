"""The bench page (R12): the order being packed, updated live as items are scanned."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from stationd.events import ScanRead

bp = Blueprint("bench", __name__)


def bench_context() -> dict:
    station = current_app.config["STATION"]
    seq, outcome = station.bench.last
    return {"order": station.bench.current_order(), "outcome": outcome, "seq": seq}


@bp.get("/bench")
def page():  # type: ignore[no-untyped-def]
    return render_template("bench.html", **bench_context())


@bp.get("/bench/fragment")
def fragment():  # type: ignore[no-untyped-def]
    return render_template("bench_fragment.html", **bench_context())


@bp.post("/bench/scan")
def scan():  # type: ignore[no-untyped-def]
    """A code typed into the kiosk: the same use case as a scanner's scan (R19).

    The code goes to the bench as typed: classify() answers an empty or over-long code, and a
    leading GS (FNC1) must survive for GS1 codes from a keyboard-mode scanner.
    """
    code = request.form.get("code")
    if code is None:
        abort(400, "The form has no 'code' field: type or scan a code.")
    station = current_app.config["STATION"]
    station.bench.handle_scan(ScanRead(code.strip(" \t\r\n"), None, "kiosk"))
    if request.headers.get("HX-Request"):
        return render_template("bench_fragment.html", **bench_context())
    return redirect(url_for("bench.page"), code=303)
