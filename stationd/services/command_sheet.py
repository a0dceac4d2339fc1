"""The bench's command sheet: the commands as barcodes on paper, printed on the receipt printer
to pin up beside the bench, so the flow runs without touching the screen."""

from __future__ import annotations

from stationd.core.audit import CommandSheetPrinted
from stationd.core.bench import CommandSheet
from stationd.devices.rendering.escpos import render
from stationd.services.documents import Paperwork
from stationd.services.printing import PrintService
from stationd.store.audit import record_event
from stationd.store.database import Store

#: The print-queue kind of the command sheet; the station routes it to the receipt printer.
COMMAND_SHEET = "commands"


def print_command_sheet(
    store: Store, printing: PrintService, paperwork: Paperwork, sheet: CommandSheet
) -> int:
    """Print the command sheet on the receipt printer; returns the print job's id.

    Raises `PrintRoutingError` (an `OrderRuleError`) when no printer takes it.
    """
    printer = printing.printer_for(COMMAND_SHEET)
    options = paperwork.printer(printer)
    payload = render(sheet, width_chars=options.width_chars, codepage=options.codepage)
    with store.write() as conn:
        job = printing.submit(conn, COMMAND_SHEET, payload)
        record_event(conn, CommandSheetPrinted(job, printer), station=printing.station)
    return job
