"""Printing the shop's papers: the outbound queue's documents (R9–R11) and the shipping labels
of a delivery (R16).

Each document is built by core from the order, rendered to the bytes of the printer its kind is
routed to, and queued in the caller's transaction — so a label exists exactly when the delivery
it belongs to was reported, and survives a power cut until it is printed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import TYPE_CHECKING

from stationd.clock import utcnow
from stationd.config import PrinterSettings, Settings
from stationd.core.audit import DocumentQueued
from stationd.core.deliveries import Delivery
from stationd.core.documents import Shop, build_document
from stationd.core.labels import Receiver, Sender, labels_for_delivery
from stationd.core.locales import customer_language
from stationd.core.orders import (
    Document,
    Order,
    OrderRuleError,
    ReprintNeedsConfirmation,
    check_print_request,
    repeated_prints,
)
from stationd.core.text import Text, sentence
from stationd.services.paper import render_document, render_label
from stationd.services.printing import PrintService
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.deliveries import mark_labelled
from stationd.store.order_contents import shelf_locations
from stationd.store.order_details import order_address
from stationd.store.orders import load_orders
from stationd.store.print_queue import first_printed, waiting_documents

if TYPE_CHECKING:
    from sqlalchemy import Connection


@dataclass(frozen=True)
class Paperwork:
    """What the station prints with: its shop, language, zone and printers' kinds by name."""

    shop: Shop
    sender: Sender
    country: str
    language: str
    currency: str
    vat_percent: int
    due_days: int
    tz: object
    picklist_barcodes: bool
    printers: Mapping[str, PrinterSettings]

    def printer(self, name: str) -> PrinterSettings:
        """The settings of printer `name`; a simulated printer renders as the default kind."""
        return self.printers.get(name) or PrinterSettings(name=name, kind="simulated")

    @classmethod
    def from_settings(cls, settings: Settings) -> Paperwork:
        shop = settings.shop
        address = (shop.street, f"{shop.postcode} {shop.city}".strip())
        return cls(
            shop=Shop(
                shop.name,
                tuple(a for a in address if a),
                org_number=shop.org_number,
                vat_number=shop.vat_number,
            ),
            sender=Sender(shop.name, tuple(a for a in address if a)),
            country=shop.country,
            language=settings.station.language,
            currency=settings.station.currency,
            vat_percent=shop.vat_percent,
            due_days=shop.invoice_due_days,
            tz=settings.station.tz,
            picklist_barcodes=shop.picklist_barcodes,
            printers={p.name: p for p in settings.printers},
        )


@dataclass(frozen=True)
class PrintChoices:
    """What the outbound queue may print for a selection of orders (R9).

    `orders` are the chosen orders that are in the queue, `gone` the chosen ones that are not
    (any more, or never were); `refusals` holds, per document, the sentence that refuses it for
    `orders`, or None when it can be printed.
    """

    orders: tuple[int, ...]
    gone: tuple[int, ...]
    refusals: Mapping[Document, str | None]


def print_choices(store: Store, order_ids: Iterable[int]) -> PrintChoices:
    """R9: which of the queue's documents can be printed for these orders, and why not."""
    in_queue: list[Order] = []
    gone: list[int] = []
    ids = list(dict.fromkeys(order_ids))
    with store.read() as conn:
        loaded = load_orders(conn, ids)
    for order_id in ids:
        order = loaded.get(order_id)
        if order is not None and order.in_outbound_queue:
            in_queue.append(order)
        else:
            gone.append(order_id)
    refusals: dict[Document, str | None] = {}
    for document in Document:
        try:
            check_print_request(document, in_queue)
        except OrderRuleError as err:
            refusals[document] = err.args[0] if err.args else str(err)
        else:
            refusals[document] = None
    return PrintChoices(tuple(order.id for order in in_queue), tuple(gone), refusals)


def print_orders(
    store: Store,
    printing: PrintService,
    paperwork: Paperwork,
    order_ids: Iterable[int],
    document: Document,
    *,
    confirm_reprint: bool = False,
) -> list[int]:
    """R9: print `document` for the chosen orders of the outbound queue; returns the job ids.

    Refused (OrderRuleError) as core's `check_print_request` refuses: invoices only for
    own-invoice orders, one at a time; only orders in the queue. R10: a document an order
    already has — printed, or still waiting at the printer — is refused with
    `ReprintNeedsConfirmation` (nothing queued) unless `confirm_reprint` is given.
    """
    ids = list(dict.fromkeys(order_ids))
    with store.write() as conn:
        found = load_orders(conn, ids)
        missing = next((order_id for order_id in ids if order_id not in found), None)
        if missing is not None:
            raise OrderRuleError(sentence("There is no order {id}.", id=missing))
        chosen = check_print_request(document, [found[order_id] for order_id in ids])
        repeats = repeated_prints(
            document, chosen, waiting_documents(conn, (order.id for order in chosen))
        )
        if repeats and not confirm_reprint:
            raise ReprintNeedsConfirmation(repeats)
        printer = printing.printer_for(document.value)
        options = paperwork.printer(printer)
        jobs = []
        for order in chosen:
            built = build_document(
                document,
                order,
                shop=paperwork.shop,
                locations=shelf_locations(conn, (line.sku for line in order.lines)),
                customer=order_address(conn, order.id) if document is Document.INVOICE else None,
                language=paperwork.language,  # the pick list's; the customer's paper, theirs
                vat_percent=paperwork.vat_percent,
                due_days=paperwork.due_days,
                tz=paperwork.tz,  # type: ignore[arg-type]
                item_barcodes=paperwork.picklist_barcodes,
                issued=_issued_on(conn, order.id, paperwork.tz)
                if document is Document.INVOICE
                else None,
            )
            payload = render_document(built, options)
            job_id = printing.submit(conn, document.value, payload, order.id)
            jobs.append(job_id)
            record_event(
                conn,
                DocumentQueued(document.value, printer, job_id, again=order.id in repeats),
                station=printing.station,
                order_id=order.id,
            )
    return jobs


def _issued_on(conn: Connection, order_id: int, tz: object) -> date:
    """The day an invoice is dated (Räntelagen §3 counts its due date from then): the day it
    was first printed, so a reprint says the same, else today — in the station's zone."""
    at = first_printed(conn, order_id, Document.INVOICE) or utcnow()
    return at.astimezone(tz).date() if isinstance(tz, tzinfo) else at.date()


def queue_labels(
    conn: Connection,
    printing: PrintService,
    paperwork: Paperwork,
    order: Order,
    delivery: Delivery,
    *,
    only: Collection[str] | None = None,
) -> list[int]:
    """R16: one shipping label per parcel id of the delivery — or per id in `only`, numbered
    among all of the delivery's — queued in `conn`'s transaction (the bench's or report-in's),
    which also notes each of those ids as labelled (`store.deliveries.mark_labelled`)."""
    customer = order_address(conn, order.id)
    try:
        receiver = Receiver(
            customer.name,
            customer.street,
            customer.postcode,
            customer.city,
            customer.country or paperwork.country,
        )
    except ValueError as err:
        # No label, no parcel: the report-in is refused and nothing is written.
        raise _no_label(order.id, err) from None
    weights = (
        {delivery.parcel_ids[0]: delivery.weight_g}
        if delivery.weight_g and len(delivery.parcel_ids) == 1
        else None
    )
    printer = printing.printer_for("label")
    options = paperwork.printer(printer)
    # The label's texts are the customer's (issue 12): the language of the country the parcel
    # goes to.
    language = customer_language(receiver.country)
    try:
        labels = labels_for_delivery(
            delivery, sender=paperwork.sender, receiver=receiver, weights_g=weights
        )
    except ValueError as err:
        raise _no_label(order.id, err) from None
    if only is not None:
        labels = [label for label in labels if label.parcel_id in only]
    jobs = []
    for label in labels:
        try:
            payload = render_label(label, options, language)
        except ValueError as err:
            raise OrderRuleError(
                sentence(
                    "Order {id}: the label can't be printed: {why}", id=order.id, why=_said(err)
                )
            ) from None
        jobs.append(printing.submit(conn, "label", payload, order.id))
    if delivery.id is not None:
        mark_labelled(conn, delivery.id, [label.parcel_id for label in labels])
    return jobs


def _said(err: Exception) -> Text | str:
    # core's sentence when it has one, so the kiosk can translate it inside ours.
    return err.args[0] if err.args and isinstance(err.args[0], str) else str(err)


def _no_label(order_id: int, err: Exception) -> OrderRuleError:
    return OrderRuleError(
        sentence("Order {id} can't get a shipping label: {why}", id=order_id, why=_said(err))
    )
