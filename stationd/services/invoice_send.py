"""Send a reported delivery's invoice record to the accounting system (R16, "fullfør
transaksjonen"): the one call the outbox's worker makes for the record's kind.

The record was written with the delivery (services/report_in.py); here it is read back by
its delivery and handed to the adapter (accounting/), whose result says whether it is in the
books and whether trying again later may help. Sending twice is safe: the adapter looks the
record up by its reference before it makes it.
"""

from __future__ import annotations

from stationd.accounting import AccountingSender, SendResult
from stationd.core.text import sentence
from stationd.store.database import Store
from stationd.store.invoices import invoice_record_of_delivery


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
