"""Whole numbers as people and forms give them: ASCII digits, within the bounds of the column.

A digit string can be of any length, and Python's int() also takes "1_000", "-5" and other
scripts' digits. Python refuses to make an int of over 4,300 digits, and the database refuses
one past its column: an order id is a signed 64-bit integer, an operator's or an own status's
id a 32-bit one (PostgreSQL's `integer`). The length is checked before anything converts.
"""

from __future__ import annotations

#: The largest id of a 64-bit id column (orders, lines, print jobs, pack-script runs).
MAX_ID = 2**63 - 1
#: The largest id of a 32-bit id column (operators, own statuses).
MAX_SMALL_ID = 2**31 - 1


def whole_number(text: str | None, *, lo: int = 0, hi: int = MAX_ID) -> int | None:
    """The number `text` holds when it is ASCII digits (spaces around allowed) within
    `lo`..`hi`; None for anything else, an empty text included."""
    text = (text or "").strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(hi)):
        return None
    number = int(digits)
    return number if lo <= number <= hi else None
