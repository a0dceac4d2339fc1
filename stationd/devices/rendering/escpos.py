"""Core documents → the bytes an ESC/POS receipt printer prints, through python-escpos's encoder.

Two steps. `layout()` sets a document's text blocks on paper `width_chars` columns wide (font A:
42 columns on 80 mm paper, 32 on 58 mm) as printed lines, barcodes and cuts; the SVG preview
draws that same layout, so the kiosk shows what the printer got. `render()` turns the layout
into ESC/POS with python-escpos's command encoder writing into memory (`PaperBytes`).

Code page, deliberately: after ESC @ the printer's code page and international character set
are its power-on defaults, which vary by model and by DIP switch. `render()` therefore sends
ESC R 0 (the USA set, so ``[ ] { } \\ @ $`` print as themselves; Nordic printers are often
switched to the Swedish or Norwegian set, which puts Å Ä Ö Æ Ø on those bytes) and ESC t n for
the code page, CP865 "Nordic" by default: it holds å ä ö Å Ä Ö æ ø Æ Ø and é ü, and nearly
every ESC/POS printer has it (n = 5 on Epson and most clones; n is taken from the python-escpos
printer profile). Characters outside the code page are replaced by a readable stand-in
("€" → "EUR", "–" → "-", "ł" → "l") instead of printing as "?".

Text from customers (names, comments) never reaches the printer as control bytes: every control
character is replaced before layout, so a comment cannot cut the paper or open the drawer.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from escpos.codepages import CodePages
from escpos.constants import ESC
from escpos.escpos import Escpos

from stationd.core.paper_blocks import (
    Barcode,
    Block,
    Fields,
    Heading,
    Paragraph,
    PrintDocument,
    Rule,
    Table,
    Totals,
)

__all__ = [
    "DEFAULT_CODEPAGE",
    "DOTS_PER_CHAR",
    "PaperBytes",
    "PaperCut",
    "PaperItem",
    "PrintedBarcode",
    "PrintedLine",
    "code128_plan",
    "code128_values",
    "encode_text",
    "layout",
    "render",
]

log = logging.getLogger(__name__)

DEFAULT_CODEPAGE = "CP865"
#: Font A is 12 dots wide: 42 columns fill the 504 dots of 80 mm paper, 32 the 384 of 58 mm.
DOTS_PER_CHAR = 12
BARCODE_HEIGHT_DOTS = 80  # 10 mm at 203 dpi: an easy target for a hand scanner
# CODE128 wants ten modules of white each side: the paper's unprintable margins (4 mm each side
# of 80 mm paper, 32 dots) give that at up to 3 dots a module, so the symbol may fill the width.
_MIN_FLEX = 16  # narrower than this, a table's wrapping column gets its own line
INTERNATIONAL_USA = ESC + b"R\x00"


class PaperBytes(Escpos):
    """python-escpos's command encoder writing into memory, as its `Dummy` printer does.

    Not `Dummy` itself: importing `escpos.printer` loads pyserial, pyusb and socket for the
    real printers, and this package does no I/O (tests/core/test_no_io.py)."""

    def __init__(self, profile: str | None = None) -> None:
        super().__init__(profile=profile)
        self._chunks: list[bytes] = []

    def _raw(self, msg: bytes) -> None:
        self._chunks.append(msg)

    @property
    def output(self) -> bytes:
        """Every byte written so far."""
        return b"".join(self._chunks)


# --- the layout ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrintedLine:
    """One printed line, already aligned with spaces; `large` is double width and height, so
    it holds half as many characters."""

    text: str
    bold: bool = False
    large: bool = False


@dataclass(frozen=True, slots=True)
class PrintedBarcode:
    """A CODE128 symbol, centred, its text printed below it (HRI).

    `segments` are the code sets and their characters, e.g. (("B", "ORD-"), ("C", "1042"));
    `module_dots` is the narrowest bar in printer dots.
    """

    data: str
    segments: tuple[tuple[str, str], ...]
    module_dots: int
    height_dots: int = BARCODE_HEIGHT_DOTS


@dataclass(frozen=True, slots=True)
class PaperCut:
    """Feed and cut: the end of one piece of paper."""


PaperItem = PrintedLine | PrintedBarcode | PaperCut


def _clean(text: str) -> str:
    """NFC (a decomposed "å" from a web form becomes one letter) and no control characters."""
    if text.isprintable() and (text.isascii() or unicodedata.is_normalized("NFC", text)):
        return text
    out = []
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if category == "Cf":
            continue  # zero-width joiners, soft hyphens, direction marks
        out.append(" " if category[0] == "C" or category in ("Zl", "Zp") else char)
    return "".join(out)


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap at spaces, long words broken. Only " " breaks a line: a no-break
    space keeps an amount like "1 234,50 kr" whole."""
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line = f"{line} {word}"
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines or [""]


def _aligned(text: str, width: int, align: str) -> str:
    if align == "center":
        return text.center(width).rstrip()
    if align == "right":
        return text.rjust(width)
    return text


def _pad(text: str, width: int, align: str) -> str:
    return text.rjust(width) if align == "right" else text.ljust(width)


def _table(table: Table, width: int) -> list[PrintedLine]:
    columns = table.columns
    rows = [tuple(_clean(cell) for cell in row) for row in table.rows]
    flex = next((i for i, col in enumerate(columns) if col.flex), len(columns) - 1)
    widths = [
        max([len(col.header), *(len(row[i]) for row in rows)]) for i, col in enumerate(columns)
    ]
    others = sum(w for i, w in enumerate(widths) if i != flex) + len(columns) - 1
    stacked = width - others < _MIN_FLEX
    widths[flex] = width if stacked else width - others

    def lines_of(cells: tuple[str, ...], bold: bool) -> list[PrintedLine]:
        flex_lines = _wrap(cells[flex], widths[flex])
        if stacked:
            rest = " ".join(
                _pad(cell, widths[i], columns[i].align) for i, cell in enumerate(cells) if i != flex
            )
            texts = [*flex_lines, *(part.rjust(width) for part in _wrap(rest.strip(), width))]
        else:
            first = [
                _pad(flex_lines[0] if i == flex else cell, widths[i], columns[i].align)
                for i, cell in enumerate(cells)
            ]
            offset = sum(widths[:flex]) + flex
            texts = [" ".join(first)] + [" " * offset + more for more in flex_lines[1:]]
        return [PrintedLine(text.rstrip(), bold=bold) for text in texts]

    printed = lines_of(tuple(_clean(col.header) for col in columns), bold=True)
    printed.append(PrintedLine("-" * width))
    for row in rows:
        printed += lines_of(row, bold=False)
    return printed


def _block(block: Block, width: int) -> list[PaperItem]:
    match block:
        case Heading(text=text):
            half = width // 2
            return [
                PrintedLine(part.center(half).rstrip(), bold=True, large=True)
                for part in _wrap(_clean(text), half)
            ]
        case Paragraph(lines=lines, align=align, bold=bold):
            return [
                PrintedLine(_aligned(part, width, align), bold=bold)
                for line in lines
                for part in _wrap(_clean(line), width)
            ]
        case Fields(rows=rows):
            cleaned = [(_clean(label) + ":", _clean(value)) for label, value in rows]
            label_width = max((len(label) for label, _ in cleaned), default=0) + 1
            if label_width > width // 2:
                label_width = 0  # labels too long to share a line: values go under them
            printed = []
            for label, value in cleaned:
                parts = _wrap(value, width - label_width) if value else [""]
                if label_width:
                    printed.append(PrintedLine(f"{label.ljust(label_width)}{parts[0]}".rstrip()))
                    printed += [PrintedLine(" " * label_width + part) for part in parts[1:]]
                else:
                    printed.append(PrintedLine(label))
                    printed += [PrintedLine(part) for part in parts if part]
            return printed
        case Table():
            return list(_table(block, width))
        case Totals(rows=rows, strong=strong):
            printed = []
            for i, (label, value) in enumerate(rows):
                label, value = _clean(label), _clean(value)
                if len(label) + 1 + len(value) <= width:
                    texts = [label + value.rjust(width - len(label))]
                else:
                    texts = [*_wrap(label, width), value.rjust(width)]
                printed += [PrintedLine(text, bold=i in strong) for text in texts]
            return printed
        case Barcode(data=data):
            return [_barcode(data, width), PrintedLine("")]
        case Rule():
            return [PrintedLine("-" * width)]
    raise TypeError(f"no layout for {block!r}")  # pragma: no cover - Block is a closed union


def layout(document: PrintDocument, *, width_chars: int = 42) -> tuple[PaperItem, ...]:
    """Set `document` on paper `width_chars` columns wide; a cut ends each of its sections."""
    if width_chars < 16:
        raise ValueError(f"a receipt printer has at least 16 columns, not {width_chars}")
    items: list[PaperItem] = []
    for section in document.sections():
        for block in section.blocks:
            items += _block(block, width_chars)
        items.append(PaperCut())
    return tuple(items)


# --- CODE128 ---------------------------------------------------------------------------------

_START = {"A": 103, "B": 104, "C": 105}
_SWITCH = {"A": 101, "B": 100, "C": 99}


def code128_plan(data: str, *, digits_in_c: bool = False) -> tuple[tuple[str, str], ...]:
    """Code sets for `data`: all in set B, or with `digits_in_c` a trailing run of four or more
    digits in set C (two digits per symbol), which makes long order numbers narrower."""
    if not data or any(not 32 <= ord(char) <= 126 for char in data):
        raise ValueError(f"CODE128 set B carries printable ASCII only, not {data!r}")
    if digits_in_c:
        head = data.rstrip("0123456789")
        run = len(data) - len(head)
        if run >= 4:
            if run % 2:
                head, run = data[: len(head) + 1], run - 1
            tail = data[len(data) - run :]
            return (("B", head), ("C", tail)) if head else (("C", tail),)
    return (("B", data),)


def code128_values(segments: tuple[tuple[str, str], ...]) -> tuple[int, ...]:
    """The symbol values of a CODE128 symbol: start, data (with code set switches), check
    character. The stop pattern follows them."""
    values: list[int] = []
    for code_set, chars in segments:
        values.append(_SWITCH[code_set] if values else _START[code_set])
        if code_set == "C":
            values += [int(chars[i : i + 2]) for i in range(0, len(chars), 2)]
        else:
            values += [ord(char) - 32 for char in chars]
    check = (values[0] + sum(i * value for i, value in enumerate(values) if i)) % 103
    return (*values, check)


def _modules(segments: tuple[tuple[str, str], ...]) -> int:
    return 11 * len(code128_values(segments)) + 13


def _barcode(data: str, width_chars: int) -> PrintedBarcode:
    dots = width_chars * DOTS_PER_CHAR
    plans = (code128_plan(data), code128_plan(data, digits_in_c=True))
    for module in (3, 2):
        for plan in plans:
            if _modules(plan) * module <= dots:
                return PrintedBarcode(data, plan, module)
    log.warning("barcode %r is wider than the paper (%d dots); it may be clipped", data, dots)
    return PrintedBarcode(data, plans[1], 2)


def _escpos_code128(segments: tuple[tuple[str, str], ...]) -> str:
    # GS k 73: the data starts with "{A", "{B" or "{C" and may switch set inside; in set C each
    # byte is a value 0–99, and a literal "{" is sent as "{{" (Epson ESC/POS, GS k <Function B>).
    parts = []
    for code_set, chars in segments:
        if code_set == "C":
            chars = "".join(chr(int(chars[i : i + 2])) for i in range(0, len(chars), 2))
        else:
            chars = chars.replace("{", "{{")
        parts.append("{" + code_set + chars)
    return "".join(parts)


# --- ESC/POS ---------------------------------------------------------------------------------

_STAND_INS = {
    "\u00a0": " ",
    "€": "EUR",
    "–": "-",
    "—": "-",
    "‐": "-",
    "−": "-",
    "‘": "'",
    "’": "'",
    "‚": ",",
    "“": '"',
    "”": '"',
    "„": '"',
    "…": "...",
    "×": "x",
    "•": "*",
    "Ð": "D",
    "ð": "d",
    "Þ": "Th",
    "þ": "th",
    "ß": "ss",
    "Ł": "L",
    "ł": "l",
    "Œ": "OE",
    "œ": "oe",
}


@lru_cache(maxsize=8)
def _python_codec(codepage: str) -> str:
    encoding = CodePages.get_encoding(codepage)
    codec = encoding.get("python_encode")
    if not codec:
        raise ValueError(f"code page {codepage} has no Python codec; choose e.g. CP865 or CP858")
    return codec


@lru_cache(maxsize=8)
def _stand_in_table(codec: str) -> dict[int, str]:
    table = {ord("\u00a0"): " "}  # NBSP is 0xFF in CP865, which some printers print as a block
    for char, stand_in in _STAND_INS.items():
        try:
            char.encode(codec)
        except UnicodeEncodeError:
            table[ord(char)] = stand_in
    return table


def _fallback(char: str, codec: str) -> str:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        base = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in base if not unicodedata.combining(c))
        return base if base and base.isascii() else "?"
    return char


def encode_text(text: str, codepage: str = DEFAULT_CODEPAGE) -> bytes:
    """`text` in `codepage`; characters it lacks become readable stand-ins ("€" → "EUR", "ł" →
    "l", else "?"), never an error."""
    if text.isascii():
        return text.encode("ascii")
    codec = _python_codec(codepage)
    text = text.translate(_stand_in_table(codec))
    try:
        return text.encode(codec)
    except UnicodeEncodeError:
        return "".join(_fallback(char, codec) for char in text).encode(codec)


def render(
    document: PrintDocument,
    *,
    width_chars: int = 42,
    codepage: str = DEFAULT_CODEPAGE,
    profile: str | None = None,
) -> bytes:
    """ESC/POS bytes for `document`: ESC @, ESC R 0, ESC t n (`codepage` in the python-escpos
    `profile`'s numbering), its lines, the order barcode as CODE128 (GS k 73), a cut after each
    section. `width_chars` is the printer's font A columns (42 for 80 mm, 32 for 58 mm)."""
    _python_codec(codepage)  # an unknown code page fails here, before any byte
    printer = PaperBytes(profile=profile)
    printer.hw("INIT")
    printer._raw(INTERNATIONAL_USA)
    printer.charcode(codepage)  # sends ESC t n now, and encodes every text in this page
    bold = large = False
    pending: list[str] = []  # lines of one style, sent in one write

    def flush() -> None:
        if pending:
            # Encoded here, with Python's codec, rather than by printer.text(): python-escpos
            # encodes character by character in Python, which alone took ~2 ms a pick list.
            printer._raw(encode_text("".join(pending), codepage))
            pending.clear()

    for item in layout(document, width_chars=width_chars):
        if isinstance(item, PrintedLine):
            if item.bold != bold or item.large != large:
                flush()
                if item.large != large:
                    large = item.large
                    printer.set(double_width=large, double_height=large, normal_textsize=not large)
                    bold = False  # ESC ! also clears emphasis
                if item.bold != bold:
                    bold = item.bold
                    printer.set(bold=bold)
            pending.append(item.text + "\n")
        elif isinstance(item, PrintedBarcode):
            flush()
            if large or bold:
                large = bold = False
                printer.set(normal_textsize=True, bold=False)
            # Not printer.barcode(): it prints "Using hardware barcode renderer" to stdout.
            printer._hw_barcode(
                _escpos_code128(item.segments),
                "CODE128",
                height=item.height_dots,
                width=item.module_dots,
                pos="BELOW",
                font="A",
                align_ct=True,
                function_type="B",
            )
            printer.set(align="left")
        else:
            flush()
            printer.cut()
    flush()
    return printer.output
