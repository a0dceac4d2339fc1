"""Tools → pack script (R8): run it by hand, watch its trace live, read past runs' traces, and
ask why an order is not packing yet."""

from __future__ import annotations

from collections.abc import Iterator

from babel.numbers import format_decimal
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from stationd.core.numbers import whole_number
from stationd.core.packscript_reading import OUTCOME_FILTERS, Outcome
from stationd.events import Event, PackScriptRunChanged, SyncState
from stationd.kiosk.i18n import LOCALES, request_language
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.layout import is_htmx
from stationd.kiosk.stream import live_stream, sse
from stationd.kiosk.tools_sync import sync_context, sync_messages
from stationd.kiosk.trace_text import answer_text, outcome_label, step_line
from stationd.services.packscript import PackScriptBusy, PackScriptRunner

bp = Blueprint("tools", __name__)

#: Orders per page of a trace (each is two or three steps).
TRACE_PAGE_ORDERS = 50
#: How often a quiet stream looks again (a page drawn before a change it missed).
RECHECK_S = 1.0


def _runner() -> PackScriptRunner:
    return current_app.config["STATION"].packscript


def _locale() -> str:
    return LOCALES[request_language()]


@bp.app_template_filter("tools_number")
def _number(n: int) -> str:
    return format_decimal(n, locale=_locale())


@bp.app_template_filter("tools_seconds")
def _seconds(s: float | None) -> str:
    if s is None:
        return ""
    return _("{seconds} s", seconds=format_decimal(round(s, 1), format="0.0", locale=_locale()))


def _trigger(trigger: str) -> str:
    return {"manual": _("By hand"), "auto": _("Automatic"), "cli": _("Command line")}.get(
        trigger, trigger
    )


def _status(status: str) -> str:
    return {
        "ok": _("Done"),
        "stopped": _("Stopped"),
        "failed": _("Failed"),
        "running": _("Running"),
    }.get(status, status)


@bp.app_context_processor
def _helpers() -> dict:
    return {
        "run_trigger": _trigger,
        "run_status": _status,
        "outcome_label": outcome_label,
        "step_line": step_line,
    }


def _parse_int(value: str | None, *, what: str) -> int | None:
    """A positive whole number from the form, None if left empty; 400 with a sentence if not."""
    if not (value or "").strip():
        return None
    number = whole_number(value, lo=1)
    if number is None:
        abort(400, _("{what} must be a whole number above 0, like 1042.", what=what))
    return number


def live_context() -> dict:
    runner = _runner()
    live = runner.live()
    latest = None
    if live.started_at is None:  # nothing ran here since the station started: the last run
        runs = runner.recent(1)
        latest = runs[0] if runs else None
    return {
        "live": live,
        "latest": latest,
        "elsewhere": None if live.running else runner.elsewhere(),
        "lines": [step_line(step) for step in live.last_steps],
    }


def runs_context() -> dict:
    return {"runs": _runner().recent(20)}


@bp.get("/tools")
def page():  # type: ignore[no-untyped-def]
    station = current_app.config["STATION"]
    return render_template(
        "tools.html",
        interval_min=station.settings.packscript.interval_min,
        **live_context(),
        **runs_context(),
        **sync_context(),
    )


@bp.post("/tools/packscript/run")
def run():  # type: ignore[no-untyped-def]
    """Run now: start a run in the background; the page watches it over SSE."""
    try:
        _runner().start("manual")
    except PackScriptBusy as busy:
        if busy.elsewhere is None:
            abort(409, _("A run is already going: wait for it to finish."))
        if busy.elsewhere.station:
            abort(
                409,
                _(
                    "The pack script is running at station {station} now: wait for it to finish.",
                    station=busy.elsewhere.station,
                ),
            )
        abort(409, _("The pack script is running at another station now: wait for it to finish."))
    if is_htmx():
        return render_template("tools_live.html", **live_context())
    return redirect(url_for("tools.page"), code=303)


@bp.post("/tools/packscript/stop")
def stop():  # type: ignore[no-untyped-def]
    """Stop: end the run going on between two of its transactions (what it wrote stays)."""
    if not _runner().cancel():
        abort(409, _("No run is going at this station."))
    if is_htmx():
        return render_template("tools_live.html", **live_context())
    return redirect(url_for("tools.page"), code=303)


@bp.get("/tools/packscript/live")
def live():  # type: ignore[no-untyped-def]
    return render_template("tools_live.html", **live_context())


@bp.get("/tools/packscript/runs")
def runs():  # type: ignore[no-untyped-def]
    return render_template("tools_runs.html", **runs_context())


@bp.get("/tools/packscript/events")
def events() -> Response:
    """The live run as server-sent events: the panel (counts, last steps) in batches as the
    runner announces them, and the list of runs once a run has ended."""
    runner = _runner()
    sent = whole_number(request.args.get("since"))
    if sent is None:
        sent = -1
    # With [sync], the page's Sync section goes over this one stream too.
    sync = sync_messages()

    def messages(event: Event | None) -> Iterator[str]:
        if sync is not None:
            yield from sync(event)
            if isinstance(event, SyncState):
                return
        yield from run_messages()

    def run_messages() -> Iterator[str]:
        # Also without an event (the first look after connecting): the page may be behind.
        nonlocal sent
        live = runner.live()
        if live.version == sent:
            return
        sent = live.version
        yield sse("live", render_template("tools_live.html", **live_context()))
        if not live.running:
            yield sse("runs", render_template("tools_runs.html", **runs_context()))

    types = (PackScriptRunChanged, SyncState) if sync is not None else (PackScriptRunChanged,)
    return live_stream(types, messages, recheck_s=RECHECK_S)


@bp.get("/tools/packscript/runs/<int:run_id>")
def trace(run_id: int):  # type: ignore[no-untyped-def]
    """One run's whole trace, a page of orders at a time, filtered by order or outcome."""
    runner = _runner()
    record = runner.run_record(run_id)
    if record is None:
        abort(404, _("There is no pack-script run {run}.", run=run_id))
    show = request.args.get("show", "all") or "all"
    if show not in OUTCOME_FILTERS:
        abort(400, _("Unknown filter “{show}”: choose one of the buttons.", show=show))
    order_id = _parse_int(request.args.get("order"), what=_("The order number"))
    page_no = _parse_int(request.args.get("page"), what=_("The page number")) or 1
    index = runner.trace(run_id)
    found = index.page(
        outcomes=OUTCOME_FILTERS[show], order_id=order_id, page=page_no, per_page=TRACE_PAGE_ORDERS
    )
    context = {
        "run": record,
        "index": index,
        "counts": {o: index.count(o) for o in Outcome},
        "found": found,
        "lines": [step_line(step) for step in found.steps],
        "show": show,
        "filters": list(OUTCOME_FILTERS),
        "order_id": order_id,
        "keep_traces_days": runner.keep_traces_days,
    }
    template = "tools_trace_rows.html" if is_htmx() else "tools_trace.html"
    return render_template(template, **context)


@bp.get("/tools/packscript/why")
def why():  # type: ignore[no-untyped-def]
    """ "Why is order N not packing yet?", answered from the order and the latest run."""
    order_id = _parse_int(request.args.get("order"), what=_("The order number"))
    if order_id is None:
        abort(400, _("Type the order number to ask about, like 1042."))
    station = current_app.config["STATION"]
    answer = _runner().why(order_id)
    headline, more = answer_text(answer, station.settings.packscript.interval_min)
    context = {"answer": answer, "headline": headline, "more": more}
    if is_htmx():
        return render_template("tools_why.html", **context)
    return render_template(
        "tools.html",
        interval_min=station.settings.packscript.interval_min,
        **context,
        **live_context(),
        **runs_context(),
    )
