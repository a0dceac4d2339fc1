"""A core document (text blocks) as ZPL II, for a label printer: one label per section.

The shipping label has its own fixed layout (`zpl.render_zpl`); any other document — a
printer's test page — is set here block by block down the label, with the same ZPL building
blocks (`zpl._Label`: UTF-8 fields in ``^FH`` hex escapes, font 0 shrunk to fit, CODE128 with
its subsets chosen here), so å ä ö æ ø and a ``^`` typed by someone print as themselves.
"""

from __future__ import annotations

import textwrap

from stationd.core.paper_blocks import (
    Barcode,
    Fields,
    Heading,
    Paragraph,
    PrintDocument,
    Rule,
    Table,
    Totals,
)
from stationd.devices.rendering.zpl import _MARGIN_MM, DPMM_TO_DPI, _code128_field, _Label

__all__ = ["render_zpl_document"]

_LINE_MM = {"heading": 7.0, "text": 4.0}
_GAP_MM = 1.2
_BARCODE_MM = 14.0
_BARCODE_X_MM = 0.375


def render_zpl_document(
    document: PrintDocument, *, dpmm: int = 8, width_mm: float = 100, height_mm: float = 150
) -> bytes:
    """`document` as ZPL II (ASCII bytes): one ``^XA`` … ``^XZ`` format per section.

    ``dpmm`` is the print head's resolution (6, 8, 12 or 24 dots per mm), ``width_mm`` ×
    ``height_mm`` the label stock. Raises ValueError for another resolution or for a section
    that does not fit on one label.
    """
    if dpmm not in DPMM_TO_DPI:
        raise ValueError(f"A ZPL printer prints at 6, 8, 12 or 24 dots per mm, not {dpmm}.")
    formats = []
    for section in document.sections():
        label = _Label(dpmm, width_mm, height_mm)
        y = _MARGIN_MM
        for block in section.blocks:
            y = _place(label, block, y)
        if y > height_mm / label.scale - _MARGIN_MM:
            raise ValueError(f"The document is longer than one {width_mm} × {height_mm} mm label.")
        formats.append(label.zpl())
    return b"".join(formats)


def _lines(label: _Label, y: float, texts: list[str], *, align: str = "") -> float:
    # Wrapped rather than shrunk: font 0 at 4 mm holds about this many characters a line.
    width = max(16, int(label.inner_mm / (_LINE_MM["text"] * 0.55)))
    for line in (part for text in texts for part in textwrap.wrap(text, width) or [""]):
        label.text(y, _LINE_MM["text"], line, width_mm=label.inner_mm, align=align)
        y += _LINE_MM["text"] + _GAP_MM
    return y


def _place(label: _Label, block: object, y: float) -> float:
    """Put one block on the label at `y` (mm of the 100 × 150 design); returns the next y."""
    match block:
        case Heading(text=text):
            label.text(y, _LINE_MM["heading"], text, width_mm=label.inner_mm, align="C")
            return y + _LINE_MM["heading"] + 2 * _GAP_MM
        case Paragraph(lines=lines, align=align):
            return _lines(label, y, list(lines), align={"center": "C", "right": "R"}.get(align, ""))
        case Fields(rows=rows):
            return _lines(label, y, [f"{name}: {value}" for name, value in rows])
        case Table(columns=columns, rows=rows):
            header = "  ".join(column.header for column in columns)
            return _lines(label, y, [header, *("  ".join(row) for row in rows)])
        case Totals(rows=rows):
            return _lines(label, y, [f"{name}  {value}" for name, value in rows], align="R")
        case Barcode(data=data):
            field, modules = _code128_field(data)
            label.barcode128(y, _BARCODE_MM, field, modules, _BARCODE_X_MM)
            y += _BARCODE_MM + _GAP_MM
            label.text(y, _LINE_MM["text"], data, width_mm=label.inner_mm, align="C")
            return y + _LINE_MM["text"] + 2 * _GAP_MM
        case Rule():
            label.rule(y)
            return y + 2 * _GAP_MM
    raise TypeError(f"no ZPL layout for {block!r}")
