"""Where each part of a shipping label goes: the one layout the printer and the preview share.

`draw_label` places a :class:`~stationd.core.labels.ShippingLabel` on a `LabelCanvas` in
millimetres of the 100 × 150 mm (4×6") design: sender, receiver, carrier, "parcel n of m",
order and weight, the parcel id as CODE128 and, when there is one, the SSCC as GS1-128 with
its human-readable line. The ZPL renderer (`zpl.render_zpl`) and the kiosk's SVG picture
(`label_preview.label_svg`) are two canvases, so what the screen shows is where the printer
prints it: a position changed here changes both.
"""

from __future__ import annotations

from typing import Protocol

from stationd.core.labels import ShippingLabel

__all__ = [
    "MARGIN_MM",
    "MIN_SCALE",
    "PARCEL_X_MM",
    "QUIET_MODULES",
    "SSCC_X_MM",
    "LabelCanvas",
    "check_size",
    "draw_label",
    "scale_of",
]

#: The layout is drawn for 100 × 150 mm and scaled for other sizes down to this factor.
MIN_SCALE = 0.75
MARGIN_MM = 4.0
QUIET_MODULES = 10  # CODE128 needs ten modules of white on either side
PARCEL_X_MM = 0.375  # the carriers' usual X dimension for a parcel id CODE128
SSCC_X_MM = 0.5  # GS1 logistic label: X between 0.495 and 1.016 mm


def scale_of(width_mm: float, height_mm: float) -> float:
    """How much the 100 × 150 mm design is scaled to fit `width_mm` × `height_mm` stock."""
    return min(width_mm / 100, height_mm / 150)


def check_size(width_mm: float, height_mm: float) -> None:
    """Raise ValueError for label stock the layout can't be scaled to (below 75 × 113 mm)."""
    if scale_of(width_mm, height_mm) < MIN_SCALE:
        raise ValueError(
            f"A shipping label needs at least 75 × 113 mm; {width_mm} × {height_mm} mm is too"
            " small."
        )


class LabelCanvas(Protocol):
    """What `draw_label` draws on. Vertical positions and sizes are in millimetres of the
    100 × 150 mm design (the canvas scales them); horizontal ones in millimetres of the stock.
    `role` names what a text is ("sender", "parcel-id"…; "" for a caption), for a canvas
    that marks it."""

    @property
    def inner_mm(self) -> float:
        """The printable width between the margins."""
        ...

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
        """One line of text, its top at `y_mm`, shrunk to fit; `align` "", "C" or "R"."""
        ...

    def rule(self, y_mm: float) -> None:
        """A horizontal line across the printable width."""
        ...

    def code128(self, y_mm: float, height_mm: float, data: str, x_mm: float) -> None:
        """`data` as CODE128, centred, its module the widest up to `x_mm` that fits."""
        ...

    def sscc(self, y_mm: float, height_mm: float, sscc: str, text: str, x_mm: float) -> None:
        """The 18-digit `sscc` as GS1-128 (AI 00); `text` is its human-readable form."""
        ...


def draw_label(label: ShippingLabel, out: LabelCanvas, lang: str) -> None:
    """Draw `label` on `out` with its captions, the weight written as `lang` writes it."""
    words = label.captions
    half = out.inner_mm / 2

    sender = label.sender
    out.text(3, 2.5, f"{words['from']}:")
    out.text(6, 3.5, sender.name, role="sender")
    for i, line in enumerate(sender.address_lines):
        out.text(10 + 3.2 * i, 2.8, line, role="sender")
    out.rule(21)

    receiver = label.receiver
    out.text(23, 3, f"{words['to']}:")
    out.text(27, 6, receiver.name, role="receiver")
    out.text(34.5, 5, receiver.street, role="receiver")
    out.text(41, 6, f"{receiver.postcode} {receiver.city}", role="receiver")
    out.text(48.5, 4.5, receiver.country, role="receiver")
    out.rule(55)

    right = MARGIN_MM + half
    parcel = f"{words['parcel']} {label.parcel_number} {words['of']} {label.parcel_count}"
    out.text(57, 4, label.carrier, width_mm=half, role="carrier")
    out.text(57, 4, parcel, x_mm=right, width_mm=half, align="R", role="parcel")
    out.text(62.5, 4, f"{words['order']} {label.order_id}", width_mm=half, role="order")
    weight = label.weight_text(lang)
    out.text(62.5, 4, weight, x_mm=right, width_mm=half, align="R", role="weight")
    out.rule(68.5)

    out.code128(71, 24, label.parcel_id, PARCEL_X_MM)
    out.text(96.5, 4.5, label.parcel_id, width_mm=out.inner_mm, align="C", role="parcel-id")

    if label.sscc is not None:
        out.rule(104)
        out.text(106, 3, "SSCC")
        out.sscc(110, 30, label.sscc, label.sscc_text(), SSCC_X_MM)
        out.text(141.5, 4, label.sscc_text(), width_mm=out.inner_mm, align="C", role="sscc")
