"""A print job's picture from its bytes: ESC/POS read back into the very layout it was printed
from, ZPL read into its fields and barcodes — and the test page, rendered for a label printer,
drawn by an independent ZPL renderer with its barcode read by a scanner library."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import zplkit
import zxingcpp
from PIL import Image, ImageDraw

from stationd.core.documents import (
    Address,
    PrintDocument,
    Shop,
    build_invoice,
    build_picklist,
    build_picklist_receipt,
)
from stationd.core.labels import Receiver, Sender, ShippingLabel
from stationd.core.orders import Order, OrderLine, OrderStatus, PaymentMethod
from stationd.core.testpage import NORDIC_LETTERS, PrinterTestPage
from stationd.devices.rendering.escpos import PrintedLine, layout, render
from stationd.devices.rendering.job_preview import escpos_items, is_zpl, job_svg, zpl_svg
from stationd.devices.rendering.zpl import render_escpos_label, render_zpl
from stationd.devices.rendering.zpl_document import render_zpl_document
from stationd.services.paper import document_in_language as said

SVG = "{http://www.w3.org/2000/svg}"
SHOP = Shop("Garnboden AB", ("Storgatan 1",))
AT = datetime(2026, 11, 22, 9, 30, 5, tzinfo=UTC)


def order() -> Order:
    return Order(
        id=1042,
        status=OrderStatus.PACKING,
        placed_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        customer_name="Åsa <b>Ødegård</b>",
        comment="Ring & fråga {B",
        payment_method=PaymentMethod.OWN_INVOICE,
        lines=[
            OrderLine(id=1, sku="CAP-1", name="Mössa", quantity=1, unit_price_minor=19900),
            OrderLine(
                id=2, sku="SOCK-40", name="Ullsockor € – ł", quantity=2, unit_price_minor=14900
            ),
        ],
    )


def as_printed(items):  # type: ignore[no-untyped-def]
    # The printer gets a space where the layout keeps a no-break space (CP865's 0xFF prints as
    # a block on some printers), and stand-ins where the code page lacks a letter.
    return tuple(
        replace(item, text=item.text.replace("\u00a0", " "))
        if isinstance(item, PrintedLine)
        else item
        for item in items
    )


DOCUMENTS = {
    "picklist": build_picklist(order(), {"CAP-1": "A-02-1"}),
    "picklist_receipt": build_picklist_receipt(order(), {"SOCK-40": "B-1"}, shop=SHOP),
    "invoice": build_invoice(
        order(),
        shop=SHOP,
        customer=Address("Åsa Ødegård", "Gata 1", "0150", "Oslo"),
        language="nb",
        issued=AT.date(),
    ),
    "test_page": PrinterTestPage("bench-1", "receipts", AT, "sv"),
}


@pytest.mark.parametrize("width", [32, 42])
@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_escpos_bytes_read_back_as_the_layout_they_were_printed_from(name, width):
    document: PrintDocument = DOCUMENTS[name]
    items = escpos_items(render(said(document), width_chars=width), width_chars=width)
    expected = as_printed(layout(said(document), width_chars=width))
    stand_ins = {"€": "EUR", "–": "-", "ł": "l"}
    assert items == tuple(
        replace(i, text="".join(stand_ins.get(c, c) for c in i.text))
        if isinstance(i, PrintedLine)
        else i
        for i in expected
    )


def test_the_code_page_the_bytes_chose_is_the_one_they_are_read_in():
    page = PrinterTestPage("bench-1", "receipts", AT, "nb")
    for codepage in ("CP865", "CP858", "CP850"):
        items = escpos_items(render(said(page), codepage=codepage))
        texts = [i.text for i in items if isinstance(i, PrintedLine)]
        assert f"Bokstaver: {NORDIC_LETTERS}" in texts
    # Without ESC t the printer prints its power-on code page (PC437): what a wrong setting
    # would show, and the preview shows the same.
    raw = "Kåre\n".encode("cp865")
    assert escpos_items(b"\x1b@" + raw) == (PrintedLine("Kåre"),)
    assert escpos_items(b"\x1b@" + "Øst\n".encode("cp865")) == (PrintedLine("¥st"),)


def test_commands_stationd_does_not_send_are_stepped_over():
    payload = (
        b"\x1b@\x10\x04\x01"  # DLE EOT: a status request
        b"\x1d(k\x03\x001A2"  # GS ( k: a QR code setting with 3 bytes
        b"\x1dv0\x00\x02\x00\x02\x00\xff\xff\xff\xff"  # a 2x2 raster image
        b"\x1b*\x00\x02\x00\xaa\xbb"  # a bit image of 2 columns
        b"\x1ba\x01Centred\n\x1ba\x00"
        b"\x1b!\x38Big\n\x1b!\x00"
        b"\x1dV\x41\x10"  # cut with feed
    )
    items = escpos_items(payload, width_chars=42)
    texts = [i.text for i in items if isinstance(i, PrintedLine)]
    assert "[image]" in texts[0]
    assert texts[1] == "Centred".center(42).rstrip()
    assert items[2] == PrintedLine("Big", bold=True, large=True)
    assert type(items[-1]).__name__ == "PaperCut"


def svg_texts(svg: str) -> list[str]:
    return [el.text or "" for el in ET.fromstring(svg).iter(f"{SVG}text")]


def barcode_groups(svg: str) -> list[ET.Element]:
    return [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "barcode"]


def read_bars(group: ET.Element) -> list[str]:
    """Draw one barcode group's bars (with a quiet zone) and read them with zxing-cpp."""
    rects = [(float(r.get("x")), float(r.get("width"))) for r in group.iter(f"{SVG}rect")]
    left = rects[0][0]
    scale = 3
    width = int((rects[-1][0] + rects[-1][1] - left + 80) * scale)
    image = Image.new("L", (width, 160), 255)
    draw = ImageDraw.Draw(image)
    for x, w in rects:
        x0 = (x - left + 40) * scale
        draw.rectangle([round(x0), 20, round(x0 + w * scale) - 1, 140], fill=0)
    return [b.text for b in zxingcpp.read_barcodes(image)]


SENDER = Sender("Butiken AB", ("Storgatan 1", "123 45 Stockholm"))
RECEIVER = Receiver("Kåre Ødegård ^XZ ~JR <b>", "Ærøgade 5_b", "0150", "Tromsø", "NO")
LABEL = ShippingLabel(SENDER, RECEIVER, 1042, "RR473124829GB", weight_g=2351)


def test_a_zpl_shipping_label_reads_back_with_its_letters_and_its_barcode():
    payload = render_zpl(LABEL)
    assert is_zpl(payload)
    svg = job_svg(payload, title="label 1042")
    texts = svg_texts(svg)
    assert "Kåre Ødegård ^XZ ~JR <b>" in texts  # ^FH escapes and UTF-8, as plain text
    assert "0150 Tromsø" in texts and "Order 1042" in texts
    (group,) = barcode_groups(svg)
    assert group.get("data-code") == "RR473124829GB"
    assert read_bars(group) == ["RR473124829GB"]


def test_an_escpos_label_reads_back_with_its_barcode():
    items = escpos_items(render_escpos_label(LABEL))
    texts = [i.text for i in items if isinstance(i, PrintedLine)]
    assert "Kåre Ødegård ^XZ ~JR <b>" in texts
    assert [i.data for i in items if type(i).__name__ == "PrintedBarcode"] == ["RR473124829GB"]


def test_zpl_with_unknown_commands_and_several_labels_still_draws():
    svg = zpl_svg(b"^XA^FO10,10^A0N,30,30^FDone^FS^XZ~JR^XA^FX note^FO10,10^ADN^FDtwo^FS^XZ")
    assert svg_texts(svg) == ["one", "two"]
    assert ET.fromstring(svg).get("height") == str(1218 * 2 + 24)


@pytest.mark.parametrize("dpmm", [8, 12])
def test_the_label_printers_test_page_is_zpl_an_independent_renderer_draws(dpmm):
    page = PrinterTestPage("bench-1", "labels", AT, "en")
    zpl = render_zpl_document(page, dpmm=dpmm)
    texts = svg_texts(zpl_svg(zpl))
    assert "Test print" in texts and f"Letters: {NORDIC_LETTERS}" in texts
    # zplkit's font 0 has ASCII glyphs only (the printer's has the Nordic letters too): the
    # line of letters is left out of what it draws.
    ascii_only = re.sub(rb"\^FO[^^]*\^A0N[^^]*\^FH\^FD[^^]*_C3[^^]*\^FS", b"", zpl)
    assert ascii_only.count(b"^FD") == zpl.count(b"^FD") - 1
    options = zplkit.Options(profile="specification", dpi={8: 203, 12: 300}[dpmm])
    (label,) = zplkit.render(ascii_only, options).labels
    raster = label.rasterize()
    image = Image.frombytes("L", (raster.width, raster.height), raster.pixels)
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    assert [b.text for b in found] == [page.barcode] == ["TEST-093005"]


def test_a_document_longer_than_a_label_is_refused():
    long = build_picklist(
        replace(
            order(),
            lines=[
                OrderLine(id=n, sku=f"S-{n}", name="Vara", quantity=1, unit_price_minor=100)
                for n in range(60)
            ],
        ),
        {},
    )
    with pytest.raises(ValueError, match="longer than one"):
        render_zpl_document(long)
