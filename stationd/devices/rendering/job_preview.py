"""A picture of a print job from its bytes: what the printer was (or will be) sent, as SVG.

A print job keeps only the bytes that go to the printer, so the kiosk shows a job by reading
those bytes back, as the printer would:

- ESC/POS (receipt printers, and label printers that speak it) is read into printed lines,
  CODE128 barcodes and cuts — the items `rendering.escpos.layout` makes — and drawn by
  `preview.paper_svg`, the receipt preview's own drawing. Text is decoded in the code page the
  bytes selected (ESC t n), so a wrong code page shows here as on paper.
- ZPL II (``^XA`` … ``^XZ``) is read into its text fields, boxes and CODE128 symbols at their
  dot positions; ``^FH`` escapes and ``^CI28`` (UTF-8) are honoured.

Both readers know the commands stationd's renderers send, and step over every other command
of those languages by its length, so bytes from elsewhere still show their text. Nothing here
raises on odd bytes: a picture of what could be read is better than none. All text is
XML-escaped, so a customer named ``<script>`` is just text in the picture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from escpos import capabilities

from stationd.devices.rendering.escpos import (
    PaperCut,
    PaperItem,
    PrintedBarcode,
    PrintedLine,
    _python_codec,
)
from stationd.devices.rendering.preview import code128_bars, paper_svg

__all__ = ["escpos_items", "is_zpl", "job_svg", "zpl_svg"]

ESC, GS, DLE, FS = 0x1B, 0x1D, 0x10, 0x1C
#: A printer's code page after power-on: PC437 (Epson ESC/POS, ESC t).
POWER_ON_CODEC = "cp437"
#: How many parameter bytes follow ESC <byte> (commands stationd's renderer does not read).
_ESC_PARAMS = {
    **dict.fromkeys(b" !%-3=?EGJMRSTVacrtuv{", 1),
    **dict.fromkeys(b"$\\", 2),
    ord("p"): 3,
}
_GS_PARAMS = {**dict.fromkeys(b"!BHIabfhrwE", 1), **dict.fromkeys(b"LWP$\\", 2)}
_MAX_FEED_LINES = 3  # a long paper feed shows as a short gap, not a page of blank lines


def is_zpl(payload: bytes) -> bool:
    """Whether `payload` is ZPL II (a label format) rather than ESC/POS."""
    return b"^XA" in payload[:256]


def job_svg(payload: bytes, *, width_chars: int = 42, title: str = "") -> str:
    """An SVG image (a complete document) of a print job's bytes, ZPL or ESC/POS;
    `width_chars` is the receipt paper's columns (ESC/POS only)."""
    if is_zpl(payload):
        return zpl_svg(payload, title=title)
    return paper_svg(
        escpos_items(payload, width_chars=width_chars), width_chars=width_chars, title=title
    )


# --- ESC/POS ----------------------------------------------------------------------------------


def _codec(n: int) -> str:
    name = capabilities.get_profile().profile_data["codePages"].get(str(n), "")
    try:
        return _python_codec(name)
    except (KeyError, ValueError, TypeError):
        return POWER_ON_CODEC


@dataclass
class _Reader:
    width_chars: int
    items: list[PaperItem] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    text: str = ""
    codec: str = POWER_ON_CODEC
    bold: bool = False
    large: bool = False
    line_bold: bool = False
    line_large: bool = False
    align: int = 0
    barcode_height: int = 162  # GS h: the printer's default height in dots
    barcode_module: int = 3  # GS w

    def decode(self) -> None:
        """Text bytes so far, in the code page they were sent in (it may change mid-line)."""
        if self.raw:
            self.text += bytes(self.raw).decode(self.codec, errors="replace")
            self.raw.clear()

    def put(self, byte: int) -> None:
        if not self.raw and not self.text:
            self.line_bold, self.line_large = self.bold, self.large
        self.line_bold |= self.bold
        self.raw.append(byte)

    def line(self) -> None:
        if not self.pending():  # an empty line has the style of the moment it was fed
            self.line_bold, self.line_large = self.bold, self.large
        self.decode()
        width = self.width_chars // 2 if self.line_large else self.width_chars
        text = self.text.rstrip()
        if self.align == 1:
            text = text.center(width).rstrip()
        elif self.align == 2:
            text = text.rjust(width)
        self.items.append(PrintedLine(text, self.line_bold, self.line_large))
        self.text = ""

    def pending(self) -> bool:
        return bool(self.raw or self.text)

    def cut(self) -> None:
        if self.pending():
            self.line()
        while self.items and self.items[-1] == PrintedLine(""):
            self.items.pop()  # the feed before the cutter: not part of what a person reads
        self.items.append(PaperCut())

    def barcode(self, kind: int, data: bytes) -> None:
        if self.pending():
            self.line()
        if kind == 73:  # CODE128 with its code sets spelled out: {A {B {C
            segments = _code128_segments(data)
            if segments:
                text = "".join(chars for _, chars in segments)
                self.items.append(
                    PrintedBarcode(text, segments, self.barcode_module, self.barcode_height)
                )
                return
        shown = data.decode("ascii", errors="replace")
        self.items.append(PrintedLine(f"[{shown}]".center(self.width_chars).rstrip()))


def _code128_segments(data: bytes) -> tuple[tuple[str, str], ...]:
    """The code sets and characters of GS k 73 data ("{BORD-{C" + values); () if unreadable."""
    segments: list[tuple[str, str]] = []
    code_set, chars, i = "", [], 0
    while i < len(data):
        byte = data[i]
        if byte == ord("{") and i + 1 < len(data):
            nxt = chr(data[i + 1])
            if nxt in "ABC":
                if code_set and chars:
                    segments.append((code_set, "".join(chars)))
                code_set, chars, i = nxt, [], i + 2
                continue
            if nxt == "{":
                chars.append("{")
                i += 2
                continue
        if not code_set:
            return ()
        if code_set == "C":
            if byte > 99:
                return ()
            chars.append(f"{byte:02d}")
        elif 32 <= byte <= 126:
            chars.append(chr(byte))
        else:
            return ()  # set A control characters: no picture drawn of those
        i += 1
    if code_set and chars:
        segments.append((code_set, "".join(chars)))
    return tuple(segments)


def escpos_items(payload: bytes, *, width_chars: int = 42) -> tuple[PaperItem, ...]:
    """Read ESC/POS bytes into printed lines, barcodes and cuts, as the printer prints them."""
    r = _Reader(width_chars)
    data, i, end = payload, 0, len(payload)

    def byte_at(k: int) -> int:
        return data[k] if k < end else 0

    while i < end:
        b = data[i]
        if b == 0x0A:
            r.line()
            i += 1
        elif b == ESC:
            cmd, arg = byte_at(i + 1), byte_at(i + 2)
            if cmd == ord("@"):
                r.decode()
                r.codec, r.bold, r.large, r.align = POWER_ON_CODEC, False, False, 0
                i += 2
            elif cmd == ord("t"):
                r.decode()
                r.codec = _codec(arg)
                i += 3
            elif cmd == ord("!"):
                r.bold, r.large = bool(arg & 0x08), bool(arg & 0x30)
                i += 3
            elif cmd in (ord("E"), ord("G")):
                r.bold = bool(arg & 1)
                i += 3
            elif cmd == ord("a"):
                r.align = arg % 48 if arg >= 48 else arg & 3
                i += 3
            elif cmd == ord("d"):
                if r.pending():
                    r.line()
                for _ in range(min(arg, _MAX_FEED_LINES)):
                    r.items.append(PrintedLine(""))
                i += 3
            elif cmd in (ord("i"), ord("m")):
                r.cut()
                i += 2
            elif cmd == ord("*"):  # bit image: m nL nH, then nL+256·nH columns of 1 or 3 bytes
                columns = byte_at(i + 3) + 256 * byte_at(i + 4)
                i += 5 + columns * (1 if arg in (0, 1) else 3)
            else:
                i += 2 + _ESC_PARAMS.get(cmd, 0)
        elif b == GS:
            cmd, arg = byte_at(i + 1), byte_at(i + 2)
            if cmd == ord("!"):
                r.large = arg != 0
                i += 3
            elif cmd == ord("h"):
                r.barcode_height = arg or r.barcode_height
                i += 3
            elif cmd == ord("w"):
                r.barcode_module = arg or r.barcode_module
                i += 3
            elif cmd == ord("V"):
                r.cut()
                i += 3 + (1 if arg >= 65 else 0)
            elif cmd == ord("k"):
                if arg <= 6:  # NUL-terminated data
                    stop = data.find(b"\x00", i + 3)
                    stop = end if stop < 0 else stop
                    r.barcode(arg, data[i + 3 : stop])
                    i = stop + 1
                else:
                    length = byte_at(i + 3)
                    r.barcode(arg, data[i + 4 : i + 4 + length])
                    i += 4 + length
            elif cmd == ord("("):  # GS ( fn pL pH and pL+256·pH bytes (QR codes, settings)
                i += 5 + byte_at(i + 3) + 256 * byte_at(i + 4)
            elif cmd == ord("v"):  # raster image: 0 m xL xH yL yH and xL..·yL.. bytes
                width = byte_at(i + 4) + 256 * byte_at(i + 5)
                height = byte_at(i + 6) + 256 * byte_at(i + 7)
                if r.pending():
                    r.line()
                r.items.append(PrintedLine("[image]".center(width_chars).rstrip()))
                i += 8 + width * height
            else:
                i += 2 + _GS_PARAMS.get(cmd, 0)
        elif b == DLE:
            i += 5 if byte_at(i + 1) == 0x14 else 3  # DLE DC4 fn m t; DLE EOT n / DLE ENQ n
        elif b == FS:
            i += 2
        elif b == 0x09:
            r.decode()
            r.text += " " * (8 - len(r.text) % 8)
            i += 1
        elif b < 0x20 or b == 0x7F:
            i += 1  # CR, FF and the rest: nothing to see
        else:
            r.put(b)
            i += 1
    if r.pending():
        r.line()
    return tuple(r.items)


# --- ZPL II -----------------------------------------------------------------------------------

_COMMAND = re.compile(rb"[\^~]([A-Za-z@][A-Za-z0-9@]?)")
_HEX = re.compile(rb"_([0-9A-Fa-f]{2})")
FONT_FAMILY = "Arial Narrow, Roboto Condensed, DejaVu Sans Condensed, Arial, sans-serif"
_START = {"A": 103, "B": 104, "C": 105}
_SWITCH = {"5": ("C", 99), "6": ("B", 100), "7": ("A", 101)}


def _numbers(params: bytes) -> list[int]:
    out = []
    for part in params.split(b","):
        try:
            out.append(int(part.strip() or b"0"))
        except ValueError:
            out.append(0)
    return out


def _zpl_code128(data: str) -> tuple[int, ...]:
    """CODE128 symbol values of ^BC mode N field data with its invocation codes (``>:`` start
    B, ``>;`` start C, ``>9`` start A, ``>5``/``>6``/``>7`` switch to C/B/A, ``>8`` FNC1)."""
    values: list[int] = []
    code_set = "B"
    i = 0
    if data[:2] in (">:", ">;", ">9"):
        code_set = {">:": "B", ">;": "C", ">9": "A"}[data[:2]]
        i = 2
    values.append(_START[code_set])
    while i < len(data):
        if data[i] == ">" and i + 1 < len(data):
            code = data[i + 1]
            if code in _SWITCH:
                code_set, value = _SWITCH[code]
                values.append(value)
            elif code == "8":
                values.append(102)
            elif code == "<":
                values.append(ord(">") - 32)
            i += 2
            continue
        if code_set == "C":
            pair = data[i : i + 2]
            if not pair.isdigit() or len(pair) < 2:
                break
            values.append(int(pair))
            i += 2
        else:
            values.append(max(0, ord(data[i]) - 32) % 96)
            i += 1
    check = (values[0] + sum(k * v for k, v in enumerate(values) if k)) % 103
    return (*values, check)


@dataclass
class _Format:
    width: int = 812
    height: int = 1218
    parts: list[str] = field(default_factory=list)


def zpl_svg(payload: bytes, *, title: str = "") -> str:
    """An SVG image of ZPL II label formats, each label below the last, one unit a dot."""
    formats: list[_Format] = []
    fmt = _Format()
    x = y = 0
    home_x = home_y = 0
    font_h, font_w = 30, 30
    block: list[int] | None = None
    block_align = "L"
    hex_escapes = False
    utf8 = False
    module, bar_height = 2, 100
    barcode: tuple[int, bool] | None = None  # (height, print the text under it)

    def text_of(raw: bytes) -> str:
        if hex_escapes:
            raw = _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
        return raw.decode("utf-8" if utf8 else "latin-1", errors="replace")

    def draw_text(value: str) -> None:
        left, top = home_x + x, home_y + y
        anchor, at_x = "start", left
        if block is not None and block[0] > 0:
            if block_align == "C":
                anchor, at_x = "middle", left + block[0] / 2
            elif block_align == "R":
                anchor, at_x = "end", left + block[0]
        stretch = font_w / font_h if font_h else 1
        fmt.parts.append(
            f'<text transform="translate({at_x} {top + font_h * 0.8}) scale({stretch:.3f} 1)"'
            f' font-size="{font_h}" text-anchor="{anchor}">{escape(value)}</text>'
        )

    def draw_barcode(value: str, height: int, show_text: bool) -> None:
        values = _zpl_code128(value)
        left, top = home_x + x, home_y + y
        rects = "".join(
            f'<rect x="{left + start * module}" y="{top}" width="{width * module}"'
            f' height="{height}"/>'
            for start, width in code128_bars(values)
        )
        shown = re.sub(r">[0-9:;<=]", "", value)
        fmt.parts.append(f'<g class="barcode" data-code={quoteattr(shown)}>{rects}</g>')
        if show_text:
            size = max(18, module * 10)
            middle = left + (11 * (len(values)) + 13) * module / 2
            fmt.parts.append(
                f'<text x="{middle}" y="{top + height + size}" font-size="{size}"'
                f' text-anchor="middle">{escape(shown)}</text>'
            )

    matches = list(_COMMAND.finditer(payload))
    for n, match in enumerate(matches):
        name = match.group(1).upper().decode()
        params_end = matches[n + 1].start() if n + 1 < len(matches) else len(payload)
        params = payload[match.end() : params_end]
        if name.startswith("A") and len(name) == 2 and name != "A@":
            # ^A0N,h,w: font 0, its orientation, then height and width in dots.
            name, nums = "A", _numbers(b",".join(params.split(b",")[1:]) or b"0")
        else:
            nums = _numbers(params)
        if name == "FD":
            # The field runs to ^FS: its data may hold anything but the command prefix.
            value = params
            if barcode is not None:
                draw_barcode(text_of(value), *barcode)
            else:
                draw_text(text_of(value))
        elif name == "FS":
            block, barcode, hex_escapes, block_align = None, None, False, "L"
        elif name == "XA":
            fmt = _Format()
            formats.append(fmt)
            home_x = home_y = 0
        elif name == "PW" and nums[0] > 0:
            fmt.width = nums[0]
        elif name == "LL" and nums[0] > 0:
            fmt.height = nums[0]
        elif name == "LH":
            home_x, home_y = [*nums, 0, 0][:2]
        elif name in ("FO", "FT"):
            x, y = [*nums, 0, 0][:2]
        elif name == "A":
            font_h = nums[0] or font_h
            font_w = nums[1] if len(nums) > 1 and nums[1] else font_h
        elif name == "CF":
            font_h = [*nums, 0, 0][1] or font_h
            font_w = [*nums, 0, 0, 0][2] or font_h
        elif name == "FB":
            block = nums
            fields = params.split(b",")
            block_align = fields[3].strip().decode("ascii", "replace") if len(fields) > 3 else "L"
        elif name == "FH":
            hex_escapes = True
        elif name == "CI":
            utf8 = nums[0] == 28
        elif name == "BY":
            module = (nums[0] if nums else 0) or module
            bar_height = [*nums, 0, 0, 0][2] or bar_height
        elif name == "BC":
            fields = params.split(b",")
            height = _numbers(fields[1])[0] if len(fields) > 1 and fields[1].strip() else 0
            show = fields[2].strip().upper() != b"N" if len(fields) > 2 else True
            barcode = (height or bar_height, show)
        elif name == "GB":
            width, height, thickness = [*nums, 1, 1, 1][:3]
            thickness = max(1, thickness)
            width, height = max(width, thickness), max(height, thickness)
            left, top = home_x + x, home_y + y
            if thickness * 2 >= min(width, height):
                fmt.parts.append(f'<rect x="{left}" y="{top}" width="{width}" height="{height}"/>')
            else:
                half = thickness / 2
                fmt.parts.append(
                    f'<rect x="{left + half}" y="{top + half}" width="{width - thickness}"'
                    f' height="{height - thickness}" fill="none" stroke="#000"'
                    f' stroke-width="{thickness}"/>'
                )
    if not formats:
        formats.append(fmt)
    gap = 24
    width = max(f.width for f in formats)
    height = sum(f.height for f in formats) + gap * (len(formats) - 1)
    body, top = [], 0
    for f in formats:
        body.append(
            f'<g transform="translate(0 {top})"><rect width="{f.width}" height="{f.height}"'
            f' fill="#fff" stroke="#999" stroke-width="2"/>{"".join(f.parts)}</g>'
        )
        top += f.height + gap
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img">'
        f"<title>{escape(title)}</title>"
        f'<g fill="#000" font-family={quoteattr(FONT_FAMILY)}>' + "".join(body) + "</g></svg>"
    )
