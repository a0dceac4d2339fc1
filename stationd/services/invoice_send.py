"""Send a reported delivery's invoice record to the accounting system (R16, "fullfør
transaksjonen"): the one call the outbox's worker makes for the record's kind.

The record was written with the delivery (services/report_in.py); here it is read back by
its delivery and handed to the adapter (accounting/), whose result says whether it is in the
books and whether trying again later may help. Sending twice is safe: the adapter looks the
record up by its reference before it makes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stationd.accounting import AccountingSender, SendResult
from stationd.core.text import sentence
from stationd.services.outgoing import SendFailed
from stationd.store.database import Store
from stationd.store.invoices import invoice_record_of_delivery

if TYPE_CHECKING:
    from stationd.store.outgoing import OutgoingItem


def send_invoice(store: Store, sender: AccountingSender, delivery_id: int) -> SendResult:
    """Send the invoice record of delivery `delivery_id` through `sender`."""
    with store.read() as conn:
        record = invoice_record_of_delivery(conn, delivery_id)
    if record is None:
        return SendResult(
            False,
            sentence("Delivery {id} has no invoice record to send.", id=delivery_id),
        )
    return sender.send(record)


class InvoiceSender:
    """The outbox's sender of `INVOICE_KIND` rows (services/outgoing.py): the row names the
    delivery; its record goes to the accounting system. A result that is not ok is a
    `SendFailed` with its sentence, tried again with back-off and shown on the Tools page."""

    def __init__(self, store: Store, accounting: AccountingSender) -> None:
        self.store = store
        self.accounting = accounting

    def send(self, item: OutgoingItem) -> None:
        """Send the record of the row's delivery; raises `SendFailed` when it is not in the
        books."""
        if item.delivery_id is None:
            raise SendFailed(sentence("The row names no delivery."))
        result = send_invoice(self.store, self.accounting, item.delivery_id)
        if not result.ok:
            raise SendFailed(result.message)

    def close(self) -> None:
        """Close the accounting system's connections."""
        close = getattr(self.accounting, "close", None)
        if close is not None:
            close()
