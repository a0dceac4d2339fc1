"""rendering.zpl: shipping labels as ZPL and ESC/POS bytes.

The ZPL is checked by an independent renderer and a barcode reader — `zplkit` (a Rust ZPL
interpreter) draws the label, `zxing-cpp` reads the barcodes off the picture — so the tests
prove the printed barcodes carry the parcel id and the SSCC, not merely that some bytes were
written.
"""

from __future__ import annotations

import re

import pytest
import zplkit
import zxingcpp
from PIL import Image
from shipping_labels import NORDIC_RECEIVER, SSCC, make_label
from zplkit.parse import parse as parse_zpl

from stationd.core.gs1 import parse_gs1
from stationd.devices.rendering.zpl import (
    DPMM_TO_DPI,
    escape_field,
    render_escpos_label,
    render_zpl,
)
from stationd.services.paper import label_in_language


def render_image(zpl: bytes, dpmm: int = 8) -> Image.Image:
    """Draw ZPL with zplkit, the independent renderer, as a greyscale picture."""
    options = zplkit.Options(profile="specification", dpi=DPMM_TO_DPI[dpmm])
    document = zplkit.render(zpl, options)
    assert len(document.labels) == 1
    raster = document.labels[0].rasterize()
    return Image.frombytes("L", (raster.width, raster.height), raster.pixels)


def barcodes(zpl: bytes, dpmm: int = 8) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(render_image(zpl, dpmm), formats=zxingcpp.BarcodeFormat.Code128)


# --- ZPL: the barcodes, read back off the rendered label -------------------------------------


@pytest.mark.parametrize("dpmm", [6, 8, 12])
@pytest.mark.parametrize(
    "parcel_id",
    ["RR473124829GB", "JJD0001234567890", "370722150123456789", "a-1_b.2/C", "X" * 12 + "7" * 28],
)
def test_the_code128_on_the_label_carries_the_parcel_id(parcel_id, dpmm):
    zpl = render_zpl(make_label(parcel_id=parcel_id), dpmm=dpmm)
    found = barcodes(zpl, dpmm)
    plain = [b for b in found if b.symbology_identifier == "]C0"]
    assert [b.text for b in plain] == [parcel_id]


@pytest.mark.parametrize("dpmm", [6, 8, 12, 24])
def test_the_gs1_128_on_the_label_carries_the_sscc_under_ai_00(dpmm):
    found = barcodes(render_zpl(make_label(), dpmm=dpmm), dpmm)
    gs1 = [b for b in found if b.symbology_identifier == "]C1"]  # FNC1 first: GS1-128
    assert len(gs1) == 1
    assert gs1[0].content_type == zxingcpp.ContentType.GS1
    assert parse_gs1(gs1[0].text) == {"00": SSCC}


def test_a_parcel_without_an_sscc_has_only_the_parcel_id_barcode():
    found = barcodes(render_zpl(make_label(sscc=None)))
    assert [(b.symbology_identifier, b.text) for b in found] == [("]C0", "RR473124829GB")]


@pytest.mark.parametrize(
    ("parcel_id", "modules"),
    [
        ("RR473124829GB", 156),  # start B, RR4, code C, 4 digit pairs, code B, GB
        ("370722150123456789", 134),  # start C, 9 digit pairs
        ("X" * 12 + "7" * 28, 332),  # long: the module narrows to 2 dots to fit
    ],
)
def test_each_barcode_is_as_wide_as_planned_and_inside_the_label_with_quiet_zones(
    parcel_id, modules
):
    zpl = render_zpl(make_label(parcel_id=parcel_id))
    module = int(re.findall(rb"\^BY(\d+),", zpl)[0])
    image = render_image(zpl)
    assert image.size == (800, 1200)
    code = next(b for b in barcodes(zpl) if b.text == parcel_id)
    left, right = code.position.top_left.x, code.position.top_right.x
    assert right - left + 1 == modules * module  # the renderer drew the symbol planned
    assert left >= 10 * module and right < 800 - 10 * module
    assert abs((left + right) / 2 - 400) <= module  # centred


def test_the_zpl_is_one_format_sized_for_the_label_in_utf8():
    zpl = render_zpl(make_label(), dpmm=12, width_mm=100, height_mm=150)
    assert zpl.startswith(b"^XA^CI28^PW1200^LL1800")
    assert zpl.endswith(b"^XZ")
    assert zpl.count(b"^XA") == 1
    assert b"^BCN,360,N,N,N,N^FD>;>800" + SSCC.encode() + b"^FS" in zpl  # 30 mm at 12 dpmm
    assert b"^FH^FD(00) " + SSCC.encode() in zpl
    assert b"^FH^FD2.36 kg^FS" in zpl
    assert b"^FH^FDOrder 1042^FS" in zpl
    assert b"^FH^FDParcel 1 of 2^FS" in zpl


def test_captions_and_decimal_comma_follow_the_language():
    zpl = render_zpl(label_in_language(make_label(), "sv"), lang="sv")
    assert b"^FH^FDFr_C3_A5n:^FS" in zpl
    assert b"^FH^FDKolli 1 av 2^FS" in zpl
    assert b"^FH^FD2,36 kg^FS" in zpl


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"dpmm": 10}, "6, 8, 12 or 24"), ({"width_mm": 50, "height_mm": 80}, "too small")],
)
def test_render_zpl_refuses_a_printer_or_stock_it_cannot_lay_out(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_zpl(make_label(), **kwargs)


# --- ZPL: text that must not turn into commands ----------------------------------------------


def test_field_text_is_hex_escaped_utf8():
    assert escape_field("Kåre ^XZ ~JR_\\") == "K_C3_A5re _5EXZ _7EJR_5F_5C"
    assert escape_field("æøåÆØÅäöÄÖ") == "".join(f"_{b:02X}" for b in "æøåÆØÅäöÄÖ".encode())


def test_nordic_letters_and_zpl_prefixes_in_names_stay_field_data():
    zpl = render_zpl(make_label(receiver=NORDIC_RECEIVER))
    zpl.decode("ascii")  # every byte outside ASCII went out hex-escaped
    assert b"^FH^FDK_C3_A5re _C3_98deg_C3_A5rd _5EXZ _7EJR^FS" in zpl
    assert b"^FH^FD_C3_86r_C3_B8gade 5_5Fb^FS" in zpl
    assert b"^FH^FD0150 Troms_C3_B8^FS" in zpl
    # zplkit's parser frames the format: the ^XZ and ~JR in the name are no commands of it.
    commands = [e.data[:3] for e in parse_zpl(zpl).elements if e.kind != "control_character"]
    assert commands.count(b"^XZ") == 1 and b"~JR" not in commands
    fields = [e.data[3:] for e in parse_zpl(zpl).elements if e.data.startswith(b"^FD")]
    texts = {unescape(data) for data in fields if not data.startswith(b">")}
    assert {"Kåre Ødegård ^XZ ~JR", "Ærøgade 5_b", "0150 Tromsø"} <= texts


def unescape(data: bytes) -> str:
    return re.sub(rb"_([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), data).decode("utf-8")


@pytest.mark.parametrize("text", ["Kåre Ødegård", "Ærøgade", "Tromsø Åsa Älvsjö"])
def test_zplkit_draws_the_escaped_field_as_the_letters_themselves(text):
    # zplkit's font 0 has ASCII glyphs only (the printer's has Latin-1 and more), so this
    # compares one field in bitmap font D: ^FH hex escapes draw exactly what raw UTF-8 draws,
    # and not what the letters without their rings and strokes would.
    def draw(field: bytes) -> bytes:
        zpl = b"^XA^CI28^PW800^LL100^FO10,10^ADN,36,20" + field + b"^FS^XZ"
        return render_image(zpl).tobytes()

    escaped = draw(b"^FH^FD" + escape_field(text).encode("ascii"))
    assert escaped == draw(b"^FD" + text.encode("utf-8"))
    folded = text.translate(str.maketrans("åäöÅÄÖæøÆØ", "aaoAAOaoAO"))
    assert escaped != draw(b"^FD" + folded.encode("ascii"))


# --- ESC/POS ---------------------------------------------------------------------------------


def test_escpos_label_bytes(capsys):
    data = render_escpos_label(make_label(receiver=NORDIC_RECEIVER, parcel_id="JJD0001234567890"))
    capsys.readouterr()  # python-escpos says which barcode renderer it used
    # CODE128 through GS k, function B (73), length, "{B" and the parcel id.
    code = b"{BJJD0001234567890"
    assert b"\x1dh\x78\x1dw\x02" in data  # 120 dots high, 2-dot modules: 3 would not fit
    assert b"\x1dkI" + bytes([len(code)]) + code in data
    # Code page 437 (ESC t 0, selected first) has å at 0x86; Ø needs code page 865 (ESC t 13),
    # which python-escpos switches to: Ø 0x9D, Æ 0x92, ø 0x9B. ^ and ~ are plain text here.
    assert data.index(b"\x1bt\x00") < data.index(b"K\x86re")
    assert (
        b"\x1bE\x01K\x86re \x1bt\r\x9ddeg\x86rd ^XZ ~JR\n\x92r\x9bgade 5_b\n0150 Troms\x9b\n"
        in data
    )
    assert b"SSCC (00) " + SSCC.encode() in data
    assert b"2.36 kg" in data
    assert data.endswith(b"\x1dV\x00") or b"\x1dV" in data[-8:]  # cut


def test_escpos_label_narrows_the_barcode_or_refuses_one_that_cannot_fit():
    assert b"\x1dw\x03" in render_escpos_label(make_label(parcel_id="P-12345"))
    long_id = "X" * 20
    data = render_escpos_label(make_label(parcel_id=long_id), line_dots=576)
    assert b"\x1dw\x02" in data  # 2-dot modules
    with pytest.raises(ValueError, match="too long for a CODE128"):
        render_escpos_label(make_label(parcel_id=long_id), line_dots=384)
