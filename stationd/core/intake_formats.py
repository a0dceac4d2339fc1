"""The shop's files (issue 13 §1): JSON Lines and CSV into records for `core.intake`.

A record is one order, product or stock count as a dict of the fields `core.intake` reads,
with the line of the file it starts on. A line that can't be read (not JSON, a CSV row of the
wrong width) is a record with an error and no data: it is reported and the rest goes on. A file
that is not the format at all (a CSV whose header names no known column) raises
`FileFormatError` saying where. The caller opens the file and hands in its lines; nothing here
does I/O.

In CSV an order is one row per line: the order's columns and `line_sku`, `line_ean`,
`line_name`, `line_quantity`, `line_price`, `line_vat_rate`. Rows in a row with the same `ref`
are one order; its columns are read from the first of them (later rows may leave them empty).
An empty cell is a field not given; `paid` is true/false (1/0, yes/no).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from stationd.core.intake import LINE_FIELDS, ORDER_FIELDS, PRODUCT_FIELDS, STOCK_FIELDS

KINDS = ("orders", "products", "stock")
FORMATS = ("jsonl", "csv")
#: CSV's columns of an order's line: `line_` and the line field's name.
LINE_COLUMNS = tuple(f"line_{name}" for name in LINE_FIELDS)
_ORDER_COLUMNS = tuple(name for name in ORDER_FIELDS if name != "lines")
COLUMNS = {
    "orders": (*_ORDER_COLUMNS, *LINE_COLUMNS),
    "products": PRODUCT_FIELDS,
    "stock": STOCK_FIELDS,
}


class FileFormatError(ValueError):
    """The file is not in the format asked for; the message says where and why."""


@dataclass(frozen=True)
class Record:
    """One record of a file: its data, or why the line(s) could not be read."""

    line: int
    data: Any = None
    error: str | None = None


def format_of(filename: str) -> str:
    """The format a file's name says: .csv is CSV, .jsonl/.ndjson/.json JSON Lines."""
    lower = filename.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise FileFormatError(
        f"{filename}: can't tell the format from the name; name it .jsonl or .csv, or say "
        "--format jsonl|csv"
    )


def read_records(kind: str, fmt: str, lines: Iterable[str]) -> Iterator[Record]:
    """The records of a file of `kind` (orders, products, stock) in `fmt` (jsonl, csv)."""
    if fmt == "jsonl":
        return _jsonl(lines)
    rows = _csv_rows(kind, lines)
    return _csv_orders(rows) if kind == "orders" else rows


def _jsonl(lines: Iterable[str]) -> Iterator[Record]:
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            yield Record(number, json.loads(text))
        except ValueError as err:
            yield Record(number, error=f"not a JSON object: {err}")


def _csv_rows(kind: str, lines: Iterable[str]) -> Iterator[Record]:
    reader = csv.reader(iter(lines))
    header = next(reader, None)
    if header is None:
        return
    header = [name.strip().lstrip("\ufeff") for name in header]
    known = COLUMNS[kind]
    unknown = [name for name in header if name not in known]
    if unknown or not header:
        raise FileFormatError(
            f"line 1: the header has {', '.join(map(repr, unknown)) or 'no columns'}, which "
            f"{kind} do not; the columns are {', '.join(known)}"
        )
    start = reader.line_num + 1
    for row in reader:
        if not any(cell.strip() for cell in row):
            start = reader.line_num + 1
            continue
        if len(row) != len(header):
            yield Record(start, error=f"has {len(row)} columns; the header has {len(header)}")
        else:
            cells = zip(header, row, strict=True)
            yield Record(start, {k: _typed(k, v) for k, v in cells if v != ""})
        start = reader.line_num + 1


#: CSV columns whose JSON form is not text: a flag, whole numbers.
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_WHOLE = frozenset({"line_quantity", "weight_g", "on_hand"})


def _typed(column: str, cell: str) -> object:
    """A CSV cell as the JSON record would hold it; a cell that isn't one stays text, and
    core says what is wrong with it."""
    if column == "paid":
        return _FLAGS.get(cell.strip().lower(), cell)
    if column in _WHOLE and re.fullmatch(r"\s*-?[0-9]{1,12}\s*", cell):
        return int(cell)
    return cell


def _csv_orders(rows: Iterable[Record]) -> Iterator[Record]:
    """Rows of one `ref` in a row, folded into one order record with its lines."""
    order: dict[str, Any] | None = None
    first = 0
    for row in rows:
        if row.data is None:
            yield row
            continue
        data = row.data
        line = {name: data.pop(f"line_{name}") for name in LINE_FIELDS if f"line_{name}" in data}
        if order is not None and data.get("ref") in (None, order.get("ref")):
            clash = [k for k, v in data.items() if k != "ref" and order.get(k, v) != v]
            if clash:
                yield Record(
                    row.line,
                    error=f"{', '.join(clash)} differ from the order's first row (line {first})",
                )
                continue
            order["lines"].append(line)
            continue
        if order is not None:
            yield Record(first, order)
        order, first = {**data, "lines": [line]}, row.line
    if order is not None:
        yield Record(first, order)
