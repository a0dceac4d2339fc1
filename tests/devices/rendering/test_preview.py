"""The SVG preview: the printed layout, escaped text, and CODE128 bars a barcode reader reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
import zxingcpp
from barcode.charsets import code128 as python_barcode_code128
from PIL import Image, ImageDraw

from stationd.core.documents import Shop, build_picklist_receipt
from stationd.core.orders import Order, OrderLine, OrderStatus
from stationd.core.picklist import build_picklist
from stationd.devices.rendering.escpos import PrintedLine, code128_plan, code128_values, layout
from stationd.devices.rendering.preview import CODE128_PATTERNS, code128_bars, preview_svg
from stationd.services.paper import document_in_language as said

SVG = "{http://www.w3.org/2000/svg}"
SHOP = Shop("Garnboden AB", ("Storgatan 1",))


def make_order(order_id: int = 1042, customer: str = "Åsa Ødegård", comment: str = "") -> Order:
    return Order(
        id=order_id,
        status=OrderStatus.PACKING,
        placed_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        customer_name=customer,
        comment=comment,
        lines=[
            OrderLine(id=1, sku="CAP-1", name="Mössa", quantity=1, unit_price_minor=19900),
            OrderLine(id=2, sku="SOCK-40", name="Ullsockor", quantity=2, unit_price_minor=14900),
        ],
    )


def texts(svg: str) -> list[str]:
    return [el.text or "" for el in ET.fromstring(svg).iter(f"{SVG}text")]


def scan(svg: str, scale: int = 4) -> list[str]:
    """Draw the SVG's barcode bars into a bitmap and read it with zxing-cpp."""
    root = ET.fromstring(svg)
    (group,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "barcode"]
    image = Image.new("L", (int(float(root.get("width"))) * scale, 200), 255)
    draw = ImageDraw.Draw(image)
    for rect in group.iter(f"{SVG}rect"):
        x, w = float(rect.get("x")) * scale, float(rect.get("width")) * scale
        draw.rectangle([round(x), 20, round(x + w) - 1, 180], fill=0)
    return [(result.text, result.format.name) for result in zxingcpp.read_barcodes(image)]


def test_preview_is_svg_with_the_printed_lines():
    doc = build_picklist(make_order(), {"CAP-1": "A-02-1"})
    svg = preview_svg(said(doc))
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    printed = [item.text for item in layout(said(doc)) if isinstance(item, PrintedLine)]
    assert [t for t in texts(svg) if t != "ORD-1042"] == [t for t in printed if t.strip()]
    assert "Kund:  Åsa Ødegård" in texts(svg)
    assert "      Plocklista" in texts(svg)  # spaces kept: xml:space and white-space:pre
    assert len([el for el in root.iter(f"{SVG}line") if el.get("class") == "cut"]) == 1


@pytest.mark.parametrize(("order_id", "width"), [(1042, 42), (7, 42), (123456789012345678, 32)])
def test_preview_barcode_scans_as_the_order_barcode(order_id, width):
    svg = preview_svg(said(build_picklist(make_order(order_id), {})), width_chars=width)
    assert scan(svg) == [(f"ORD-{order_id}", "Code128")]


def test_customer_text_is_inert_in_the_svg():
    evil = '<script>alert("x")</script> & </text><rect/>'
    svg = preview_svg(said(build_picklist(make_order(customer=evil, comment=evil), {})))
    root = ET.fromstring(svg)  # still well-formed
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert '<script>alert("x")</script>' in " ".join(texts(svg))  # shown as the text it is


def test_combined_preview_shows_both_parts_and_two_cuts():
    svg = preview_svg(said(build_picklist_receipt(make_order(), {}, shop=SHOP)))
    cuts = [el for el in ET.fromstring(svg).iter(f"{SVG}line") if el.get("class") == "cut"]
    assert len(cuts) == 2
    assert any("Kvitto" in text for text in texts(svg))


def test_code128_patterns_match_python_barcodes_table():
    def modules(pattern: str) -> str:
        return "".join(("1" if i % 2 == 0 else "0") * int(w) for i, w in enumerate(pattern))

    assert [modules(p) for p in CODE128_PATTERNS[:106]] == list(python_barcode_code128.CODES)
    assert modules(CODE128_PATTERNS[106]) == "1100011101011"  # stop, with its final bar


def test_code128_values_and_bars():
    values = code128_values(code128_plan("ORD-1042"))
    # Start B, "ORD-1042" in set B, check character (104 + Σ position × value) mod 103.
    assert values[:-1] == (104, 47, 50, 36, 13, 17, 16, 20, 18)
    assert values[-1] == (104 + sum(i * v for i, v in enumerate(values[1:-1], 1))) % 103
    bars = code128_bars(values)
    assert bars[0] == (0, 2)  # start B begins with a two-module bar
    assert all(1 <= width <= 4 for _, width in bars)
    end = bars[-1][0] + bars[-1][1]
    assert end == 11 * len(values) + 13
