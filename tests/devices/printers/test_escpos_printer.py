"""EscposPrinter: a Printer, and how it reads the printer's DLE EOT status bytes."""

from __future__ import annotations

import pytest

from stationd.devices.printers.escpos_file import FileTransport
from stationd.devices.printers.escpos_printer import EscposPrinter, parse_status
from stationd.devices.printers.printer import Printer, PrinterState

# --- status bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "state", "detail"),
    [
        ((0x12, 0x12, 0x12), PrinterState.ONLINE, ""),
        ((0x12, 0x12, 0x1E), PrinterState.ONLINE, "paper is running low"),
        ((0x1A, 0x32, 0x72), PrinterState.PAPER_OUT, "out of paper"),
        ((0x12, 0x12, 0x72), PrinterState.PAPER_OUT, "out of paper"),
        ((0x1A, 0x16, 0x12), PrinterState.COVER_OPEN, "the cover is open"),
        ((0x1A, 0x52, 0x12, 0x1A), PrinterState.ERROR, "the auto-cutter jammed"),
        ((0x1A, 0x12, 0x12), PrinterState.OFFLINE, "the printer is offline"),
        ((None, None, None), PrinterState.UNKNOWN, "did not answer"),
        ((0xFF, 0x12, 0x12), PrinterState.UNKNOWN, "did not answer"),  # not a status byte
    ],
)
def test_parse_status(answers, state, detail):
    status = parse_status(*answers)
    assert status.state is state
    assert detail in status.detail


def test_escpos_printer_is_a_printer():
    printer: Printer = EscposPrinter("receipt", FileTransport("/tmp/x"))
    assert printer.name == "receipt"
