"""A carrier's PDF label, written by hand (no PDF library in the project): a 4×6" page with a
solid black box where a barcode would be, and a line of text — what nShift sends to an account
that prints PDF. And the reading back of a ZPL ``^GFA`` field the station made of it."""

from __future__ import annotations

import re

#: The page, 4×6" in PDF units (1/72 inch), and the black box on it: left, bottom, width,
#: height (PDF's origin is the page's bottom left).
PAGE_PT = (288, 432)
BOX_PT = (36, 300, 144, 72)


def pdf_label(text: str = "PARCEL 1042", page_pt: tuple[int, int] = PAGE_PT) -> bytes:
    """A one-page PDF 1.4 label `page_pt` large: `BOX_PT` filled black, `text` in Helvetica
    beneath it."""
    x, y, w, h = BOX_PT
    content = f"0 0 0 rg {x} {y} {w} {h} re f BT /F1 18 Tf 36 250 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_pt[0]} {page_pt[1]}] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def box_dots(dots: list[list[bool]], dots_per_pt: float) -> list[list[bool]]:
    """The dots of a label drawn at `dots_per_pt` that lie inside `BOX_PT` (one dot in from its
    edges, where rounding may fall either way)."""
    x, y, w, h = BOX_PT
    left, right = round(x * dots_per_pt) + 1, round((x + w) * dots_per_pt) - 1
    top = round((PAGE_PT[1] - y - h) * dots_per_pt) + 1
    bottom = round((PAGE_PT[1] - y) * dots_per_pt) - 1
    return [row[left:right] for row in dots[top:bottom]]


_ONES = "GHIJKLMNOPQRSTUVWXY"
_TWENTIES = "ghijklmnopqrstuvwxyz"
GFA = re.compile(rb"\^GFA,(\d+),(\d+),(\d+),([^\^]*)")


def graphic_field(zpl: bytes) -> tuple[int, int, list[list[bool]]]:
    """The first ``^GFA`` field of `zpl`: its total bytes, bytes a row, and its dots (True is
    black), its ASCII compression expanded as a printer reads it (Zebra's ZPL manual, ``^GF``)."""
    match = GFA.search(zpl)
    assert match, "no ^GFA field"
    total, _, row_bytes, data = int(match[1]), int(match[2]), int(match[3]), match[4].decode()
    width = row_bytes * 2
    rows: list[str] = []
    row, count, i = "", 0, 0
    while i < len(data):
        char = data[i]
        i += 1
        if char in _ONES:
            count += _ONES.index(char) + 1
        elif char in _TWENTIES:
            count += (_TWENTIES.index(char) + 1) * 20
        elif char in ",!":
            row = row.ljust(width, "0" if char == "," else "F")
        elif char == ":":
            row = rows[-1]
        elif char in "0123456789ABCDEF":
            row += char * (count or 1)
            count = 0
        elif char in "\r\n":
            continue
        else:
            raise AssertionError(f"{char!r} in a ^GFA field")
        if len(row) >= width:
            assert len(row) == width, "a row longer than the field says"
            rows.append(row)
            row = ""
    assert row == "" and len(rows) * row_bytes == total, "the field's size does not add up"
    dots = [[bit == "1" for bit in f"{int(r, 16):0{row_bytes * 8}b}"] for r in rows]
    return total, row_bytes, dots
