"""A carrier's PDF label as ZPL for the label printer (issue 13 §2: nShift hands out PDF when the
account can't print ZPL).

Each page of the PDF is rasterised by PDFium (pypdfium2) in grey at the print head's resolution
(`dpmm` dots per mm; a PDF unit is 1/72 inch), shrunk to fit when it is wider than the label
stock (`width_mm`), thresholded to 1 bit (darker than `threshold` prints) and sent as one
``^GFA`` graphic field at the label's top left, a label (``^XA … ^XZ``) per page. Anti-aliasing
of paths is off so a barcode's bars come out whole dots, not grey edges that the threshold
would nibble at random.

The field's hex uses ZPL's ASCII compression, which every ZPL printer expands as it reads:
a run of one hex digit is a count (``G``–``Y`` 1–19, ``g``–``z`` 20–400) and the digit, a row
that ends white ends in ``,`` (``!`` when it ends black) and a row like the one above is ``:``.
A mostly white label shrinks most: the tests' 4×6" label at 8 dots/mm is 3.3 kB, not 240 kB of hex.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

__all__ = ["PdfLabelError", "ascii_compressed", "pdf_to_zpl"]

log = logging.getLogger(__name__)

# ASCII compression's repeat counts: G..Y say 1..19, g..z say 20, 40 … 400.
_ONES = "GHIJKLMNOPQRSTUVWXY"
_TWENTIES = "ghijklmnopqrstuvwxyz"
_MAX_RUN = 400
#: The longest label ZPL's ``^LL`` can say, in dots.
MAX_LENGTH_DOTS = 32000


class PdfLabelError(ValueError):
    """The bytes are no PDF that PDFium can read, or one without a page."""


def pdf_to_zpl(pdf: bytes, *, dpmm: int = 8, width_mm: float = 100, threshold: int = 128) -> bytes:
    """ZPL of every page of the PDF document `pdf`, one label a page, each the page's picture
    as a ``^GFA`` field for a print head of `dpmm` dots per mm on stock `width_mm` wide.

    Raises `PdfLabelError` when `pdf` can't be read or has no page.
    """
    # Imported here: PDFium is a native library (and pulls in subprocess); only a PDF label
    # needs it, and renderers load no such thing when imported (tests/core/test_no_io.py).
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(pdf)
    except pypdfium2.PdfiumError as err:
        log.warning("a PDF label PDFium can't read: %s", err)
        raise PdfLabelError(str(err)) from None
    try:
        if len(document) == 0:
            raise PdfLabelError("the PDF has no page")
        labels = []
        for page in document:
            try:
                labels.append(_page_label(page, dpmm, width_mm, threshold))
            finally:
                page.close()
    except pypdfium2.PdfiumError as err:
        log.warning("a PDF label page PDFium can't draw: %s", err)
        raise PdfLabelError(str(err)) from None
    finally:
        document.close()
    return "".join(labels).encode("ascii")


def _page_label(page: Any, dpmm: int, width_mm: float, threshold: int) -> str:
    width_pt, height_pt = page.get_size()
    head = dpmm * 25.4 / 72  # dots per PDF unit at the print head's resolution
    scale = min(head, width_mm * dpmm / width_pt) if width_pt > 0 else head
    # PDFium rounds a bitmap's size up: a hair less keeps 288 pt × 1200/288 at 1200 dots, not
    # 1201 (wider than the stock).
    scale *= 1 - 1e-9
    if height_pt * scale > MAX_LENGTH_DOTS:
        # Refused before it is drawn: no label printer feeds that much, and the bitmap would
        # be as big as the page is long.
        raise PdfLabelError(f"a page {height_pt:.0f} pt long is no label")
    bitmap = page.render(scale=scale, grayscale=True, no_smoothpath=True)
    try:
        width, height, stride = bitmap.width, bitmap.height, bitmap.stride
        if bitmap.n_channels != 1:
            raise PdfLabelError(f"PDFium drew {bitmap.n_channels} channels, not grey")
        grey = bytes(bitmap.buffer)
    finally:
        bitmap.close()
    row_bytes = (width + 7) // 8
    table = _threshold_table(threshold)
    pad = "0" * (row_bytes * 8 - width)
    rows = []
    for y in range(height):
        bits = grey[y * stride : y * stride + width].translate(table).decode("ascii") + pad
        rows.append(f"{int(bits, 2):0{row_bytes * 2}X}")
    total = row_bytes * height
    return (
        f"^XA^PW{width}^LL{height}^LH0,0"
        f"^FO0,0^GFA,{total},{total},{row_bytes},{ascii_compressed(rows)}^FS^XZ\n"
    )


@cache
def _threshold_table(threshold: int) -> bytes:
    """A grey value → the bit its dot prints, as an ASCII digit: "1" (black) when darker."""
    return bytes(ord("1") if value < threshold else ord("0") for value in range(256))


def ascii_compressed(rows: list[str]) -> str:
    """The hex `rows` of a graphic field (all of one length) in ZPL's ASCII compression."""
    out = []
    previous = None
    for row in rows:
        if row == previous:
            out.append(":")
            continue
        previous = row
        stripped = row.rstrip("0")
        end = ","
        if len(stripped) == len(row):
            stripped = row.rstrip("F")
            end = "!" if len(stripped) < len(row) else ""
        out.append(_runs(stripped) + end)
    return "".join(out)


def _runs(hex_digits: str) -> str:
    out = []
    i = 0
    while i < len(hex_digits):
        digit = hex_digits[i]
        j = i
        while j < len(hex_digits) and hex_digits[j] == digit:
            j += 1
        run = j - i
        while run > 0:
            take = min(run, _MAX_RUN)
            out.append(_count(take) + digit if take > 2 else digit * take)
            run -= take
        i = j
    return "".join(out)


def _count(n: int) -> str:
    twenties, ones = divmod(n, 20)
    return (_TWENTIES[twenties - 1] if twenties else "") + (_ONES[ones - 1] if ones else "")
