"""An SVG picture of a shipping label, for the kiosk: the 4×6" label as the ZPL printer prints it.

:func:`label_svg` draws a :class:`~stationd.core.labels.ShippingLabel` with the layout
:func:`stationd.devices.rendering.zpl.render_zpl` prints (`label_layout.draw_label`: the same
fields at the same places, in millimetres, the SVG's user unit), with the parcel id as real
CODE128 bars and the SSCC, when there is one, as GS1-128 (FNC1 after the start character, then
"00" and the 18 digits), so a scanner held to the screen reads what the printed label will carry.

The bars come from the receipt preview's encoder (`rendering.escpos.code128_plan` and
`code128_values`, drawn with `preview.code128_bars`). All text is XML-escaped: a receiver named
``<script>`` is just text in the picture.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from stationd.core.labels import ShippingLabel
from stationd.devices.rendering.escpos import code128_plan, code128_values
from stationd.devices.rendering.label_layout import (
    MARGIN_MM,
    QUIET_MODULES,
    check_size,
    draw_label,
    scale_of,
)
from stationd.devices.rendering.preview import code128_bars

__all__ = ["gs1_128_values", "label_svg"]

FONT_FAMILY = "Arial Narrow, Roboto Condensed, DejaVu Sans Condensed, Arial, sans-serif"
_MIN_FONT_MM = 2.2  # the smallest text render_zpl shrinks a line to
_BASELINE = 0.8  # ZPL places a text's top; SVG its baseline, about 0.8 em below
_FNC1 = 102
_START_C = 105


def gs1_128_values(element_string: str) -> tuple[int, ...]:
    """The CODE128 symbol values of a GS1-128 symbol of an even number of digits: start C,
    FNC1, the digit pairs, and the check character (the stop pattern follows them)."""
    if len(element_string) % 2 or not element_string.isdigit():
        raise ValueError(f"A GS1-128 in code set C carries pairs of digits, not {element_string!r}")
    # code128_values gives start C, the pairs and a check; FNC1 goes in after the start.
    pairs = code128_values((("C", element_string),))[1:-1]
    values = (_START_C, _FNC1, *pairs)
    check = (values[0] + sum(i * value for i, value in enumerate(values) if i)) % 103
    return (*values, check)


def _fmt(number: float) -> str:
    return f"{number:.3f}".rstrip("0").rstrip(".")


def _estimated_width(text: str, size: float) -> float:
    """A generous estimate of ``text``'s width at ``size`` in a condensed sans-serif."""
    ems = 0.0
    for char in text:
        if char in "MWmw@%ÆŒæœ":
            ems += 0.85
        elif char in "iljfrtI!.,:;'|` ":
            ems += 0.3
        elif char.isupper() or char.isdigit():
            ems += 0.62
        else:
            ems += 0.52
    return ems * size


class _Svg:
    """SVG elements placed on the 100 × 150 mm design, scaled like render_zpl scales it: the
    `label_layout.LabelCanvas` of the preview."""

    def __init__(self, width_mm: float, height_mm: float) -> None:
        self.width_mm = width_mm
        self.scale = scale_of(width_mm, height_mm)
        self.inner_mm = width_mm - 2 * MARGIN_MM
        self.parts: list[str] = []

    def y(self, mm: float) -> float:
        return mm * self.scale

    def text(
        self,
        y_mm: float,
        height_mm: float,
        text: str,
        *,
        x_mm: float = MARGIN_MM,
        width_mm: float | None = None,
        align: str = "",
        role: str = "",
    ) -> None:
        """One line of text, its top at ``y_mm``; shrunk, then squeezed, to fit ``width_mm``.
        ``role`` becomes its CSS class."""
        if not text:
            return
        avail = width_mm if width_mm is not None else self.width_mm - x_mm - MARGIN_MM
        size = self.y(height_mm)
        estimate = _estimated_width(text, size)
        squeeze = ""
        if estimate > avail:
            fit = avail / estimate
            if fit < 0.7:  # like ZPL: condense to 70 %, then make the letters smaller too
                size = max(self.y(_MIN_FONT_MM), size * fit / 0.7)
            squeeze = f' textLength="{_fmt(avail)}" lengthAdjust="spacingAndGlyphs"'
        x, anchor = x_mm, ""
        if align == "R":
            x, anchor = x_mm + avail, ' text-anchor="end"'
        elif align == "C":
            x, anchor = x_mm + avail / 2, ' text-anchor="middle"'
        attr = f" class={quoteattr(role)}" if role else ""
        self.parts.append(
            f'<text{attr} x="{_fmt(x)}" y="{_fmt(self.y(y_mm) + size * _BASELINE)}"'
            f' font-size="{_fmt(size)}"{anchor}{squeeze}>{escape(text)}</text>'
        )

    def rule(self, y_mm: float) -> None:
        self.parts.append(
            f'<rect class="rule" x="{_fmt(MARGIN_MM)}" y="{_fmt(self.y(y_mm))}"'
            f' width="{_fmt(self.inner_mm)}" height="0.4"/>'
        )

    def barcode(
        self, y_mm: float, height_mm: float, values: tuple[int, ...], x_mm: float, **data: str
    ) -> None:
        """CODE128 bars of ``values``, centred, their module the widest up to ``x_mm`` that
        fits the label's width with the quiet zones."""
        bars = code128_bars(values)
        modules = bars[-1][0] + bars[-1][1]
        module = min(x_mm, self.width_mm / (modules + 2 * QUIET_MODULES))
        left = (self.width_mm - modules * module) / 2
        top, height = self.y(y_mm), self.y(height_mm)
        rects = "".join(
            f'<rect x="{_fmt(left + start * module)}" y="{_fmt(top)}"'
            f' width="{_fmt(width * module)}" height="{_fmt(height)}"/>'
            for start, width in bars
        )
        attrs = "".join(f" data-{key}={quoteattr(value)}" for key, value in data.items())
        self.parts.append(f'<g class="barcode"{attrs}>{rects}</g>')

    def code128(self, y_mm: float, height_mm: float, data: str, x_mm: float) -> None:
        values = code128_values(code128_plan(data, digits_in_c=True))
        self.barcode(y_mm, height_mm, values, x_mm, code=data, symbology="code128")

    def sscc(self, y_mm: float, height_mm: float, sscc: str, text: str, x_mm: float) -> None:
        values = gs1_128_values("00" + sscc)
        self.barcode(y_mm, height_mm, values, x_mm, code=text, symbology="gs1-128")


def label_svg(
    label: ShippingLabel, *, lang: str = "en", width_mm: float = 100, height_mm: float = 150
) -> str:
    """An SVG image (a complete document, text) of ``label`` as render_zpl lays it out on
    ``width_mm`` × ``height_mm`` stock (4×6", 100 × 150 mm, by default; at least 75 × 113).

    ``lang`` ("sv", "nb", "en") writes the weight; the captions are the label's. The SVG is
    ``width_mm`` mm wide, one user unit a millimetre; each barcode is a ``<g class="barcode">``
    of ``<rect>`` bars whose ``data-code`` is what it carries (``data-symbology``: "code128"
    or "gs1-128"). Raises ValueError for a label size render_zpl refuses.
    """
    check_size(width_mm, height_mm)
    out = _Svg(width_mm, height_mm)
    draw_label(label, out, lang)

    words = label.captions
    parcel = f"{words['parcel']} {label.parcel_number} {words['of']} {label.parcel_count}"
    title = f"{words['order']} {label.order_id} – {parcel}"
    w, h = _fmt(width_mm), _fmt(height_mm)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm"'
        f' viewBox="0 0 {w} {h}" role="img">'
        f"<title>{escape(title)}</title>"
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<g fill="#000" font-family={quoteattr(FONT_FAMILY)}>' + "".join(out.parts) + "</g></svg>"
    )
