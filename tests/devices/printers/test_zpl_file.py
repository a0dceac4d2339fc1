"""zpl_file: ZplPrinter writing to a file or a device node, non-blocking."""

from __future__ import annotations

import os
import time

import pytest

from stationd.devices.printers.printer import PrinterError, PrinterState
from stationd.devices.printers.zpl_file import FileTransport
from stationd.devices.printers.zpl_printer import ZplPrinter

# --- a printer behind a file -----------------------------------------------------------------


def test_a_file_printer_appends_each_job_and_cannot_report_status(tmp_path):
    path = tmp_path / "labels.zpl"
    printer = ZplPrinter("file", FileTransport(path))
    printer.send(b"^XA1^XZ")
    printer.send(b"^XA2^XZ")
    assert path.read_bytes() == b"^XA1^XZ^XA2^XZ"
    assert printer.status().state is PrinterState.UNKNOWN


def test_a_missing_device_node_is_offline_and_never_created():
    path = "/dev/stationd-test-no-such-lp"
    printer = ZplPrinter("lp", FileTransport(path))
    with pytest.raises(PrinterError) as raised:
        printer.send(b"^XA^XZ")
    assert raised.value.status.state is PrinterState.OFFLINE
    assert "plugged in" in raised.value.status.detail
    assert not os.path.exists(path)
    assert printer.status().state is PrinterState.OFFLINE


def test_a_device_write_failing_with_enospc_is_paper_out():
    # usblp says "out of paper" with ENOSPC; /dev/full fails every write with exactly that.
    with pytest.raises(PrinterError) as raised:
        ZplPrinter("lp", FileTransport("/dev/full")).send(b"^XA^XZ")
    assert raised.value.status.state is PrinterState.PAPER_OUT


def test_a_device_that_stops_taking_data_times_out(tmp_path):
    # A FIFO stands in for /dev/usb/lp0: nobody at the other end is ENXIO ("not there"), a
    # reader that never reads fills the pipe, and the write must give up instead of hanging.
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    transport = FileTransport(fifo, write_timeout_s=0.3)
    with pytest.raises(PrinterError, match="plugged in"):
        transport.write(b"^XA^XZ")
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        started = time.monotonic()
        with pytest.raises(PrinterError, match="stopped taking data"):
            transport.write(b"x" * 1_000_000)
        assert time.monotonic() - started < 2
    finally:
        os.close(reader)
