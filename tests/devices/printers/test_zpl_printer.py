"""ZplPrinter: a Printer, and how it reads a Zebra printer's ``~HS`` host status."""

from __future__ import annotations

import pytest
from shipping_labels import hs_reply

from stationd.devices.printers.printer import PrinterState
from stationd.devices.printers.zpl_printer import parse_host_status

# --- ~HS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "state", "detail"),
    [
        (hs_reply(), PrinterState.ONLINE, ""),
        (hs_reply(paper_out=1), PrinterState.PAPER_OUT, "out of labels"),
        (hs_reply(head_up=1, paper_out=1), PrinterState.COVER_OPEN, "head is open"),
        (hs_reply(pause=1), PrinterState.ERROR, "paused"),
        (hs_reply(ribbon_out=1), PrinterState.ERROR, "ribbon"),
        (hs_reply(over_temp=1), PrinterState.ERROR, "too hot"),
        (hs_reply()[:40], PrinterState.ONLINE, ""),  # string 1 only, cut short: read as is
        (b"garbage", PrinterState.UNKNOWN, "unreadable"),
    ],
)
def test_host_status_flags(reply, state, detail):
    status = parse_host_status(reply)
    assert status.state is state
    assert detail in status.detail
