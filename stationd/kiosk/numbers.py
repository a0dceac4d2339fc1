"""Whole numbers in the kiosk's URLs: an id past its column is no such page (404), not a 500.

Every `<int:…>` stops at a 64-bit id, `<small_id:…>` (operators, own statuses) at a 32-bit
one; both take ASCII digits only. Numbers in queries and forms go through
`core.numbers.whole_number`.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

from stationd.core.numbers import MAX_ID, MAX_SMALL_ID, whole_number


class _IdConverter(IntegerConverter):
    regex = r"[0-9]+"  # Werkzeug's \d+ also takes other scripts' digits

    def __init__(self, map, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class _SmallIdConverter(_IdConverter):
    def __init__(self, map, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("max", MAX_SMALL_ID)
        super().__init__(map, *args, **kwargs)


def bound_route_ids(app: Flask) -> None:
    """Bound `<int:…>` and `<small_id:…>` in `app`'s routes (call before routes are added)."""
    app.url_map.converters["int"] = _IdConverter
    app.url_map.converters["small_id"] = _SmallIdConverter


def page_number(raw: str | None, pages: int) -> int:
    """The page asked for in a list of `pages` pages: 1 for anything that is not a page."""
    return min(pages, whole_number(raw, lo=1) or 1)
