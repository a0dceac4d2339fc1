"""The pick list (SPEC R11): the order's lines in walking order through the stock locations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, tzinfo

from stationd.core.barcodes import order_barcode
from stationd.core.check_digits import ean_text
from stationd.core.orders import Document, Order
from stationd.core.paper_blocks import (
    Barcode,
    Block,
    Column,
    Fields,
    Heading,
    Paragraph,
    Rule,
    Section,
    Table,
    Totals,
)
from stationd.core.paper_words import (
    COMMENT,
    CUSTOMER,
    DATE,
    ITEM,
    ITEM_COUNT,
    LOCATION,
    NO_LOCATION,
    ORDER,
    PICK_LIST,
    QUANTITY,
    _date_text,
    _local_date,
    normalize_language,
)

__all__ = [
    "PickLine",
    "PickList",
    "build_picklist",
    "location_key",
]


# --- pick list (R11) -------------------------------------------------------------------------

_DIGIT_RUNS = re.compile(r"(\d+)")


def location_key(location: str) -> tuple[tuple[object, ...], str]:
    """Sort key for shelf locations, natural order: "A-02-1" < "A-2-2" < "A-10-1" < "B-1".

    Digit runs compare as numbers, the rest case-insensitively; a line with no location sorts
    after every located one, so the picker finds it at the end of the walk.
    """
    text = location.strip()
    if not text:
        return ((1,), "")
    parts = _DIGIT_RUNS.split(text.casefold())
    # split() alternates text, digits, text, …: same position, same type, so tuples compare.
    key = tuple(int(part) if i % 2 else part for i, part in enumerate(parts))
    return ((0, *key), text)


@dataclass(frozen=True, slots=True)
class PickLine:
    location: str
    sku: str
    name: str
    quantity: int  # still to pick
    ean: str = ""  # the EAN printed on the item (core.check_digits.ean_text), "" if it has none


@dataclass(frozen=True, slots=True)
class PickList:
    """R11: the lines in shelf order with the quantities still to pick, and the order's barcode."""

    order_id: int
    barcode: str
    placed: date
    customer: str
    comment: str
    lines: tuple[PickLine, ...]
    language: str = "sv"
    item_barcodes: bool = False  # each line's EAN also as a barcode (`[shop] picklist_barcodes`)
    kind: Document = field(default=Document.PICKLIST, init=False)

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    def sections(self) -> tuple[Section, ...]:
        fields = [
            (ORDER, str(self.order_id)),
            (DATE, _date_text(self.placed, self.language)),
            (CUSTOMER, self.customer),
        ]
        blocks: list[Block] = [Heading(PICK_LIST), Barcode(self.barcode), Fields(tuple(fields))]
        if self.comment.strip():
            blocks += [Paragraph((COMMENT, *self.comment.strip().splitlines()), bold=True)]
        blocks += [
            Table(
                (
                    Column(LOCATION),
                    Column(QUANTITY, align="right"),
                    Column(ITEM, flex=True),
                ),
                tuple(
                    (
                        line.location or NO_LOCATION,
                        str(line.quantity),
                        " ".join(
                            part
                            for part in (line.sku, line.name, line.ean and f"EAN {line.ean}")
                            if part
                        ),
                    )
                    for line in self.lines
                ),
            ),
            Rule(),
            Totals(((ITEM_COUNT, str(self.item_count)),)),
        ]
        if self.item_barcodes:
            # Issue 12, item 11: where the shop wants it, each item's EAN to scan from paper.
            for line in self.lines:
                if line.ean:
                    blocks += [Paragraph((f"{line.sku} {line.name}".strip(),)), Barcode(line.ean)]
        return (Section(self.kind, tuple(blocks)),)


def build_picklist(
    order: Order,
    locations: Mapping[str, str],
    *,
    language: str = "sv",
    tz: tzinfo | None = None,
    item_barcodes: bool = False,
) -> PickList:
    """R11: a pick list of what is still to pick of `order`, in shelf order.

    `locations` maps SKU → stock location (locations live on products); a SKU missing there
    falls back to the line's own `location`. Lines with nothing left to pick are left out.
    Each line shows its EAN; with `item_barcodes`, each EAN is also printed as a barcode.
    """
    language = normalize_language(language)
    picks = [
        PickLine(
            location=(locations.get(line.sku) or line.location or "").strip(),
            sku=line.sku,
            name=line.name,
            quantity=line.left_to_pack,
            ean=ean_text(line.gtin),
        )
        for line in order.lines
        if line.left_to_pack > 0
    ]
    picks.sort(key=lambda p: (location_key(p.location), p.sku))
    return PickList(
        order_id=order.id,
        barcode=order_barcode(order.id),
        placed=_local_date(order.placed_at, tz),
        customer=order.customer_name,
        comment=order.comment,
        lines=tuple(picks),
        language=language,
        item_barcodes=item_barcodes,
    )
