"""R10: which documents a print would give an order a second copy of — printed, or still
waiting at a printer — so the queue asks before it prints twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stationd.core.orders import (
    Document,
    Order,
    OrderStatus,
    ReprintNeedsConfirmation,
    repeated_prints,
)

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def order(order_id: int, *printed: Document) -> Order:
    return Order(order_id, OrderStatus.PACKING, AT, "Åsa", printed={doc: AT for doc in printed})


def test_r10_nothing_printed_nothing_repeats():
    assert repeated_prints(Document.PICKLIST, [order(1), order(2)]) == {}


def test_r10_a_printed_pick_list_repeats_for_that_order_only():
    chosen = [order(1, Document.PICKLIST), order(2, Document.RECEIPT)]
    assert repeated_prints(Document.PICKLIST, chosen) == {1: (Document.PICKLIST,)}


@pytest.mark.parametrize(
    ("had", "again"),
    [
        ((Document.PICKLIST,), (Document.PICKLIST,)),
        ((Document.RECEIPT,), (Document.RECEIPT,)),
        ((Document.RECEIPT, Document.PICKLIST), (Document.PICKLIST, Document.RECEIPT)),
        ((Document.INVOICE,), None),
    ],
)
def test_r10_pick_list_plus_receipt_repeats_whichever_half_was_printed(had, again):
    result = repeated_prints(Document.PICKLIST_RECEIPT, [order(7, *had)])
    assert result.get(7) == again


def test_r10_a_document_waiting_at_the_printer_counts_as_printed():
    waiting = {3: {Document.INVOICE}}
    assert repeated_prints(Document.INVOICE, [order(3)], waiting) == {3: (Document.INVOICE,)}
    assert repeated_prints(Document.RECEIPT, [order(3)], waiting) == {}


def test_r10_the_refusal_names_the_orders_and_documents_and_keeps_them():
    err = ReprintNeedsConfirmation(
        {1042: (Document.PICKLIST, Document.RECEIPT), 1051: (Document.PICKLIST,)}
    )
    assert str(err) == (
        "Printed already or waiting at the printer — pick list + receipt: 1042, 1051. "
        "Confirm to print again."
    )
    assert err.repeats[1051] == (Document.PICKLIST,)
    assert err.args[0].template.startswith("Printed already or waiting")  # translatable
