"""Paper in its language: the one place the station's documents and labels become bytes.

Core writes the captions of a pick list, receipt, invoice, test page or shipping label as
translatable sentences (`core.text.Text`); here they are said in the paper's language with the
kiosk's catalogs (`stationd.catalogs`), and the renderers lay out the words they are given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Protocol

from stationd.catalogs import say
from stationd.config import PrinterSettings
from stationd.core.labels import ShippingLabel
from stationd.core.orders import Document
from stationd.core.paper_blocks import Block, Fields, Heading, Paragraph, Section, Table, Totals
from stationd.core.paper_words import normalize_language
from stationd.core.text import Text
from stationd.devices.rendering.escpos import render
from stationd.devices.rendering.zpl import render_escpos_label, render_zpl
from stationd.devices.rendering.zpl_document import render_zpl_document


class Paper(Protocol):
    """What is printed as a document: sections of blocks, in a language."""

    @property
    def language(self) -> str: ...

    def sections(self) -> tuple[Section, ...]: ...


@dataclass(frozen=True, slots=True)
class SaidDocument:
    """A document with its captions said in `language`, as the renderers take it."""

    kind: Document | None
    order_id: int
    language: str
    said: tuple[Section, ...]

    def sections(self) -> tuple[Section, ...]:
        return self.said


def document_in_language(document: Paper) -> SaidDocument:
    """`document` with every caption said in its own language (English when it has none)."""
    language = normalize_language(document.language)
    return SaidDocument(
        getattr(document, "kind", None),
        getattr(document, "order_id", 0),
        language,
        tuple(
            replace(section, blocks=tuple(_said(block, language) for block in section.blocks))
            for section in document.sections()
        ),
    )


def _said(block: Block, language: str) -> Block:
    def said(text: str) -> str:
        # Only core's sentences have words to say; the facts (names, amounts) print as they are.
        return say(text, language) if isinstance(text, Text) else text

    match block:
        case Heading(text=text):
            return Heading(said(text))
        case Paragraph(lines=lines):
            return replace(block, lines=tuple(said(line) for line in lines))
        case Fields(rows=rows):
            return Fields(tuple((said(key), said(value)) for key, value in rows))
        case Table(columns=columns):
            # Its cells are the order's facts (names, counts, amounts), never core's words: a
            # long pick list is not walked cell by cell.
            return replace(block, columns=tuple(replace(c, header=said(c.header)) for c in columns))
        case Totals(rows=rows):
            return replace(block, rows=tuple((said(key), value) for key, value in rows))
    return block  # a barcode or a rule has no words


def label_in_language(label: ShippingLabel, language: str) -> ShippingLabel:
    """`label` with its captions said in `language`."""
    language = normalize_language(language)
    words = MappingProxyType({key: say(word, language) for key, word in label.captions.items()})
    return replace(label, captions=words)


def render_document(document: Paper, options: PrinterSettings) -> bytes:
    """ESC/POS bytes of `document`, in its language, for a receipt printer set as `options`."""
    return render(
        document_in_language(document), width_chars=options.width_chars, codepage=options.codepage
    )


def render_document_zpl(document: Paper, options: PrinterSettings) -> bytes:
    """ZPL bytes of `document`, in its language, for a label printer set as `options`."""
    return render_zpl_document(document_in_language(document), dpmm=options.dpmm)


def render_label(label: ShippingLabel, options: PrinterSettings, language: str) -> bytes:
    """The bytes of a shipping label in `language`: ESC/POS for an ``escpos`` printer, else
    ZPL. Raises ValueError when the label can't be laid out on that printer."""
    language = normalize_language(language)
    said = label_in_language(label, language)
    if options.kind == "escpos":
        # 58 mm paper (32 characters) is 384 dots wide, 80 mm is 576.
        line_dots = 384 if options.width_chars <= 32 else 576
        return render_escpos_label(said, lang=language, line_dots=line_dots)
    return render_zpl(said, dpmm=options.dpmm, lang=language)
