"""Whole numbers as the kiosk takes them from a URL, a query or a form: ASCII digits, bounded.

A digit string can be of any length. Python refuses to make an int of one over 4,300 digits,
and the database one above 2**63 - 1: the length is checked before anything converts it, so
such input is a 400 or 404 with a sentence, never a 500.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

#: The largest id the database holds (a signed 64-bit integer).
MAX_ID = 2**63 - 1


def whole_number(text: str | None, *, lo: int = 0, hi: int = MAX_ID) -> int | None:
    """The number `text` holds when it is ASCII digits (spaces around allowed) within
    `lo`..`hi`; None for anything else, an empty text included."""
    text = (text or "").strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > len(str(hi)):
        return None
    number = int(text)
    return number if lo <= number <= hi else None


class _IdConverter(IntegerConverter):
    """`<int:…>` in a route: an id too large for the database is no such page (404)."""

    def __init__(self, map, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def bound_route_ids(app: Flask) -> None:
    """Make every `<int:…>` of `app`'s routes stop at `MAX_ID` (before routes are added)."""
    app.url_map.converters["int"] = _IdConverter
