"""Paging a list the kiosk shows a page of: which page, of how many, from which row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PageWindow:
    page: int
    pages: int
    offset: int


def page_window(total: int, size: int, choose: Callable[[int], int]) -> PageWindow:
    """The page `choose(pages)` of `total` rows, `size` a page (one page even when empty)."""
    pages = max(1, -(-total // size))
    page = choose(pages)
    return PageWindow(page, pages, (page - 1) * size)
