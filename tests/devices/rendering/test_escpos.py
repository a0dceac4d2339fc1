"""rendering.escpos: core documents → the exact ESC/POS bytes python-escpos's encoder makes
(code page, Nordic letters, stand-ins, CODE128, cuts), and text that cannot inject commands."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receipt_orders import PLACED, SHOP, locations, make_order

from stationd.core.documents import (
    Address,
    build_invoice,
    build_picklist,
    build_picklist_receipt,
    build_receipt,
)
from stationd.core.orders import PaymentMethod
from stationd.devices.rendering.escpos import (
    PaperCut,
    PrintedBarcode,
    PrintedLine,
    code128_plan,
    encode_text,
    layout,
    render,
)
from stationd.services.paper import document_in_language as said

ESC, GS = b"\x1b", b"\x1d"
INIT = ESC + b"@"
USA = ESC + b"R\x00"
BOLD_ON, BOLD_OFF = ESC + b"E\x01", ESC + b"E\x00"
NORMAL = ESC + b"!\x00"
CUT = ESC + b"d\x06" + GS + b"V\x00"  # feed six lines, full cut

# The Nordic letters in CP865 and CP858, from the code page charts (not from Python's codec).
NORDIC = {
    "å": 0x86, "ä": 0x84, "ö": 0x94, "Å": 0x8F, "Ä": 0x8E, "Ö": 0x99,
    "æ": 0x91, "ø": 0x9B, "Æ": 0x92, "Ø": 0x9D,
}  # fmt: skip


# --- exact bytes -----------------------------------------------------------------------------


def test_picklist_exact_bytes():
    order = make_order()
    data = render(said(build_picklist(order, locations(order))))
    expected = b"".join(
        [
            INIT,
            USA,
            ESC + b"t\x05",  # CP865, Nordic
            NORMAL + NORMAL + ESC + b"!\x30",  # double width and height
            BOLD_ON,
            b"      Plocklista\n",
            NORMAL + NORMAL + NORMAL + BOLD_OFF,
            ESC + b"a\x01",  # centred
            GS + b"h\x50" + GS + b"w\x03" + GS + b"f\x00" + GS + b"H\x02",  # 80 dots, HRI below
            GS + b"k\x49\x0a{BORD-1042",  # CODE128, 10 bytes, code set B
            ESC + b"a\x00",
            b"\n",
            b"Order: 1042\n",
            b"Datum: 2026-03-01\n",
            b"Kund:  \x8fsa \x9ddeg\x86rd\n",
            BOLD_ON,
            b"Plats  Antal Artikel\n",
            BOLD_OFF,
            b"-" * 42 + b"\n",
            b"A-02-1     1 CAP-1 M\x94ssa\n",
            b"-" * 42 + b"\n",
            b"Antal artiklar" + b" " * 27 + b"1\n",
            CUT,
        ]
    )
    assert data == expected


@pytest.mark.parametrize(
    ("codepage", "profile", "select"),
    [("CP865", None, 5), ("CP858", None, 19), ("CP865", "TSP600", 9)],
)
def test_nordic_letters_are_the_right_bytes_after_the_code_page_is_selected(
    codepage, profile, select
):
    name = "ÅÄÖ åäö ÆØ æø"
    order = make_order(customer_name=name, comment=name)
    data = render(said(build_picklist(order, {})), codepage=codepage, profile=profile)
    select_at = data.index(ESC + b"t" + bytes([select]))
    expected = bytes(NORDIC[c] if c in NORDIC else ord(c) for c in name)
    assert data.index(expected) > select_at
    assert data.count(ESC + b"t") == 1  # one code page for the whole job
    assert data.index(USA) < select_at  # ESC R 0: '[', ']', '{' print as themselves


def test_decomposed_letters_from_a_web_form_are_composed_before_printing():
    order = make_order(customer_name="A\u030asa O\u0308berg")  # "Åsa Öberg" as macOS sends it
    assert b"Kund:  \x8fsa \x99berg\n" in render(said(build_picklist(order, {})))


def test_characters_outside_the_code_page_get_readable_stand_ins():
    assert encode_text("Pris 5 € – Łódź", "CP865") == b"Pris 5 EUR - L\xa2dz"  # ó is in CP865
    assert encode_text("5 €", "CP858") == b"5 \xd5"
    assert encode_text("1\u00a0234,50\u00a0kr") == b"1 234,50 kr"
    assert encode_text("中") == b"?"


def test_customer_text_cannot_inject_printer_commands():
    evil = "Bo\x1bp\x00\x19\xfa\x1dV\x00Ek\r\nNext"  # open the drawer, cut, new line
    order = make_order(customer_name=evil, comment=evil)
    data = render(said(build_picklist(order, {})))
    assert ESC + b"p" not in data
    assert data.count(GS + b"V") == 1  # only the cut at the end
    assert b"Kund:  Bo p  \xa3 V Ek  Next\n" in data  # controls became spaces; \xfa is "ú"


def test_code128_of_the_order_barcode():
    data = render(said(build_picklist(make_order(order_id=7), {})))
    assert GS + b"k\x49\x07{BORD-7" in data
    # A long order number on 58 mm paper goes in code set C: two digits a byte after "{C".
    order = make_order(order_id=123456789012345678)
    assert code128_plan("ORD-123456789012345678", digits_in_c=True) == (
        ("B", "ORD-"),
        ("C", "123456789012345678"),
    )
    data = render(said(build_picklist(order, {})), width_chars=32)
    payload = b"{BORD-{C" + bytes([12, 34, 56, 78, 90, 12, 34, 56, 78])
    assert GS + b"k\x49" + bytes([len(payload)]) + payload in data
    assert GS + b"w\x02" in data


def test_code128_plan_keeps_an_odd_digit_in_set_b():
    assert code128_plan("ORD-12345", digits_in_c=True) == (("B", "ORD-1"), ("C", "2345"))
    assert code128_plan("ORD-123", digits_in_c=True) == (("B", "ORD-123"),)
    assert code128_plan("123456", digits_in_c=True) == (("C", "123456"),)
    with pytest.raises(ValueError):
        code128_plan("ORD-1\n")


def test_picklist_lines_print_in_shelf_order():
    order = make_order(lines=12)
    data = render(said(build_picklist(order, locations(order))))
    places = [line.split(b" ")[0] for line in data.split(b"\n") if line[:2] in (b"A-", b"B-")]
    assert places == [b"A-02-1"] + [b"B-%d-%d" % (n, (40 - n) % 4) for n in range(30, 41)]


def test_combined_document_cuts_after_each_part_and_at_the_end():
    order = make_order(lines=3)
    data = render(said(build_picklist_receipt(order, locations(order), shop=SHOP)))
    assert data.count(CUT) == 2 and data.endswith(CUT)
    picklist_at, receipt_at = data.index(b"Plocklista"), data.index(b"Kvitto")
    assert picklist_at < data.index(CUT) < receipt_at
    assert b"Totalt" in data and b"varav moms 25 %" in data


def test_receipt_and_invoice_render_with_amounts():
    order = make_order(lines=3, payment_method=PaymentMethod.OWN_INVOICE)
    receipt = render(said(build_receipt(order, shop=SHOP, language="nb", currency="NOK")))
    assert b"Kvittering" in receipt and b"Bel\x9bp" in receipt  # "Beløp"
    assert b"Totalt" + b" " * 27 + b"646,00 kr\n" in receipt
    invoice = render(
        said(
            build_invoice(
                order,
                shop=SHOP,
                customer=Address("Åsa", "Gatan 1", "123 45", "Byn"),
                issued=PLACED.date(),
            )
        )
    )
    assert b"Faktura" in invoice and b"123 45 Byn" in invoice and invoice.endswith(CUT)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    name=st.text(max_size=80),
    product=st.text(min_size=1, max_size=120),
    comment=st.text(max_size=200),
    width=st.sampled_from([32, 42, 48]),
)
def test_any_text_fits_the_paper_and_renders(name, product, comment, width):
    order = make_order(customer_name=name, comment=comment)
    order.lines[0].name = product
    for doc in (
        build_picklist(order, {}),
        build_receipt(order, shop=SHOP),
        build_invoice(order, shop=SHOP, customer=Address(name), issued=PLACED.date()),
    ):
        items = layout(said(doc), width_chars=width)
        for item in items:
            if isinstance(item, PrintedLine):
                assert len(item.text) <= (width // 2 if item.large else width)
                assert all(c >= " " for c in item.text)
        assert isinstance(items[-1], PaperCut)
        assert render(said(doc), width_chars=width).endswith(CUT)


def test_barcode_module_width_fits_the_paper():
    for width in (32, 42):
        items = layout(said(build_picklist(make_order(order_id=987654321), {})), width_chars=width)
        (barcode,) = [item for item in items if isinstance(item, PrintedBarcode)]
        assert barcode.module_dots in (2, 3)
