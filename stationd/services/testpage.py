"""Printing a printer's test page: the devices page's "test print".

The page is a core document (`core.testpage.PrinterTestPage`) rendered by the renderer the
printer's real documents go through — ESC/POS for a receipt printer, ZPL for a label printer —
and queued on that printer's durable queue like any pick list, so a test page that comes out
shows the whole path works, code page included.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from stationd.clock import utcnow
from stationd.core.audit import TestPageQueued
from stationd.core.orders import Document, OrderRuleError
from stationd.core.testpage import PrinterTestPage
from stationd.core.text import sentence
from stationd.services.documents import Paperwork
from stationd.services.paper import render_document, render_document_zpl
from stationd.services.printing import PrintService
from stationd.store import print_queue
from stationd.store.audit import record_event
from stationd.store.database import Store

#: The document kind a test page has in the print queue (it sets no R10 marker).
TEST_PAGE = "test_page"
#: The documents a receipt printer prints (the label printer gets labels only).
_RECEIPT_DOCUMENTS = frozenset(d.value for d in Document)


class UnknownPrinter(OrderRuleError):
    """No printer of that name is configured at this station."""


def speaks_zpl(paperwork: Paperwork, routes: Mapping[str, str], printer: str) -> bool:
    """Whether `printer` is sent ZPL: a ``zpl`` printer, or a simulated one that prints the
    shipping labels and no receipt documents (as `queue_labels` renders labels for it)."""
    kind = paperwork.printer(printer).kind
    if kind != "simulated":
        return kind == "zpl"
    kinds = {document for document, name in routes.items() if name == printer}
    return "label" in kinds and not kinds & _RECEIPT_DOCUMENTS


def render_test_page(
    paperwork: Paperwork, routes: Mapping[str, str], printer: str, *, station: str, at: datetime
) -> bytes:
    """The bytes of `printer`'s test page, in the language the printer speaks."""
    page = PrinterTestPage(station, printer, at, paperwork.language, paperwork.tz)
    options = paperwork.printer(printer)
    if speaks_zpl(paperwork, routes, printer):
        return render_document_zpl(page, options)
    return render_document(page, options)


def print_test_page(
    store: Store,
    printing: PrintService,
    paperwork: Paperwork,
    printer: str,
    *,
    station: str,
    at: datetime | None = None,
) -> int:
    """Queue a test page on `printer` (with its audit event, one transaction); returns the job
    id. `UnknownPrinter` when the station has no such printer."""
    if printer not in printing.workers:
        raise UnknownPrinter(
            sentence("There is no printer “{printer}” at this station.", printer=printer)
        )
    payload = render_test_page(
        paperwork, printing.routes, printer, station=station, at=at or utcnow()
    )
    with store.write() as conn:
        job_id = print_queue.enqueue(conn, printer, TEST_PAGE, payload)
        record_event(conn, TestPageQueued(printer, job_id), station=station)
    printing.notify(printer)  # after the commit: the worker finds the job
    return job_id
