"""escpos_file: EscposPrinter writing to a file or device node, non-blocking."""

from __future__ import annotations

import os
import time

import pytest
from receipt_orders import make_order

from stationd.core.picklist import build_picklist
from stationd.devices.printers.escpos_file import FileTransport
from stationd.devices.printers.escpos_printer import EscposPrinter
from stationd.devices.printers.printer import PrinterError, PrinterState
from stationd.devices.rendering.escpos import render

# --- a file ----------------------------------------------------------------------------------


def test_file_transport_appends_every_job_and_cannot_tell_its_status(tmp_path):
    path = tmp_path / "receipt.bin"
    printer = EscposPrinter("receipt", FileTransport(str(path)))
    assert printer.status().state is PrinterState.UNKNOWN
    job = render(build_picklist(make_order(), {}))
    printer.send(job)
    printer.send(b"two")
    printer.close()
    printer.send(b"three")  # reopened: appends, loses nothing
    printer.close()
    assert path.read_bytes() == job + b"two" + b"three"


def test_file_transport_missing_device_is_offline(tmp_path):
    printer = EscposPrinter("receipt", FileTransport(str(tmp_path / "no" / "lp0")))
    with pytest.raises(PrinterError) as caught:
        printer.send(b"x")
    assert caught.value.status.state is PrinterState.OFFLINE
    gone = EscposPrinter("receipt", FileTransport("/dev/usb/stationd-test-lp9"))
    assert gone.status().state is PrinterState.OFFLINE


def test_file_transport_write_that_never_drains_times_out(tmp_path):
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # there, but never reads: like usblp
    try:
        printer = EscposPrinter("receipt", FileTransport(str(fifo), timeout_s=0.3))
        started = time.monotonic()
        with pytest.raises(PrinterError) as caught:
            printer.send(b"x" * 1_000_000)
        assert time.monotonic() - started < 3
        assert "did not answer within 0.3 s" in caught.value.status.detail
    finally:
        os.close(reader)
