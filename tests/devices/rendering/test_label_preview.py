"""The label's SVG preview: the label's texts, escaped, and bars a barcode reader reads.

The bars are drawn into a bitmap here (each ``<rect>`` of a barcode group, in the SVG's
millimetre user units, scaled to pixels) and read with zxing-cpp, so the tests prove the
preview's CODE128 carries the parcel id and its GS1-128 the SSCC.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image, ImageDraw
from shipping_labels import SSCC
from shipping_labels import make_label as shared_label

from stationd.core.gs1 import parse_gs1
from stationd.core.labels import Receiver, Sender, ShippingLabel
from stationd.devices.rendering.escpos import code128_values
from stationd.devices.rendering.label_preview import gs1_128_values, label_svg
from stationd.services.paper import label_in_language

SVG = "{http://www.w3.org/2000/svg}"
SENDER = Sender("Garnboden AB", ("Storgatan 1", "123 45 Stockholm"))
RECEIVER = Receiver("Kåre Ødegård", "Ærøgade 5", "0150", "Tromsø", "NO")


def make_label(**changes) -> ShippingLabel:
    """The shared test label (tests/shipping_labels.py): parcel 2 of 3, from Garnboden to Tromsø."""
    return shared_label(
        **{"sender": SENDER, "receiver": RECEIVER, "parcel_number": 2, "parcel_count": 3, **changes}
    )


def texts(svg: str) -> list[str]:
    return [el.text or "" for el in ET.fromstring(svg).iter(f"{SVG}text")]


def barcode_groups(svg: str) -> list[ET.Element]:
    return [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "barcode"]


def scan(svg: str, group: ET.Element, px_per_mm: int = 20) -> list[zxingcpp.Barcode]:
    """Draw one barcode group's bars (white around them) into a bitmap; read it."""
    width_mm = float(ET.fromstring(svg).get("viewBox").split()[2])
    image = Image.new("L", (round(width_mm * px_per_mm), 240), 255)
    draw = ImageDraw.Draw(image)
    for rect in group.iter(f"{SVG}rect"):
        x = float(rect.get("x")) * px_per_mm
        w = float(rect.get("width")) * px_per_mm
        draw.rectangle([round(x), 20, round(x + w) - 1, 220], fill=0)
    return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)


def test_label_svg_parses_and_shows_the_label_texts():
    svg = label_svg(make_label())
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 100 150"
    assert root.get("width") == "100mm"
    shown = texts(svg)
    for text in (
        "From:",
        "Garnboden AB",
        "Storgatan 1",
        "123 45 Stockholm",
        "To:",
        "Kåre Ødegård",
        "Ærøgade 5",
        "0150 Tromsø",
        "NO",
        "PostNord MyPack Collect",
        "Parcel 2 of 3",
        "Order 1042",
        "2.36 kg",
        "RR473124829GB",
        "SSCC",
        f"(00) {SSCC}",
    ):
        assert text in shown, text


def test_receiver_is_large_and_below_the_sender():
    root = ET.fromstring(label_svg(make_label()))
    by_text = {el.text: el for el in root.iter(f"{SVG}text")}
    name, sender = by_text["Kåre Ødegård"], by_text["Garnboden AB"]
    assert float(name.get("font-size")) >= 1.5 * float(sender.get("font-size"))
    assert float(name.get("y")) > float(sender.get("y"))
    assert by_text["Parcel 2 of 3"].get("text-anchor") == "end"  # right-aligned, as in ZPL
    assert by_text["RR473124829GB"].get("text-anchor") == "middle"  # under its barcode


def test_swedish_captions_and_decimal_comma():
    shown = texts(label_svg(label_in_language(make_label(), "sv"), lang="sv"))
    assert {"Från:", "Till:", "Kolli 2 av 3", "Order 1042", "2,36 kg"} <= set(shown)


def test_label_without_sscc_weight_or_carrier_has_one_barcode():
    svg = label_svg(make_label(sscc=None, weight_g=None, carrier="", parcel_number=1))
    assert [g.get("data-symbology") for g in barcode_groups(svg)] == ["code128"]
    assert "SSCC" not in texts(svg)
    assert not [t for t in texts(svg) if t.endswith("kg") or t.startswith("(00)")]


def test_receiver_text_is_inert():
    evil = "<script>alert(1)</script>"
    receiver = Receiver(evil, '& </text><rect/> "x"', "0150", "Oslo", "NO")
    svg = label_svg(make_label(receiver=receiver, sender=Sender(evil)))
    root = ET.fromstring(svg)  # still well-formed
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert texts(svg).count(evil) == 2  # sender and receiver, shown as the text they are
    assert '& </text><rect/> "x"' in texts(svg)


@pytest.mark.parametrize(
    "parcel_id",
    ["RR473124829GB", "370000123456789", "A", "pkg-2026/03_x.1", "X" * 40, "12345678901234567"],
)
def test_parcel_id_barcode_scans_as_the_parcel_id(parcel_id):
    svg = label_svg(make_label(parcel_id=parcel_id, sscc=None))
    (group,) = barcode_groups(svg)
    assert group.get("data-code") == parcel_id
    found = scan(svg, group)
    assert [(b.text, b.symbology_identifier) for b in found] == [(parcel_id, "]C0")]


@pytest.mark.parametrize(("width_mm", "height_mm"), [(100, 150), (75, 113), (102, 152)])
def test_sscc_barcode_scans_as_gs1_128(width_mm, height_mm):
    svg = label_svg(make_label(), width_mm=width_mm, height_mm=height_mm)
    parcel, sscc = barcode_groups(svg)
    assert [b.text for b in scan(svg, parcel)] == ["RR473124829GB"]
    (found,) = scan(svg, sscc)
    assert found.symbology_identifier == "]C1"  # FNC1 after the start character: GS1-128
    assert found.content_type == zxingcpp.ContentType.GS1
    assert found.text == f"(00){SSCC}"
    assert parse_gs1(found.text) == {"00": SSCC}
    assert sscc.get("data-code") == f"(00) {SSCC}"


def test_barcodes_fit_the_label_with_quiet_zones():
    svg = label_svg(make_label(parcel_id="X" * 40), width_mm=75, height_mm=113)
    for group in barcode_groups(svg):
        rects = list(group.iter(f"{SVG}rect"))
        left = float(rects[0].get("x"))
        right = float(rects[-1].get("x")) + float(rects[-1].get("width"))
        module = float(rects[-1].get("width")) / 2  # the stop pattern ends in a 2-module bar
        assert left >= 10 * module - 1e-6
        assert right <= 75 - 10 * module + 1e-6


def test_gs1_128_values_put_fnc1_after_start_c():
    values = gs1_128_values("00" + SSCC)
    assert values[:2] == (105, 102)  # start C, FNC1
    assert values[2:-1] == code128_values((("C", "00" + SSCC),))[1:-1]
    assert values[-1] == (105 + sum(i * v for i, v in enumerate(values[1:-1], 1))) % 103
    with pytest.raises(ValueError):
        gs1_128_values("123")


def test_too_small_label_is_refused():
    with pytest.raises(ValueError, match="at least 75 × 113 mm"):
        label_svg(make_label(), width_mm=60, height_mm=90)
