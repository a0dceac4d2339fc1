"""A shipping label as printer bytes: ZPL II for label printers, ESC/POS for receipt-style ones.

:func:`render_zpl` lays a :class:`~stationd.core.labels.ShippingLabel` out on a 4×6" (100 × 150
mm) label: sender, receiver, carrier, "parcel n of m", order and weight as text, the parcel id
as CODE128, and — when the parcel has one — the SSCC as GS1-128 with its human-readable line.
Text is sent as UTF-8 (``^CI28``) in ``^FH`` hex escapes, so å ä ö æ ø and a ``^`` or ``~`` in
a customer's name print as typed instead of being read as ZPL commands.

:func:`render_escpos_label` prints the same facts on a receipt-style label printer through
python-escpos, whose code-page handling prints the Nordic letters.

Both are pure functions of the label: the printer objects only carry the bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from stationd.core.labels import ShippingLabel
from stationd.devices.rendering.escpos import PaperBytes
from stationd.devices.rendering.label_layout import (
    MARGIN_MM,
    QUIET_MODULES,
    check_size,
    draw_label,
    scale_of,
)

__all__ = ["DPMM_TO_DPI", "escape_field", "render_escpos_label", "render_zpl"]

DPMM_TO_DPI: Mapping[int, int] = {6: 152, 8: 203, 12: 300, 24: 600}
"""Print head resolutions ZPL printers come in: dots per mm → dots per inch."""

_MAX_MODULE_DOTS = 10  # ^BY accepts 1 to 10
_MARGIN_MM = MARGIN_MM  # the name zpl_document knows it by

# ^FH escapes every byte outside this set; "_" is ^FH's own indicator, "^" and "~" are the
# ZPL command prefixes, and "\" is a control character inside ^FB field blocks.
_SAFE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !\"#$%&'()*+,-./:;<=>?@[]{}|`"
)

# Font 0 (CG Triumvirate Bold Condensed) widths in ems, measured and rounded up, so that the
# estimate errs on the wide side and a line never runs off the label.
_WIDE = frozenset("MWmw@%ÆŒæœ")
_NARROW = frozenset("iljfrtI!.,:;'|` ")


def escape_field(text: str) -> str:
    """``text`` as ``^FH`` field data: UTF-8 bytes outside a safe ASCII set as ``_XX``.

    ``"Kåre ^1"`` → ``"K_C3_A5re _5E1"``. Use after ``^FH`` in a format that selected ``^CI28``.
    """
    return "".join(chr(b) if b in _SAFE else f"_{b:02X}" for b in text.encode("utf-8"))


def _ems(text: str) -> float:
    total = 0.0
    for char in text:
        if char in _WIDE:
            total += 0.85
        elif char in _NARROW:
            total += 0.3
        elif char.isupper() or char.isdigit():
            total += 0.62
        else:
            total += 0.52
    return max(total, 0.5)


def _code128_modules(data: str) -> int:
    """The modules of ``data`` as CODE128 all in subset B (as python-escpos's ``{B`` sends it)."""
    return 11 * (len(data) + 2) + 13  # start, data, check digit at 11 modules; stop at 13


def _code128_field(data: str) -> tuple[str, int]:
    """``data`` as ``^BC`` mode-N field data with the subsets chosen here, and its modules.

    Runs of four or more digits go to subset C, two digits a symbol (the first digit of an odd
    run stays in subset B); the rest is subset B. ZPL's invocation codes say so: ``>:`` start
    B, ``>;`` start C, ``>5`` code C, ``>6`` code B. Choosing the subsets here rather than with
    ^BC mode A makes the symbol's width known before it is placed, whichever ZPL firmware (or
    emulation) prints it. ``data`` must not contain ``>``.
    """
    parts: list[str] = []
    symbols, subset = 0, ""

    def switch(to: str) -> None:
        nonlocal symbols, subset
        if subset != to:
            if subset:
                parts.append(">5" if to == "C" else ">6")
                symbols += 1
            else:
                parts.append(">;" if to == "C" else ">:")
            subset = to

    for run in re.findall(r"[0-9]{4,}|[^0-9]+|[0-9]{1,3}", data):
        if run[0].isdigit() and len(run) >= 4:
            if len(run) % 2:
                switch("B")
                parts.append(run[0])
                symbols += 1
                run = run[1:]
            switch("C")
            symbols += len(run) // 2
        else:
            switch("B")
            symbols += len(run)
        parts.append(run)
    return "".join(parts), 11 * (symbols + 2) + 13  # + start and check; stop is 13 modules


class _Label:
    """ZPL commands placed in millimetres, converted to dots for one print head: the
    `label_layout.LabelCanvas` of the printed label."""

    def __init__(self, dpmm: int, width_mm: float, height_mm: float) -> None:
        self.dpmm = dpmm
        self.width_mm = width_mm
        self.scale = scale_of(width_mm, height_mm)
        self.parts: list[str] = [
            "^XA",
            "^CI28",  # field data is UTF-8
            f"^PW{self.dots(width_mm)}",
            f"^LL{self.dots(height_mm)}",
            "^LH0,0",
        ]

    def dots(self, mm: float) -> int:
        return round(mm * self.dpmm)

    def y(self, mm: float) -> int:
        """A vertical position or size of the 100 × 150 mm design, on this label."""
        return self.dots(mm * self.scale)

    @property
    def inner_mm(self) -> float:
        return self.width_mm - 2 * MARGIN_MM

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
        """One line of font-0 text, shrunk (and then condensed) until it fits ``width_mm``;
        ``role`` (what the text is) is for the preview: ZPL has no use for it."""
        if not text:
            return
        avail = self.dots(width_mm if width_mm is not None else self.width_mm - x_mm - MARGIN_MM)
        height = self.y(height_mm)
        min_height = self.y(2.2)
        ems = _ems(text)
        width = height
        if ems * height > avail:
            width = math.floor(avail / ems)
            if width < 0.7 * height:
                height = max(min_height, math.floor(width / 0.7))
        block = f"^FB{avail},1,0,{align},0" if align else ""
        self.parts.append(
            f"^FO{self.dots(x_mm)},{self.y(y_mm)}{block}^A0N,{height},{max(width, 1)}"
            f"^FH^FD{escape_field(text)}^FS"
        )

    def rule(self, y_mm: float) -> None:
        thickness = max(2, self.dots(0.4))
        self.parts.append(
            f"^FO{self.dots(MARGIN_MM)},{self.y(y_mm)}"
            f"^GB{self.dots(self.inner_mm)},{thickness},{thickness}^FS"
        )

    def barcode128(
        self, y_mm: float, height_mm: float, field: str, modules: int, x_mm: float
    ) -> None:
        """A CODE128 ``^BC`` symbol of ``modules``, centred, its module the widest up to
        ``x_mm`` that fits with its quiet zones."""
        avail = self.dots(self.width_mm)
        module = min(_MAX_MODULE_DOTS, max(1, round(x_mm * self.dpmm)))
        while module > 1 and (modules + 2 * QUIET_MODULES) * module > avail:
            module -= 1
        left = max(0, (avail - modules * module) // 2)
        # ^BC: orientation N, height, no interpretation line (printed as text instead, in the
        # label's font and, for GS1, with the (00) parentheses), no line above, no UCC check
        # digit, mode N: the field's invocation codes choose the subsets.
        self.parts.append(
            f"^FO{left},{self.y(y_mm)}^BY{module},3^BCN,{self.y(height_mm)},N,N,N,N^FD{field}^FS"
        )

    def code128(self, y_mm: float, height_mm: float, data: str, x_mm: float) -> None:
        field, modules = _code128_field(data)
        self.barcode128(y_mm, height_mm, field, modules, x_mm)

    def sscc(self, y_mm: float, height_mm: float, sscc: str, text: str, x_mm: float) -> None:
        # Start in subset C (>;), FNC1 (>8) makes it GS1-128, then AI 00 and the 18 digits:
        # 10 digit pairs, so the symbol is start, FNC1, 10 pairs, check and stop.
        self.barcode128(y_mm, height_mm, f">;>800{sscc}", 11 * 13 + 13, x_mm)

    def zpl(self) -> bytes:
        return "".join([*self.parts, "^XZ"]).encode("ascii")


def render_zpl(
    label: ShippingLabel,
    *,
    dpmm: int = 8,
    width_mm: float = 100,
    height_mm: float = 150,
    lang: str = "en",
) -> bytes:
    """The label as one ZPL II format (``^XA`` … ``^XZ``), ASCII bytes.

    ``dpmm`` is the print head's resolution (6, 8, 12 or 24 dots per mm: 152 to 600 dpi);
    ``width_mm`` × ``height_mm`` the label stock, 100 × 150 (4×6") by default, at least 75 ×
    113. ``lang`` ("sv", "nb", "en") writes the weight; the captions are the label's. Raises
    ValueError for any other size or resolution.
    """
    if dpmm not in DPMM_TO_DPI:
        raise ValueError(f"A ZPL printer prints at 6, 8, 12 or 24 dots per mm, not {dpmm}.")
    check_size(width_mm, height_mm)
    out = _Label(dpmm, width_mm, height_mm)
    draw_label(label, out, lang)
    return out.zpl()


def render_escpos_label(
    label: ShippingLabel,
    *,
    lang: str = "en",
    profile: str | None = None,
    line_dots: int = 576,
) -> bytes:
    """The label for a receipt-style label printer speaking ESC/POS, as python-escpos bytes.

    ``profile`` is a python-escpos printer profile (its code pages decide how å ä ö æ ø are
    sent); ``line_dots`` the printable width (576 on 80 mm paper, 384 on 58 mm), which sets
    the CODE128 module width. The SSCC is printed as text: GS1-128 is not needed here.
    Raises ValueError when the parcel id's barcode can't fit the line.
    """
    words = label.captions
    printer = PaperBytes(profile=profile)
    sender, receiver = label.sender, label.receiver

    printer.set(align="left", font="a", bold=False, normal_textsize=True)
    printer.textln(f"{words['from']}: {sender.name}")
    for line in sender.address_lines:
        printer.textln(line)
    printer.ln()
    printer.textln(f"{words['to']}:")
    printer.set(bold=True, double_height=True, double_width=False)
    printer.textln(receiver.name)
    printer.textln(receiver.street)
    printer.textln(f"{receiver.postcode} {receiver.city}")
    printer.textln(receiver.country)
    printer.set(bold=False, normal_textsize=True)
    printer.ln()
    if label.carrier:
        printer.textln(label.carrier)
    printer.textln(f"{words['parcel']} {label.parcel_number} {words['of']} {label.parcel_count}")
    printer.textln(f"{words['order']} {label.order_id}")
    if label.weight_g is not None:
        printer.textln(label.weight_text(lang))
    printer.ln()

    modules = _code128_modules(label.parcel_id) + 2 * QUIET_MODULES
    width = next((w for w in (3, 2) if modules * w <= line_dots), None)
    if width is None:
        raise ValueError(
            f"Parcel id {label.parcel_id} is too long for a CODE128 on a {line_dots}-dot line;"
            " print this label on the ZPL printer."
        )
    # "{B" selects CODE128 subset B, which python-escpos requires as the data's prefix.
    printer.barcode(
        "{B" + label.parcel_id,
        "CODE128",
        height=120,
        width=width,
        pos="BELOW",
        function_type="B",
    )
    printer.set(align="left")
    if label.sscc is not None:
        printer.ln()
        printer.textln("SSCC " + label.sscc_text())
    printer.cut()
    return bytes(printer.output)
