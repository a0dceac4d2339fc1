"""An SVG picture of a receipt-printer document, for the kiosk: what was (or will be) printed.

It draws the very layout the ESC/POS renderer prints (`rendering.escpos.layout`): the same lines,
wrapped and aligned the same way, bold and double-size where the paper has them, and the
barcode as real CODE128 bars computed here from the same code sets the printer is told to use —
so a phone held to the screen scans the order number. A dashed line marks each cut.

All text is XML-escaped; a customer named ``<script>`` is just text in the picture.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from stationd.core.paper_blocks import PrintDocument
from stationd.devices.rendering.escpos import (
    DOTS_PER_CHAR,
    PaperCut,
    PaperItem,
    PrintedBarcode,
    PrintedLine,
    code128_values,
    layout,
)

__all__ = ["CODE128_PATTERNS", "code128_bars", "paper_svg", "preview_svg"]

#: Bar/space widths of the 107 CODE128 symbols, values 0–105 and the stop pattern (ISO/IEC
#: 15417, table 1). Each symbol starts with a bar.
CODE128_PATTERNS: tuple[str, ...] = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
)  # fmt: skip
_STOP = 106

FONT_PX = 16
CHAR_PX = FONT_PX * 0.6  # the advance of common monospace fonts
LINE_PX = 20
MARGIN_PX = 12
DOT_PX = CHAR_PX / DOTS_PER_CHAR  # one printer dot, so the barcode is as wide as on paper
FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, monospace"


def code128_bars(values: tuple[int, ...]) -> list[tuple[int, int]]:
    """The bars of a CODE128 symbol as (start, width) in modules, from its symbol values
    (start, data, check — as `rendering.escpos.code128_values` gives them); the stop follows."""
    bars: list[tuple[int, int]] = []
    x = 0
    for value in (*values, _STOP):
        for i, width in enumerate(CODE128_PATTERNS[value]):
            if i % 2 == 0:
                bars.append((x, int(width)))
            x += int(width)
    return bars


def _fmt(number: float) -> str:
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, *, size: int, bold: bool, anchor: str = "start") -> str:
    weight = ' font-weight="bold"' if bold else ""
    middle = ' text-anchor="middle"' if anchor == "middle" else ""
    # xml:space on each text: Chromium does not inherit it (nor white-space) from the root,
    # and the columns of a pick list are made of spaces.
    return (
        f'<text x="{_fmt(x)}" y="{_fmt(y)}" font-size="{size}"{weight}{middle}'
        f' xml:space="preserve">{escape(text)}</text>'
    )


def preview_svg(document: PrintDocument, *, width_chars: int = 42) -> str:
    """An SVG image (a complete document, UTF-8 text) of `document` as the receipt printer
    prints it on paper `width_chars` columns wide."""
    return paper_svg(
        layout(document, width_chars=width_chars),
        width_chars=width_chars,
        title=f"{document.kind.value} {document.order_id}",
    )


def paper_svg(items: Iterable[PaperItem], *, width_chars: int = 42, title: str = "") -> str:
    """An SVG image of printed `items` (lines, barcodes, cuts) on paper `width_chars` columns
    wide: the drawing of `preview_svg`, for items laid out here or read back from bytes."""
    paper_px = width_chars * CHAR_PX
    body: list[str] = []
    y = MARGIN_PX
    for item in items:
        if isinstance(item, PrintedLine):
            size, step = (2 * FONT_PX, 2 * LINE_PX) if item.large else (FONT_PX, LINE_PX)
            if item.text.strip():
                baseline = y + step * 0.78
                body.append(_text(MARGIN_PX, baseline, item.text, size=size, bold=item.bold))
            y += step
        elif isinstance(item, PrintedBarcode):
            values = code128_values(item.segments)
            module_px = item.module_dots * DOT_PX
            bars = code128_bars(values)
            total = bars[-1][0] + bars[-1][1]
            left = MARGIN_PX + (paper_px - total * module_px) / 2
            height = item.height_dots * DOT_PX
            rects = "".join(
                f'<rect x="{_fmt(left + start * module_px)}" y="{_fmt(y)}" '
                f'width="{_fmt(width * module_px)}" height="{_fmt(height)}"/>'
                for start, width in bars
            )
            body.append(f'<g class="barcode" data-code={quoteattr(item.data)}>{rects}</g>')
            y += height
            body.append(
                _text(
                    MARGIN_PX + paper_px / 2,
                    y + LINE_PX * 0.78,
                    item.data,
                    size=FONT_PX,
                    bold=False,
                    anchor="middle",
                )
            )
            y += LINE_PX
        elif isinstance(item, PaperCut):
            y += LINE_PX / 2
            body.append(
                f'<line class="cut" x1="0" y1="{_fmt(y)}" x2="{_fmt(paper_px + 2 * MARGIN_PX)}" '
                f'y2="{_fmt(y)}" stroke="#888" stroke-dasharray="6 4"/>'
            )
            y += LINE_PX / 2
    width, height = paper_px + 2 * MARGIN_PX, y + MARGIN_PX
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(width)}" height="{_fmt(height)}" '
        f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" role="img" xml:space="preserve">'
        f"<title>{escape(title)}</title>"
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<g fill="#000" font-family={quoteattr(FONT_FAMILY)} style="white-space:pre">'
        + "".join(body)
        + "</g></svg>"
    )
