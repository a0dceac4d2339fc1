"""CODE128 symbols as inline SVG for kiosk pages (the bench's command sheet).

The bars come from the encoder the receipt printer's preview uses
(`rendering.escpos.code128_plan` / `code128_values`, drawn by `preview.code128_bars`), so a
barcode on the screen and the same one on paper carry the same symbols.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from stationd.devices.rendering.escpos import code128_plan, code128_values
from stationd.devices.rendering.preview import code128_bars

#: CODE128 wants ten modules of white each side.
QUIET_MODULES = 10


def code128_svg(data: str, *, module_px: int = 2, height_px: int = 64) -> Markup:
    """An inline SVG of `data` as CODE128 (set B, printable ASCII), `module_px` CSS pixels per
    module, with its quiet zones. Raises ValueError for text CODE128 set B can't carry."""
    bars = code128_bars(code128_values(code128_plan(data)))
    modules = bars[-1][0] + bars[-1][1] + 2 * QUIET_MODULES
    rects = "".join(
        f'<rect x="{QUIET_MODULES + start}" y="0" width="{width}" height="1"/>'
        for start, width in bars
    )
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="code128" data-code={quoteattr(data)} '
        f'width="{modules * module_px}" height="{height_px}" viewBox="0 0 {modules} 1" '
        f'preserveAspectRatio="none" shape-rendering="crispEdges" role="img">'
        f"<title>{escape(data)}</title>"
        f'<rect width="{modules}" height="1" fill="#fff"/><g fill="#000">{rects}</g></svg>'
    )
