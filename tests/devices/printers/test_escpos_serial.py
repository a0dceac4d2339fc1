"""escpos_serial: EscposPrinter over a kernel pty, and a serial port that is not there."""

from __future__ import annotations

import os
import threading

import pytest

from stationd.devices.printers.escpos_printer import EscposPrinter
from stationd.devices.printers.escpos_serial import SerialTransport
from stationd.devices.printers.printer import PrinterError, PrinterState

# --- serial, over a kernel pty ---------------------------------------------------------------


def test_serial_send_and_paper_out_status_over_a_pty(ptys):
    pty = ptys()
    printer = EscposPrinter("receipt", SerialTransport(pty.path, timeout_s=0.5))
    printer.send(b"\x1b@hej")
    assert os.read(pty.master, 100) == b"\x1b@hej"

    def answer() -> None:  # each DLE EOT n as it comes, as a printer does
        answers = {1: 0x1A, 2: 0x32, 4: 0x72}
        pending, answered = b"", 0
        while answered < 3:
            pending += os.read(pty.master, 16)
            while len(pending) >= 3 * (answered + 1):
                os.write(pty.master, bytes([answers[pending[3 * answered + 2]]]))
                answered += 1

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    assert printer.status().state is PrinterState.PAPER_OUT
    thread.join(2)
    printer.close()


def test_serial_port_missing_is_offline(tmp_path):
    printer = EscposPrinter("receipt", SerialTransport(str(tmp_path / "ttyUSB9"), timeout_s=0.2))
    with pytest.raises(PrinterError) as caught:
        printer.send(b"x")
    assert caught.value.status.state is PrinterState.OFFLINE
    assert "is not there" in caught.value.status.detail
