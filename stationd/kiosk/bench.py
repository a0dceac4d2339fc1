"""The bench page (R12): the order being packed, updated live as items are scanned."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from stationd.events import ScanRead

bp = Blueprint("bench", __name__)

MAX_TYPED_CODE = 80


def bench_context() -> dict:
    station = current_app.config["STATION"]
    bench = station.bench
    return {"order": bench.current_order(), "outcome": bench.last_outcome, "seq": bench.outcome_seq}


@bp.get("/bench")
def page():  # type: ignore[no-untyped-def]
    return render_template("bench.html", **bench_context())


@bp.get("/bench/fragment")
def fragment():  # type: ignore[no-untyped-def]
    return render_template("bench_fragment.html", **bench_context())


@bp.post("/bench/scan")
def scan():  # type: ignore[no-untyped-def]
    """A code typed into the kiosk: the same use case as a scanner's scan (R19)."""
    code = request.form.get("code")
    if code is None:
        abort(400, "The form has no 'code' field: type or scan a code.")
    code = code.strip()
    if not code:
        abort(400, "Type or scan a code first.")
    if len(code) > MAX_TYPED_CODE:
        abort(400, f"That code is longer than {MAX_TYPED_CODE} characters; no barcode is.")
    station = current_app.config["STATION"]
    station.bench.handle_scan(ScanRead(code, None, "kiosk"))
    if request.headers.get("HX-Request"):
        return render_template("bench_fragment.html", **bench_context())
    return redirect(url_for("bench.page"), code=303)
