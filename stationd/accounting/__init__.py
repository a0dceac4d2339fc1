"""Accounting systems an invoice record is sent to (R16, the Norwegian guide's "fullfør
transaksjonen": the invoice is made in the cloud accounting and booked against 1570).

An adapter has one call, `send(record) -> SendResult`, for the outbox's worker to call with a
record written at report-in: it never raises for what the network or the service does — the
result says whether the record is in the books, in a sentence (the Tools page shows it), and
whether trying again later may help. Each adapter is a module of its own, chosen in
`[accounting] send_to`:

- `fiken`: Fiken's API v2, a cash sale per record (accounting/fiken.py).

Like the carriers' bookings, a sale is never made twice: it is looked up by the record's own
reference ("A-17") before it is made, and one whose answer was lost is settled by that look-up
(carriers/no_double_booking.py); the HTTP goes through carriers/http_session.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from stationd.core.text import Text

if TYPE_CHECKING:
    from stationd.config.accounting import AccountingSettings
    from stationd.core.invoices import InvoiceRecord


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one record: `ok` when it is in the books (made now or found made);
    `message` says so or why not; `retry` when trying again later may help (the service was
    away or busy, or did not say whether it took it); `remote_id` is the service's id for it."""

    ok: bool
    message: Text
    retry: bool = False
    remote_id: str = ""


class AccountingSender(Protocol):
    """What the outbox needs of an accounting system."""

    #: Names the system on the Tools page and in the log ("Fiken").
    name: str

    def send(self, record: InvoiceRecord) -> SendResult:
        """Put `record` in the books once (look it up, make it if it is not there)."""
        ...


def make_sender(settings: AccountingSettings) -> AccountingSender | None:
    """The adapter `[accounting] send_to` names, or None (SIE export only)."""
    if settings.send_to == "fiken":
        from stationd.accounting.fiken import FikenSender

        return FikenSender.from_settings(settings)
    return None
