"""The devices page (R19–R21): every scanner, printer and scale with its state and when it was
last seen, a test print per printer, a scanner test, and each printer's queue — held jobs to
release or drop, printed ones to print again, and a picture of what a job prints."""

from __future__ import annotations

import time
from collections.abc import Iterator

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
from stationd.devices.rendering.job_preview import job_svg
from stationd.events import Event
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.i18n import translate_error
from stationd.kiosk.layout import is_htmx
from stationd.kiosk.stream import live_stream, sse
from stationd.services.device_watch import MAX_DIVERT_S, DevicesChanged
from stationd.services.printing import PrinterStateChanged, PrintJobChanged
from stationd.services.testpage import UnknownPrinter, print_test_page, speaks_zpl
from stationd.store.print_queue import PrintJob, PrintQueueError
from stationd.store.reads.print_jobs import (
    last_printed_at,
    print_job,
    print_jobs_changes,
    printer_jobs,
)

bp = Blueprint("devices", __name__)

#: Printed and dropped jobs shown per printer, newest first (every waiting one is shown).
FINISHED_SHOWN = 8
#: How often a live page looks for what no event announces: a job queued by a use case or by
#: another process, a scanner test that ran out.
RECHECK_S = 1.0
#: The longest code the test field takes (a scanner's frame limit is far below).
MAX_TYPED = 256
#: A scanner test's length when the person says nothing else.
DIVERT_S = 120


def _station():  # type: ignore[no-untyped-def]
    return current_app.config["STATION"]


def _job_number(raw: str) -> int:
    number = whole_number(raw, lo=1)
    if number is None:
        abort(400, _("“{value}” is not a print job number.", value=raw[:40]))
    return number


def _job(raw: str) -> PrintJob:
    job_id = _job_number(raw)
    job = print_job(_station().store, job_id)
    if job is None:
        abort(404, _("There is no print job {id}.", id=job_id))
    return job


def _printer(name: str) -> str:
    if name not in _station().printing.workers:
        abort(404, _("There is no printer “{printer}” at this station.", printer=name[:64]))
    return name


def devices_context() -> dict:
    station = _station()
    printed_at = last_printed_at(station.store)
    return {"devices": station.device_watch.devices(printed_at)}


def printers_context() -> dict:
    station = _station()
    printing = station.printing
    jobs = printer_jobs(station.store, printing.workers, finished=FINISHED_SHOWN)
    printers = [
        {
            "name": name,
            "documents": sorted(d for d, p in printing.routes.items() if p == name),
            "zpl": speaks_zpl(station.paperwork, printing.routes, name),
            "waiting": jobs[name].waiting,
            "finished": jobs[name].finished,
        }
        for name in printing.workers
    ]
    return {"printers": printers}


def scans_context() -> dict:
    watch = _station().device_watch
    return {"scans": watch.scans(), "until": watch.diverting_until, "divert_s": DIVERT_S}


@bp.get("/devices")
def page():  # type: ignore[no-untyped-def]
    return render_template(
        "devices.html",
        config_notice=_station().settings.config_notice(),
        **devices_context(),
        **printers_context(),
        **scans_context(),
    )


@bp.post("/devices/printers/<name>/test-print")
def test_print(name: str):  # type: ignore[no-untyped-def]
    """A test page through the printer's own queue and renderer."""
    station = _station()
    printer = _printer(name)
    try:
        job_id = print_test_page(
            station.store,
            station.printing,
            station.paperwork,
            printer,
            station=station.settings.station.name,
        )
    except UnknownPrinter as err:
        abort(404, translate_error(err))
    outcome = {"kind": "test", "printer": printer, "job": job_id}
    return _outcome(outcome)


@bp.post("/devices/jobs/<job>/release")
def release(job: str):  # type: ignore[no-untyped-def]
    found = _job(job)
    _act(lambda: _station().printing.release(found.id))
    return _outcome({"kind": "released", "printer": found.printer, "job": found.id})


@bp.post("/devices/jobs/<job>/drop")
def drop(job: str):  # type: ignore[no-untyped-def]
    found = _job(job)
    _act(lambda: _station().printing.drop(found.id))
    return _outcome({"kind": "dropped", "printer": found.printer, "job": found.id})


@bp.post("/devices/jobs/<job>/reprint")
def reprint(job: str):  # type: ignore[no-untyped-def]
    """Print a printed (or dropped) job again; the first touch asks, the second prints."""
    found = _job(job)
    if request.form.get("confirm") != "1":
        if not found.state.finished:
            abort(
                409,
                _(
                    "Print job {id} has not printed yet: release it instead of printing it twice.",
                    id=found.id,
                ),
            )
        return _outcome(
            {
                "kind": "confirm",
                "printer": found.printer,
                "job": found.id,
                "document": found.document,
                "order": found.order_id,
            }
        )
    new_id = _act(lambda: _station().printing.reprint(found.id))
    return _outcome({"kind": "reprinted", "printer": found.printer, "job": found.id, "new": new_id})


def _act(action):  # type: ignore[no-untyped-def]
    try:
        return action()
    except PrintQueueError as err:
        abort(409, translate_error(err))


def _outcome(outcome: dict):  # type: ignore[no-untyped-def]
    outcome["seq"] = time.monotonic_ns()
    return render_template("devices_outcome.html", outcome=outcome, **printers_context())


@bp.get("/devices/jobs/<job>/preview")
def preview(job: str):  # type: ignore[no-untyped-def]
    """A job's details and its picture, for the preview panel."""
    return render_template("devices_preview.html", job=_job(job))


@bp.get("/devices/jobs/<job>/preview.svg")
def preview_svg(job: str) -> Response:
    """The picture of what the job prints, read back from its bytes."""
    found = _job(job)
    options = _station().paperwork.printer(found.printer)
    title = f"{found.document} {found.order_id or ''}".strip()
    svg = job_svg(found.payload, width_chars=options.width_chars, title=title)
    return Response(
        svg,
        mimetype="image/svg+xml",
        headers={
            # Shown as an <img>, and never a document that could run anything.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


@bp.post("/devices/test-scan")
def test_scan():  # type: ignore[no-untyped-def]
    """A code typed (or wedge-scanned) into the test field: classified, shown, not packed."""
    code = request.form.get("code")
    if code is None:
        abort(400, _("The form has no “code” field: type or scan a code."))
    if len(code) > MAX_TYPED:
        abort(400, _("A code is at most {num} characters.", num=MAX_TYPED))
    _station().device_watch.typed(code.strip(" \t\r\n"))
    return _scans()


@bp.post("/devices/scanner-test")
def scanner_test():  # type: ignore[no-untyped-def]
    """Start (``seconds``) or end (``stop``) the scanner test: scans only shown, not packed."""
    watch = _station().device_watch
    if request.form.get("stop"):
        watch.end_diversion()
    else:
        seconds = whole_number(request.form.get("seconds", str(DIVERT_S)), lo=1, hi=MAX_DIVERT_S)
        if seconds is None:
            abort(400, _("A scanner test lasts 1 to {num} seconds.", num=MAX_DIVERT_S))
        watch.divert(seconds)
    return _scans()


def _scans():  # type: ignore[no-untyped-def]
    if not is_htmx():  # a plain form: back to the page, at the scanner test
        return redirect(url_for("devices.page", _anchor="scanner-test"), code=303)
    return render_template("devices_scans.html", **scans_context())


@bp.get("/devices/events")
def events():  # type: ignore[no-untyped-def]
    """The page's parts, drawn again when what they show changed."""
    station = _station()
    watch = station.device_watch

    def marks() -> tuple[object, object]:
        return print_jobs_changes(station.store), watch.diverting_until

    last = list(marks())

    def messages(event: Event | None) -> Iterator[str]:
        if isinstance(event, DevicesChanged | PrinterStateChanged):
            if isinstance(event, PrinterStateChanged) or event.part == "state":
                yield sse("devices", render_template("devices_list.html", **devices_context()))
            if isinstance(event, DevicesChanged) and event.part in ("scan", "test"):
                yield sse("scans", render_template("devices_scans.html", **scans_context()))
        jobs, until = marks()
        if jobs != last[0] or isinstance(event, PrintJobChanged):
            yield sse("printers", render_template("devices_printers.html", **printers_context()))
        if until != last[1]:
            yield sse("scans", render_template("devices_scans.html", **scans_context()))
        last[:] = [jobs, until]

    return live_stream(
        (DevicesChanged, PrinterStateChanged, PrintJobChanged), messages, recheck_s=RECHECK_S
    )
