"""R9, R11: the documents the outbound queue prints, built from plain core objects."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from stationd.core.barcodes import classify, order_barcode
from stationd.core.documents import (
    Address,
    Barcode,
    Fields,
    Heading,
    Invoice,
    PickList,
    PickListReceipt,
    Receipt,
    Shop,
    Table,
    Totals,
    build_document,
    build_invoice,
    build_picklist,
    build_picklist_receipt,
    build_receipt,
    location_key,
    normalize_language,
    vat_part,
)
from stationd.core.orders import (
    Document,
    Order,
    OrderLine,
    OrderRuleError,
    OrderStatus,
    PaymentMethod,
    check_print_request,
)
from stationd.services.paper import document_in_language as said

PLACED = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 March in Stockholm
STOCKHOLM_WINTER = timezone(timedelta(hours=1))
ISSUED = date(2026, 3, 1)  # the day the invoices here are issued
SHOP = Shop(
    "Garnboden AB",
    ("Storgatan 1", "111 22 Stockholm"),
    org_number="556677-8899",
    payment_details=("Bankgiro 5050-1055",),
)


def make_order(**kw) -> Order:
    lines = [
        OrderLine(id=1, sku="SOCK-40", name="Ullsockor grå 40", quantity=2, unit_price_minor=14900),
        OrderLine(id=2, sku="CAP-1", name="Mössa", quantity=1, unit_price_minor=19900),
        OrderLine(id=3, sku="YARN-7", name="Garn", quantity=5, unit_price_minor=4950),
        OrderLine(id=4, sku="NEEDLE", name="Stickor", quantity=1, unit_price_minor=8900),
    ]
    defaults = dict(
        id=1042,
        status=OrderStatus.PACKING,
        placed_at=PLACED,
        customer_name="Åsa Ødegård",
        paid=True,
        comment="Lämna vid dörren",
        lines=lines,
    )
    return Order(**(defaults | kw))


LOCATIONS = {"SOCK-40": "A-10-1", "CAP-1": "A-02-1", "YARN-7": "B-1-1"}


# --- pick list (R11) -------------------------------------------------------------------------


def test_location_key_sorts_shelf_codes_naturally_and_unplaced_last():
    codes = ["A-10-1", "", "b-1", "A-02-1", "A-2-2", "A-9", "A-02-10", "A-02-9", "AA-1"]
    assert sorted(codes, key=location_key) == [
        "A-02-1",
        "A-2-2",  # "02" and "2" are the same shelf number
        "A-02-9",
        "A-02-10",
        "A-9",
        "A-10-1",
        "AA-1",
        "b-1",
        "",
    ]


def test_r11_picklist_lines_in_shelf_order_with_barcode_and_header():
    picklist = build_picklist(make_order(), LOCATIONS)
    assert isinstance(picklist, PickList)
    assert [line.location for line in picklist.lines] == ["A-02-1", "A-10-1", "B-1-1", ""]
    assert [line.sku for line in picklist.lines] == ["CAP-1", "SOCK-40", "YARN-7", "NEEDLE"]
    assert picklist.barcode == order_barcode(1042) == "ORD-1042"
    assert classify(picklist.barcode).order_id == 1042  # scanning it opens the order (R11)
    assert (picklist.order_id, picklist.customer, picklist.comment) == (
        1042,
        "Åsa Ødegård",
        "Lämna vid dörren",
    )
    assert picklist.item_count == 9


def test_r11_picklist_shows_each_items_ean_and_a_barcode_per_line_where_the_shop_wants_it():
    """Issue 12, item 11: the pick list showed the SKU only."""
    order = make_order()
    order.lines[0].gtin = "05901234123457"
    order.lines[1].gtin = "00000096385074"  # an EAN-8
    plain = build_picklist(order, LOCATIONS)
    table = next(b for b in plain.sections()[0].blocks if isinstance(b, Table))
    items = [row[2] for row in table.rows]
    assert "SOCK-40 Ullsockor grå 40 EAN 5901234123457" in items
    assert "CAP-1 Mössa EAN 96385074" in items and "YARN-7 Garn" in items
    assert [b.data for b in plain.sections()[0].blocks if isinstance(b, Barcode)] == ["ORD-1042"]
    with_codes = build_picklist(order, LOCATIONS, item_barcodes=True)
    codes = [b.data for b in with_codes.sections()[0].blocks if isinstance(b, Barcode)]
    assert codes == ["ORD-1042", "96385074", "5901234123457"]  # in shelf order
    assert [classify(code).gtin for code in codes[1:]] == ["00000096385074", "05901234123457"]


def test_picklist_location_falls_back_to_the_line_then_to_the_end():
    order = make_order()
    order.lines[3].location = "A-01-5"  # NEEDLE: not in the mapping, but on its line
    picklist = build_picklist(order, LOCATIONS)
    assert [line.sku for line in picklist.lines] == ["NEEDLE", "CAP-1", "SOCK-40", "YARN-7"]
    # The products' locations win over the one copied on the line.
    moved = build_picklist(order, LOCATIONS | {"NEEDLE": "C-1"})
    assert [line.sku for line in moved.lines] == ["CAP-1", "SOCK-40", "YARN-7", "NEEDLE"]
    assert build_picklist(order, {}).lines[0].sku == "NEEDLE"


def test_picklist_shows_what_is_still_to_pick_and_leaves_out_done_lines():
    order = make_order()
    order.lines[0].delivered = 1  # one sock pair went in an earlier partial delivery (R14)
    order.lines[2].packed = 5  # all yarn already scanned at the bench
    picklist = build_picklist(order, LOCATIONS)
    assert {line.sku: line.quantity for line in picklist.lines} == {
        "CAP-1": 1,
        "SOCK-40": 1,
        "NEEDLE": 1,
    }


def test_picklist_date_in_the_station_time_zone():
    assert build_picklist(make_order(), LOCATIONS).placed == date(2026, 3, 1)
    assert build_picklist(make_order(), LOCATIONS, tz=STOCKHOLM_WINTER).placed == date(2026, 3, 2)


def test_picklist_blocks_carry_title_barcode_fields_and_table():
    (section,) = said(build_picklist(make_order(), LOCATIONS)).sections()
    assert section.kind is Document.PICKLIST
    kinds = [type(block) for block in section.blocks]
    assert kinds[:3] == [Heading, Barcode, Fields]
    assert section.blocks[0] == Heading("Plocklista")
    assert section.blocks[1] == Barcode("ORD-1042")
    table = next(block for block in section.blocks if isinstance(block, Table))
    assert [col.header for col in table.columns] == ["Plats", "Antal", "Artikel"]
    assert table.rows[0] == ("A-02-1", "1", "CAP-1 Mössa")
    assert table.rows[-1][0] == "-"  # no location: a dash, at the end
    texts = repr(section.blocks)
    assert "Lämna vid dörren" in texts


@pytest.mark.parametrize(
    ("language", "picklist", "receipt", "invoice"),
    [
        ("sv", "Plocklista", "Kvitto", "Faktura"),
        ("nb", "Plukkliste", "Kvittering", "Faktura"),
        ("nb_NO", "Plukkliste", "Kvittering", "Faktura"),
        ("en", "Pick list", "Receipt", "Invoice"),
        ("de", "Pick list", "Receipt", "Invoice"),  # English is the fallback
    ],
)
def test_titles_in_the_station_language(language, picklist, receipt, invoice):
    order = make_order(payment_method=PaymentMethod.OWN_INVOICE)
    docs = [
        build_picklist(order, LOCATIONS, language=language),
        build_receipt(order, shop=SHOP, language=language),
        build_invoice(order, shop=SHOP, customer=Address("Åsa"), language=language, issued=ISSUED),
    ]
    titles = [
        next(b.text for b in said(doc).sections()[0].blocks if isinstance(b, Heading))
        for doc in docs
    ]
    assert titles == [picklist, receipt, invoice]


def test_normalize_language():
    assert [normalize_language(x) for x in ("sv-SE", "NB_no", "nn", "en", "xx", "")] == [
        "sv",
        "nb",
        "nb",
        "en",
        "en",
        "en",
    ]


def test_norwegian_dates_are_day_first():
    fields = said(build_picklist(make_order(), LOCATIONS, language="nb")).sections()[0].blocks[2]
    assert ("Dato", "01.03.2026") in fields.rows
    assert ("Ordre", "1042") in fields.rows


# --- receipt (R9) ----------------------------------------------------------------------------


def test_receipt_lines_totals_and_vat():
    receipt = build_receipt(make_order(payment_method=PaymentMethod.SWISH), shop=SHOP)
    assert isinstance(receipt, Receipt)
    assert [(line.quantity, line.unit_price_minor, line.total_minor) for line in receipt.lines] == [
        (2, 14900, 29800),
        (1, 19900, 19900),
        (5, 4950, 24750),
        (1, 8900, 8900),
    ]
    assert receipt.total_minor == 83350
    assert receipt.vat_minor == 16670  # 25 % included: a fifth of the total
    (section,) = said(receipt).sections()
    table = next(block for block in section.blocks if isinstance(block, Table))
    assert table.rows[0] == ("Ullsockor grå 40", "2", "149,00", "298,00")
    totals = next(block for block in section.blocks if isinstance(block, Totals))
    assert totals.rows == (
        ("Totalt", "833,50\u00a0kr"),
        ("varav moms 25\u00a0%", "166,70\u00a0kr"),
    )
    assert totals.strong == frozenset({0})
    assert ("Betalsätt", "Swish") in section.blocks[3].rows
    assert "Garnboden AB" in repr(section.blocks[0])
    assert "Org.nr 556677-8899" in repr(section.blocks[1])


def test_receipt_in_norwegian_kroner_and_euro():
    receipt = build_receipt(make_order(), shop=SHOP, language="nb", currency="NOK")
    totals = next(b for b in said(receipt).sections()[0].blocks if isinstance(b, Totals))
    assert totals.rows[1] == ("herav mva. 25\u00a0%", "166,70\u00a0kr")
    receipt = build_receipt(make_order(), shop=SHOP, language="en", currency="EUR")
    totals = next(b for b in said(receipt).sections()[0].blocks if isinstance(b, Totals))
    assert totals.rows[0] == ("Total", "€833.50")  # English writes a decimal point


@pytest.mark.parametrize(
    ("total", "rate", "vat"),
    [(12500, 25, 2500), (10, 25, 2), (13, 25, 3), (12, 25, 2), (11200, 12, 1200), (-125, 25, -25)],
)
def test_vat_part_rounds_half_up(total, rate, vat):
    assert vat_part(total, rate) == vat


def test_receipt_without_vat_has_no_vat_row():
    receipt = build_receipt(make_order(), shop=SHOP, vat_percent=0)
    totals = next(b for b in said(receipt).sections()[0].blocks if isinstance(b, Totals))
    assert [label for label, _ in totals.rows] == ["Totalt"]


# --- pick list + receipt (R9) ----------------------------------------------------------------


def test_combined_is_the_picklist_then_the_receipt_on_separate_paper():
    combined = build_picklist_receipt(make_order(), LOCATIONS, shop=SHOP)
    assert isinstance(combined, PickListReceipt)
    assert combined.kind is Document.PICKLIST_RECEIPT
    assert combined.order_id == 1042
    assert [section.kind for section in combined.sections()] == [
        Document.PICKLIST,
        Document.RECEIPT,
    ]


# --- invoice (R9) ----------------------------------------------------------------------------


def test_invoice_number_dates_address_and_amount_due():
    customer = Address("Åsa Ødegård", "Kyrkvägen 3", "123 45", "Farsta")
    invoice = build_invoice(
        make_order(payment_method=PaymentMethod.OWN_INVOICE),
        shop=SHOP,
        customer=customer,
        issued=ISSUED,
    )
    assert isinstance(invoice, Invoice)
    assert (invoice.number, invoice.issued, invoice.due) == (
        "1042",
        date(2026, 3, 1),
        date(2026, 3, 31),
    )
    assert invoice.total_minor == 83350 and invoice.vat_minor == 16670
    (section,) = said(invoice).sections()
    text = repr(section.blocks)
    for expected in ("Kyrkvägen 3", "123 45 Farsta", "Bankgiro 5050-1055", "Att betala"):
        assert expected in text
    assert "Ange fakturanummer 1042 vid betalning." in text
    totals = next(b for b in section.blocks if isinstance(b, Totals))
    assert totals.rows[-1] == ("Att betala", "833,50\u00a0kr")
    assert totals.strong == frozenset({2})


def test_invoice_due_days_are_configurable_and_counted_from_the_invoice_date():
    order = make_order(payment_method=PaymentMethod.OWN_INVOICE)
    customer = Address("Åsa")
    assert build_invoice(
        order, shop=SHOP, customer=customer, due_days=14, issued=ISSUED
    ).due == date(2026, 3, 15)
    later = build_invoice(order, shop=SHOP, customer=customer, issued=date(2026, 3, 10))
    assert (later.issued, later.due) == (date(2026, 3, 10), date(2026, 4, 9))
    with pytest.raises(ValueError, match="due_days"):
        build_invoice(order, shop=SHOP, customer=customer, due_days=-1, issued=ISSUED)


def test_r9_invoice_is_dated_the_day_it_is_issued_not_the_day_of_the_order():
    """Issue 12, item 3: the invoice took the order's date, so one printed nine months later
    fell due at once. Räntelagen §3 counts the 30 days from the invoice."""
    order = make_order(payment_method=PaymentMethod.OWN_INVOICE)  # placed 2026-03-01
    invoice = build_document(Document.INVOICE, order, shop=SHOP, issued=date(2026, 12, 6))
    assert (invoice.issued, invoice.due) == (date(2026, 12, 6), date(2027, 1, 5))
    fields = next(b for b in said(invoice).sections()[0].blocks if isinstance(b, Fields))
    assert ("Fakturadatum", "2026-12-06") in fields.rows
    assert ("Förfallodatum", "2027-01-05") in fields.rows
    with pytest.raises(ValueError, match="issued"):
        build_document(Document.INVOICE, order, shop=SHOP)


def test_invoice_is_only_offered_for_own_invoice_orders_by_check_print_request():
    # The rule lives in core.orders (R9); the queue asks it before building anything.
    card = make_order(payment_method=PaymentMethod.CARD)
    with pytest.raises(OrderRuleError, match="own invoice"):
        check_print_request(Document.INVOICE, [card])
    own = make_order(payment_method=PaymentMethod.OWN_INVOICE)
    (chosen,) = check_print_request(Document.INVOICE, [own])
    invoice = build_document(Document.INVOICE, chosen, shop=SHOP, issued=ISSUED)
    assert isinstance(invoice, Invoice)
    assert invoice.customer == Address("Åsa Ødegård")


def test_r9_the_customers_paper_speaks_the_customers_language_and_currency():
    """Issue 12, item 4: at a Swedish station the pick list is Swedish (the packer's), the
    receipt and the invoice of a Norwegian NOK order Norwegian, in kroner as Norway writes
    them; a Swedish customer's NOK order names the currency."""
    norwegian = make_order(payment_method=PaymentMethod.OWN_INVOICE, country="NO", currency="NOK")
    built = {
        kind: build_document(kind, norwegian, shop=SHOP, language="sv", issued=ISSUED)
        for kind in Document
    }
    assert built[Document.PICKLIST].language == "sv"
    assert built[Document.RECEIPT].language == "nb" and built[Document.INVOICE].language == "nb"
    combined = built[Document.PICKLIST_RECEIPT]
    assert (combined.picklist.language, combined.receipt.language) == ("sv", "nb")
    invoice = built[Document.INVOICE]
    fields = next(b for b in said(invoice).sections()[0].blocks if isinstance(b, Fields))
    assert ("Forfallsdato", "31.03.2026") in fields.rows
    totals = next(b for b in said(invoice).sections()[0].blocks if isinstance(b, Totals))
    assert totals.rows[-1] == ("Å betale", "833,50\u00a0kr")
    swede = make_order(currency="NOK")
    receipt = build_document(Document.RECEIPT, swede, shop=SHOP, language="sv")
    totals = next(b for b in said(receipt).sections()[0].blocks if isinstance(b, Totals))
    assert receipt.language == "sv" and totals.rows[0] == ("Totalt", "833,50\u00a0NOK")


def test_build_document_dispatches_on_the_document_kind():
    # Shipped to Britain: the customer's paper is English like the station's pick list.
    order = make_order(payment_method=PaymentMethod.OWN_INVOICE, country="GB")
    built = {
        kind: build_document(
            kind, order, shop=SHOP, locations=LOCATIONS, language="en", issued=ISSUED
        )
        for kind in Document
    }
    assert {kind: type(doc) for kind, doc in built.items()} == {
        Document.PICKLIST: PickList,
        Document.RECEIPT: Receipt,
        Document.PICKLIST_RECEIPT: PickListReceipt,
        Document.INVOICE: Invoice,
    }
    assert all(doc.kind is kind and doc.order_id == 1042 for kind, doc in built.items())
    assert all(doc.language == "en" for doc in built.values())


def test_documents_are_frozen():
    picklist = build_picklist(make_order(), LOCATIONS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        picklist.customer = "someone else"  # type: ignore[misc]
