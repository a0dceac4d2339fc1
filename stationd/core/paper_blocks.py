"""The plain text blocks a document reads as on paper, and what a printable document is.

Heading, paragraph, label/value fields, a table, totals, a barcode, a rule, grouped in sections;
any renderer (ESC/POS bytes, an SVG preview) lays them out without knowing what a pick list is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from stationd.core.orders import Document

__all__ = [
    "Barcode",
    "Block",
    "Column",
    "Fields",
    "Heading",
    "Paragraph",
    "PrintDocument",
    "Rule",
    "Section",
    "Table",
    "Totals",
]


# --- text blocks -----------------------------------------------------------------------------

Align = Literal["left", "center", "right"]


@dataclass(frozen=True, slots=True)
class Heading:
    """The document's title: large and centred."""

    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    """Lines of running text; a renderer wraps each line to its width."""

    lines: tuple[str, ...]
    align: Align = "left"
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Fields:
    """Label/value pairs ("Order: 1042"), labels lined up in one column."""

    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Column:
    """A table column. The one `flex` column takes the width the others leave, and wraps."""

    header: str
    align: Align = "left"
    flex: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Totals:
    """Label/amount rows set to the right; `strong` rows stand out (the amount to pay)."""

    rows: tuple[tuple[str, str], ...]
    strong: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Barcode:
    """A barcode carrying `data`; its human-readable text is `data` too."""

    data: str
    symbology: Literal["CODE128"] = "CODE128"


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal line across the paper."""


Block = Heading | Paragraph | Fields | Table | Totals | Barcode | Rule


@dataclass(frozen=True, slots=True)
class Section:
    """One piece of paper: a renderer cuts after each section. `kind` is None on a paper that
    is no order's document (a printer's test page)."""

    kind: Document | None
    blocks: tuple[Block, ...]


class PrintDocument(Protocol):
    """What renderers take: every document below is one."""

    @property
    def kind(self) -> Document: ...

    @property
    def order_id(self) -> int: ...

    @property
    def language(self) -> str: ...

    def sections(self) -> tuple[Section, ...]: ...
