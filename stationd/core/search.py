"""Order search (R4): the plain search and the extended criteria, checked before any query.

`parse_query` reads the criteria as text — from the kiosk's form or the CLI's options — and
either returns an `OrderQuery` or raises `QueryError` naming every field that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from stationd.core.barcodes import classify
from stationd.core.numbers import MAX_SMALL_ID, whole_number
from stationd.core.orders import OrderRuleError, OrderStatus, PaymentMethod
from stationd.core.text import Text, sentence

MAX_PAGE_SIZE = 500


class QueryError(OrderRuleError):
    """One or more search fields can't be understood; `problems` maps field → reason."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.problems.items()))


#: Names and e-mails are searched for pieces of at least this many characters: shorter ones
#: match nearly every order, and the text index (trigrams) can't look them up.
MIN_TEXT = 3


@dataclass(frozen=True)
class OrderQuery:
    """What to look for. `text` is an order number (`1042` or a pick list's `ORD-1042`) or a
    piece of a customer's name or e-mail; the rest is R4's extended search. Money is in minor
    units; dates are the day placed, both ends included.

    The list runs newest order first. `after` (an order id) asks for the orders listed after
    it, `before` for those listed before it — the keys of the next and previous page, which
    stay right while new orders come in; `page` is the plain page number (the CLI's)."""

    text: str = ""
    placed_from: date | None = None
    placed_to: date | None = None
    status: OrderStatus | None = None
    own_status_id: int | None = None
    payment_method: PaymentMethod | None = None
    value_min_minor: int | None = None
    value_max_minor: int | None = None
    has_comment: bool | None = None
    waiting: bool | None = None
    sku_or_ean: str | None = None
    tracking_id: str | None = None
    page: int = 1
    page_size: int = 50
    after: int | None = None
    before: int | None = None

    @property
    def order_id(self) -> int | None:
        """The order number `text` names, if it is one."""
        return order_number(self.text)

    @property
    def extended(self) -> bool:
        """True when any extended criterion is set."""
        return any(
            v is not None
            for v in (
                self.placed_from,
                self.placed_to,
                self.status,
                self.own_status_id,
                self.payment_method,
                self.value_min_minor,
                self.value_max_minor,
                self.has_comment,
                self.waiting,
                self.sku_or_ean,
                self.tracking_id,
            )
        )


_MONEY = re.compile(r"^[0-9]{1,9}(?:[.,][0-9]{1,2})?$")
_YES = {"1", "yes", "true", "on", "ja", "y"}
_NO = {"0", "no", "false", "off", "nej", "nei", "n"}


def parse_money(text: str) -> int:
    """'1 234,50' or '1234.5' → minor units (123450). Raises ValueError."""
    clean = text.replace("\u00a0", "").replace(" ", "").removesuffix("kr").strip()
    if not _MONEY.match(clean):
        raise ValueError("write an amount like 199 or 1 234,50")
    whole, _, cents = clean.replace(",", ".").partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def parse_query(params: Mapping[str, str | None]) -> OrderQuery:
    """Read search criteria given as text; empty fields are no criterion."""
    problems: dict[str, Text] = {}
    values: dict[str, object] = {}

    def field(name: str) -> str | None:
        raw = params.get(name)
        if raw is None:
            return None
        raw = str(raw).strip()
        return raw or None

    def take(name: str, convert, hint: Text) -> None:  # type: ignore[no-untyped-def]
        raw = field(name)
        if raw is None:
            return
        try:
            values[name] = convert(raw)
        except (ValueError, KeyError):
            problems[name] = hint

    text = field("text") or ""
    if len(text) > 100:
        problems["text"] = sentence("at most 100 characters")
    elif text and order_number(text) is None and len(text) < MIN_TEXT:
        problems["text"] = sentence(
            "an order number, or at least {num} letters of a customer's name or e-mail",
            num=MIN_TEXT,
        )
    values["text"] = text[:100]
    take("placed_from", parse_day, sentence("a date like 2026-11-01, from 2000 to 2100"))
    take("placed_to", parse_day, sentence("a date like 2026-11-30, from 2000 to 2100"))
    take(
        "status",
        OrderStatus,
        sentence("one of {values}", values=", ".join(s.value for s in OrderStatus)),
    )
    take("own_status_id", _small_id, sentence("an own status number"))
    take(
        "payment_method",
        PaymentMethod,
        sentence("one of {values}", values=", ".join(p.value for p in PaymentMethod)),
    )
    take("value_min_minor", parse_money, sentence("an amount like 199 or 1 234,50"))
    take("value_max_minor", parse_money, sentence("an amount like 199 or 1 234,50"))
    take("has_comment", parse_yes_no, sentence("yes or no"))
    take("waiting", parse_yes_no, sentence("yes or no"))
    take("sku_or_ean", _short_code, sentence("a SKU or EAN of at most 40 characters"))
    take("tracking_id", _short_code, sentence("a parcel id of at most 40 characters"))
    take("page", _positive_int, sentence("a page number from 1"))
    take("page_size", _page_size, sentence("1 to {num}", num=MAX_PAGE_SIZE))
    take("after", _positive_int, sentence("an order number"))
    take("before", _positive_int, sentence("an order number"))

    lo, hi = values.get("placed_from"), values.get("placed_to")
    if lo is not None and hi is not None and lo > hi:  # type: ignore[operator]
        problems["placed_to"] = sentence("the end date is before the start date")
    lo, hi = values.get("value_min_minor"), values.get("value_max_minor")
    if lo is not None and hi is not None and lo > hi:  # type: ignore[operator]
        problems["value_max_minor"] = sentence("the highest value is below the lowest")
    if problems:
        raise QueryError(problems)
    return OrderQuery(**values)  # type: ignore[arg-type]


def order_number(text: str) -> int | None:
    """`1042`, `#1042` or a pick list's barcode `ORD-1042` (typed or scanned) → 1042; else None."""
    clean = text.strip().removeprefix("#")
    if clean.isascii() and clean.isdecimal():
        # The pick list's barcode rule, so a number too long for an order id is no order id.
        clean = f"ORD-{clean}"
    return classify(clean).order_id


def parse_day(text: str) -> date:
    """A day as the station's people write it: Swedish `2026-11-01` (ISO) or Norwegian
    `01.11.2026` / `1.11.2026` (day first, dots), from 2000 to 2100. Raises ValueError.

    The kiosk's date fields are text in the station's format, not the browser's date picker:
    that one follows the browser's own locale (a Swedish station on an English Chromium asked
    for mm/dd/yyyy; issue 12)."""
    clean = text.strip()
    if "." in clean:
        parts = clean.split(".")
        if len(parts) != 3 or not all(p.isascii() and p.isdecimal() for p in parts):
            raise ValueError(text)
        day_n, month_n, year_n = (int(p) for p in parts)
        if len(parts[2]) != 4:
            raise ValueError(text)
        day = date(year_n, month_n, day_n)
    else:
        if not clean.isascii():
            raise ValueError(text)
        day = date.fromisoformat(clean)
        if len(clean) != 10:  # fromisoformat also takes 20261101 and week dates
            raise ValueError(text)
    if not 2000 <= day.year <= 2100:
        raise ValueError(text)
    return day


def _positive_int(text: str) -> int:
    return _number(whole_number(text, lo=1), text)


def _small_id(text: str) -> int:
    return _number(whole_number(text, lo=1, hi=MAX_SMALL_ID), text)


def _number(value: int | None, text: str) -> int:
    if value is None:
        raise ValueError(text)
    return value


def _page_size(text: str) -> int:
    return _number(whole_number(text, lo=1, hi=MAX_PAGE_SIZE), text)


def parse_yes_no(text: str) -> bool:
    """A yes or a no as a form or a person gives it ("1", "on", "ja" …). Raises ValueError."""
    low = text.strip().lower()
    if low in _YES:
        return True
    if low in _NO:
        return False
    raise ValueError(text)


def _short_code(text: str) -> str:
    if len(text) > 40:
        raise ValueError(text)
    return text
