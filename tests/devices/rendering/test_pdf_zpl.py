"""R16, issue 13 §2: a carrier's PDF label made ZPL (devices/rendering/pdf_zpl.py) — every
print head resolution, the field's ASCII compression read back dot for dot, and a PDF that
can't be read refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pdf_labels import PAGE_PT, box_dots, graphic_field, pdf_label

from stationd.devices.rendering.pdf_zpl import PdfLabelError, ascii_compressed, pdf_to_zpl
from stationd.devices.rendering.zpl import DPMM_TO_DPI


@pytest.mark.parametrize("dpmm", sorted(DPMM_TO_DPI))
def test_r16_a_pdf_label_fills_the_stock_width_at_every_print_head(dpmm):
    zpl = pdf_to_zpl(pdf_label(), dpmm=dpmm)
    width = 100 * dpmm  # 4" is wider than 100 mm at every resolution: shrunk to the stock
    total, row_bytes, dots = graphic_field(zpl)
    assert row_bytes == width // 8 and len(dots) == width * PAGE_PT[1] // PAGE_PT[0]
    assert zpl.startswith(f"^XA^PW{width}^LL{len(dots)}".encode()) and zpl.count(b"^XZ") == 1
    box = box_dots(dots, width / PAGE_PT[0])
    assert all(all(row) for row in box)
    assert sum(map(sum, dots)) < total * 8 // 4  # a white label with a box and a line on it


def test_r16_a_pdf_label_narrower_than_the_stock_keeps_the_print_heads_scale():
    zpl = pdf_to_zpl(pdf_label(), dpmm=8, width_mm=120)
    # 288 pt at 203.2 dpi is 812.8 dots (PDFium rounds up), not stretched to 960.
    assert zpl.startswith(b"^XA^PW813^LL1220")


@pytest.mark.parametrize(
    "bad",
    [
        b"%PDF-1.4 label",
        b"",
        b"%PDF-1.4\n" + b"\x00" * 64,
        pdf_label(page_pt=(288, 14400)),
    ],
    ids=["truncated", "empty", "zeros", "a page 5 m long"],
)
def test_r16_a_pdf_that_cant_be_read_is_refused(bad):
    with pytest.raises(PdfLabelError):
        pdf_to_zpl(bad)


# Up to 300 bytes a row: 100 mm at 24 dots/mm, runs past the longest count (400).
rows_of = st.integers(1, 300).flatmap(
    lambda row_bytes: st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "00" * row_bytes,
                    "FF" * row_bytes,
                    "1" + "0" * (2 * row_bytes - 2) + "1",
                    "0" + "F" * (2 * row_bytes - 2) + "0",
                ]
            ),
            st.text("0F8", min_size=2 * row_bytes, max_size=2 * row_bytes),
            st.text("0123456789ABCDEF", min_size=2 * row_bytes, max_size=2 * row_bytes),
        ),
        min_size=1,
        max_size=12,
    )
)


@given(rows_of)
def test_r16_the_ascii_compression_reads_back_dot_for_dot(rows):
    row_bytes = len(rows[0]) // 2
    total = row_bytes * len(rows)
    field = f"^GFA,{total},{total},{row_bytes},{ascii_compressed(rows)}^FS".encode()
    _, _, dots = graphic_field(field)
    bits = [[bit == "1" for bit in f"{int(row, 16):0{row_bytes * 8}b}"] for row in rows]
    assert dots == bits
