"""The bench page (R12–R14): the order being packed, updated live as items are scanned; + / −
on each line for items without a barcode; the commands as buttons, and as a sheet of barcodes
to print and pin up, so the flow runs without touching the screen.

Every route hands its input to the bench use case (`BenchService`): a typed code, a touched
command and a scanned one are the same scan; a touched + / − is the same count as a scan.
"""

from __future__ import annotations

import threading
import time

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState

from stationd.core.barcodes import Command, command_barcode
from stationd.core.bench_commands import COMMAND_ORDER, build_command_sheet
from stationd.core.bench_outcome import BenchOutcome, shown_on_a_new_page
from stationd.core.bench_screen import AtBench, BenchScreen
from stationd.core.deliveries import MAX_PARCEL_IDS
from stationd.core.numbers import whole_number
from stationd.core.orders import OrderRuleError
from stationd.events import Bus, Event, ScanOutcome, ScanRead
from stationd.kiosk.code128 import code128_svg
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.i18n import request_language, translate_error
from stationd.kiosk.outage import bench_banner
from stationd.services.bench import ScanNotSaved
from stationd.services.command_sheet import COMMAND_SHEET, print_command_sheet

bp = Blueprint("bench", __name__)


class BenchScreens:
    """The bench page as the last `ScanOutcome` carried it, for a page drawn later (or
    twice): the kiosk draws from the events the bench publishes, it reads nothing back."""

    def __init__(self, bus: Bus) -> None:
        self._lock = threading.Lock()
        self.last: BenchScreen | None = None
        #: The bench as the newest outcome that carried it had it: what the page shows while
        #: the database is away (an outcome that read nothing carries none).
        self.last_at: AtBench | None = None
        bus.subscribe(self._heard, ScanOutcome)

    def _heard(self, event: Event) -> None:
        screen = getattr(event, "screen", None)
        if screen is None:
            return
        with self._lock:  # outcomes are published outside the bench's lock: keep the newest
            if self.last is None or screen.seq > self.last.seq:
                self.last = screen
                if screen.at is not None:
                    self.last_at = screen.at

    @property
    def seq(self) -> int:
        last = self.last
        return last.seq if last is not None else 0


@bp.record_once
def _listen(state: BlueprintSetupState) -> None:
    state.app.config["BENCH_SCREENS"] = BenchScreens(state.app.config["STATION"].bus)


#: The command buttons beside the order, in the order a packer reaches for them.
BUTTON_ORDER = (Command.DONE, Command.UNDO, Command.NEXT_PARCEL, Command.PARTIAL, Command.CANCEL)


def command_words() -> dict[Command, tuple[str, str]]:
    """Each command's name and what it does, in this request's language."""
    return {
        Command.DONE: (_("Done"), _("Close the order; packed in full, it goes to ship-out.")),
        Command.NEXT_PARCEL: (_("Next parcel"), _("The next items go in a new parcel.")),
        Command.PARTIAL: (
            _("Partial delivery"),
            _("Ship what is packed now; the rest stays to pack later."),
        ),
        Command.UNDO: (
            _("Undo"),
            _("Takes back the last scan. Once more takes back the one before it."),
        ),
        Command.CANCEL: (
            _("Cancel"),
            _("Close the order; what was packed since it was opened is taken back out."),
        ),
    }


def bench_context(answering_scan: bool = False, screen: BenchScreen | None = None) -> dict:
    """What the bench fragment shows: the open order, its parcels and the last outcome.

    `answering_scan`: drawn as the answer to a scan — `screen`, the one its event carried, or
    the last one heard — so the state that scan committed is shown without reading it again
    (the scan-to-screen path); otherwise (or when the outcome read nothing) read now. While
    the database is away, the last screen heard is shown under the outage's banner."""
    station = current_app.config["STATION"]
    screens = current_app.config["BENCH_SCREENS"]
    last = screen or screens.last
    seq, outcome = (last.seq, last.outcome) if last is not None else (0, None)
    if outcome is not None and not answering_scan:
        outcome = outcome if shown_on_a_new_page(outcome, time.monotonic() - last.made_s) else None
    if answering_scan and last is not None and last.at is not None:
        at = last.at
    else:
        try:
            at = station.bench.at_bench()
        except Exception as err:
            if not station.availability.lost(err, "bench page"):
                raise
            at = screens.last_at or AtBench(None, None)
    return {
        "outage": bench_banner(),
        "order": at.order,
        "packing": at.packing,
        "parcel_ids": at.parcel_ids,
        "outcome": outcome,
        "seq": seq,
        "max_parcels": MAX_PARCEL_IDS,
        "shipout": "shipout.page" in current_app.view_functions,
    }


def _station():  # type: ignore[no-untyped-def]
    return current_app.config["STATION"]


def _fragment_wanted() -> bool:
    return bool(request.headers.get("HX-Request"))


def _answer(outcome: BenchOutcome, refused_status: int | None):  # type: ignore[no-untyped-def]
    """The fragment for htmx; a plain form goes back to the page. `refused_status` is the
    status of a refused outcome (a touch the rules refused); None answers it like a good one
    (a scan, whose red outcome *is* the answer)."""
    status = 200 if outcome.ok or refused_status is None else refused_status
    if _fragment_wanted():
        return render_template("bench_fragment.html", **bench_context(answering_scan=True)), status
    if status == 200:
        return redirect(url_for("bench.page"), code=303)
    return render_template("bench.html", **_page_context()), status


def _page_context() -> dict:
    words = command_words()
    return {**bench_context(), "buttons": [(c, words[c][0]) for c in BUTTON_ORDER]}


@bp.get("/bench")
def page():  # type: ignore[no-untyped-def]
    return render_template("bench.html", **_page_context())


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
        abort(400, _("The form has no 'code' field: type or scan a code."))
    station = _station()
    scanned = ScanRead(code.strip(" \t\r\n"), None, "kiosk")
    if not station.availability.away:
        try:
            return _answer(station.bench.handle_scan(scanned), None)
        except ScanNotSaved as err:
            station.availability.lost(err, "bench, a typed code")
    # The database is away: the code is kept like a scanner's (the scan inbox has it, the
    # bench worker counts it when the database is back), and the bench says so.
    station.bus.publish(scanned)
    station.database_watch.tell()
    if _fragment_wanted():
        return render_template("bench_fragment.html", **bench_context()), 202
    return redirect(url_for("bench.page"), code=303)


@bp.post("/bench/count")
def count():  # type: ignore[no-untyped-def]
    """A line's + or −: one item more or less, for items without a barcode (R12)."""
    line_id = whole_number(request.form.get("line"), lo=1)
    if line_id is None:
        abort(400, _("Which line? The form named no line of the order."))
    delta = {"1": 1, "+1": 1, "-1": -1}.get(request.form.get("delta", "").strip())
    if delta is None:
        abort(400, _("A line's buttons add one item (+1) or take one back (-1)."))
    outcome = _station().bench.count(line_id, delta, source="kiosk")
    return _answer(outcome, 409)


@bp.post("/bench/command")
def command():  # type: ignore[no-untyped-def]
    """A command button: the same scan as the command's barcode on the sheet (R19)."""
    raw = request.form.get("command", "").strip().upper()
    try:
        chosen = Command(raw)
    except ValueError:
        known = ", ".join(c.value for c in COMMAND_ORDER)
        said = _(
            "There is no command '{command}'; the bench knows {known}.",
            command=raw[:40],
            known=known,
        )
        abort(400, said)
    scanned = ScanRead(command_barcode(chosen), None, "kiosk")
    return _answer(_station().bench.handle_scan(scanned), 409)


@bp.get("/bench/commands")
def commands():  # type: ignore[no-untyped-def]
    """The command sheet: each command's barcode, to scan from the screen or print and pin up."""
    words = command_words()
    sheet = [
        (c, *words[c], command_barcode(c), code128_svg(command_barcode(c), module_px=2))
        for c in COMMAND_ORDER
    ]
    return render_template(
        "bench_commands.html",
        sheet=sheet,
        printed=whole_number(request.args.get("printed")),
        can_print=COMMAND_SHEET in _station().printing.routes,
    )


@bp.post("/bench/commands/print")
def print_commands():  # type: ignore[no-untyped-def]
    """Print the command sheet on the receipt printer (ESC/POS, CODE128)."""
    station = _station()
    sheet = build_command_sheet(_("Bench commands"), command_words(), request_language())
    try:
        job = print_command_sheet(station.store, station.printing, station.paperwork, sheet)
    except OrderRuleError as err:
        why = translate_error(err)
        abort(409, _("The command sheet can't be printed: {why}", why=why))
    if _fragment_wanted():
        return render_template("bench_commands_printed.html", printed=job)
    return redirect(url_for("bench.commands", printed=job), code=303)
