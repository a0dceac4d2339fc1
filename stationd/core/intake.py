"""What a shop sends (issue 13 §1): orders, products and stock, checked in one place.

The file import (`stationd import …`) and the intake API (`POST /api/v1/…`) both hand each
record — a JSON object, or a CSV row made into one (`core.intake_formats`) — to `parse_order`,
`parse_product` or `parse_stock`, and get back either the typed value or the list of what is
wrong with it, field by field. Nothing here reads a file or a database.

An order is known by the shop's own reference (`ref`). `IncomingOrder.content_hash` is a hash
of its canonical form: the same order sent again has the same hash, so the store can tell
"unchanged" from one short column without reading the order back.

Errors are plain English: they are read by the shop's programmer and in the CLI, not at the
bench.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any

from stationd.core.check_digits import normalize_gtin
from stationd.core.locales import customer_language
from stationd.core.orders import MAX_LINE_QUANTITY, OrderStatus, PaymentMethod, payment_fits

#: The languages a customer may be written to in (the kiosk's and the paper's).
LANGUAGES = ("sv", "nb", "en")
#: The currencies the station handles (as [station] currency).
CURRENCIES = ("SEK", "NOK", "EUR")
#: What a shop may say an order is: the rest (packing, shipped) only the station decides (R1).
SHOP_STATUSES = (OrderStatus.PREORDER.value, OrderStatus.ORDER.value)
#: The most lines one order may have.
MAX_LINES = 500
#: The highest unit price (minor units): what an int column holds with room to multiply.
MAX_PRICE_MINOR = 999_999_999_99
#: The highest stock count of a product.
MAX_ON_HAND = 10_000_000
#: The patterns of the fields, as `re.fullmatch` reads them; the OpenAPI document
#: (kiosk/intake_openapi.py) states the same ones, anchored, so the two never differ.
PATTERNS = {
    "ref": r"[A-Za-z0-9][A-Za-z0-9._/#:-]{0,63}",
    "sku": "[^\\s\x00-\x1f\x7f-\x9f]{1,40}",
    "country": r"[A-Z]{2}",
    "email": "([^\\s@\x00-\x1f\x7f-\x9f]+@[^\\s\x00-\x1f\x7f-\x9f]+)?",
    # Control characters (C0 but the newline, DEL, C1, the line separators) would break a
    # label or a CSV line: no text holds one.
    "text": "[^\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]*",
    "money": r"[0-9]{1,9}(\.[0-9]{1,2}0{0,10})?",
    "vat_rate": r"(100(\.00?)?|[0-9]{1,2}(\.[0-9]{1,2})?)",
    "gtin": r"[0-9]{8}|[0-9]{12,14}",
    # RFC 3339 (the OpenAPI format date-time): a date, a time and its offset.
    "date-time": (
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
        r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
    ),
}
#: The same, compiled, each class that keeps out control characters keeping out lone
#: surrogates too: JSON's \ud800 escape lets one through, and it can't be stored as UTF-8.
#: (The document can't say so: its validators can't even hold a lone surrogate.)
_RE = {
    name: re.compile(pattern.replace("\x9f", "\x9f\ud800-\udfff"))
    for name, pattern in PATTERNS.items()
}
#: A field not sent at all (null is sent, and is not text).
_ABSENT = object()

ORDER_FIELDS = (
    "ref",
    "placed_at",
    "status",
    "customer_name",
    "customer_email",
    "street",
    "postcode",
    "city",
    "country",
    "language",
    "currency",
    "payment_method",
    "paid",
    "comment",
    "lines",
)
LINE_FIELDS = ("sku", "ean", "name", "quantity", "price", "vat_rate")
PRODUCT_FIELDS = ("sku", "name", "ean", "location", "weight_g", "price")
STOCK_FIELDS = ("sku", "on_hand")


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with a record: the field (`lines[1].quantity`; "" for the whole
    record) and what is wrong, in a sentence."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class IncomingLine:
    """One line of an order as the shop sent it; money in minor units, VAT in basis points."""

    sku: str
    name: str
    quantity: int
    unit_price_minor: int
    gtin: str | None = None
    vat_rate_bp: int | None = None


@dataclass(frozen=True)
class IncomingOrder:
    """An order as the shop sent it, checked: every field typed and in range."""

    ref: str
    placed_at: datetime
    status: OrderStatus
    customer_name: str
    customer_email: str
    street: str
    postcode: str
    city: str
    country: str
    language: str
    currency: str
    payment_method: PaymentMethod
    paid: bool
    comment: str
    lines: tuple[IncomingLine, ...]

    @property
    def value_minor(self) -> int:
        return sum(line.quantity * line.unit_price_minor for line in self.lines)

    @cached_property
    def content_hash(self) -> str:
        """The hash of the order's canonical form: equal for the same order however it was
        written (JSON or CSV, key order, "149.0" or 149), different for any change."""
        data = [getattr(self, name) for name in ORDER_FIELDS if name not in ("placed_at", "lines")]
        data.append(self.placed_at.isoformat())
        data.append(
            [
                [ln.sku, ln.name, ln.quantity, ln.unit_price_minor, ln.gtin, ln.vat_rate_bp]
                for ln in self.lines
            ]
        )
        canonical = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class IncomingProduct:
    sku: str
    name: str
    ean: str | None
    gtin: str | None
    location: str
    weight_g: int
    price_minor: int


@dataclass(frozen=True)
class IncomingStock:
    sku: str
    on_hand: int


class _Errors:
    """Collects a record's field errors; each reader returns None when its field is wrong."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix
        self.found: list[FieldError] = []

    def add(self, name: str, message: str) -> None:
        self.found.append(FieldError(self.prefix + name, message))

    def unknown(self, known: tuple[str, ...]) -> None:
        if self.data.keys() <= set(known):
            return
        for name in self.data:
            if name not in known:
                self.add(str(name), f"unknown field; the fields are {', '.join(known)}")

    def text(
        self, name: str, *, required: bool = False, max_len: int = 200, pattern: str = "text"
    ) -> str:
        """Text, spaces around it taken off; None (null) is no text."""
        value = self.data.get(name, _ABSENT)
        # The usual case first, in one test: most fields of most records are fine.
        if type(value) is str and len(value) <= max_len and _RE[pattern].fullmatch(value):
            stripped = value.strip()
            if stripped or not required:
                return stripped
            self.add(name, "is required")
            return ""
        if value is _ABSENT and not required:
            return ""
        if not isinstance(value, str):
            wrong = "is required" if value is _ABSENT else f"must be text, not {_kind(value)}"
            self.add(name, wrong)
        elif len(value) > max_len:
            self.add(name, f"is {len(value)} characters long; at most {max_len} fit")
        else:
            self.add(name, f"{value[:80]!r} is not a valid {name}")
        return ""

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.data.get(name, _ABSENT)
        if value is _ABSENT:
            if default is None:
                self.add(name, f"is required: one of {', '.join(choices)}")
            return default
        if value not in choices:
            self.add(name, f"{_shown(value)} is not one of {', '.join(choices)}")
            return None
        return str(value)

    def whole(self, name: str, *, lo: int, hi: int, default: int | None = None) -> int | None:
        """A whole number (a JSON integer; 2.0 is one too)."""
        value = self.data.get(name, _ABSENT)
        if value is _ABSENT:
            if default is None:
                self.add(name, "is required")
            return default
        number: int | None = None
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        if number is None:
            self.add(name, f"must be a whole number, not {_shown(value)}")
            return None
        if not lo <= number <= hi:
            self.add(name, f"must be from {lo} to {hi}, not {number}")
            return None
        return number

    def decimal(
        self, name: str, *, places: int, hi: int, pattern: str, required: bool = True
    ) -> int | None:
        """A decimal amount (a JSON number, or text in `pattern` such as "149.00") in
        1/10**places units; `hi` is the highest in those units."""
        value = self.data.get(name, _ABSENT)
        if value is _ABSENT:
            if required:
                self.add(name, "is required")
            return None
        scaled: int | None = None
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            scaled = value * 10**places
        elif isinstance(value, float):
            amount = Decimal(str(value))
            if amount.is_finite():
                exact = amount.scaleb(places)
                if exact != exact.to_integral_value():
                    self.add(name, f"{value} has more than {places} decimals")
                    return None
                scaled = int(exact)
        elif isinstance(value, str) and _RE[pattern].fullmatch(value):
            whole, _, fraction = value.partition(".")
            scaled = int(whole) * 10**places + int(fraction[:places].ljust(places, "0"))
        if scaled is None:
            self.add(name, f"must be a number such as 149.00, not {_shown(value)}")
            return None
        if not 0 <= scaled <= hi:
            self.add(name, f"must be from 0 to {hi // 10**places}, not {value}")
            return None
        return scaled

    def flag(self, name: str) -> bool:
        value = self.data.get(name, _ABSENT)
        if isinstance(value, bool):
            return value
        if value is _ABSENT:
            self.add(name, "is required: true or false")
        else:
            self.add(name, f"must be true or false, not {_shown(value)}")
        return False

    def gtin(self, name: str) -> str | None:
        code = self.text(name, max_len=14, pattern="gtin")
        if not code:
            return None
        try:
            return _normalized(code)
        except ValueError:
            self.add(
                name, f"{code!r} is not a valid EAN/GTIN (8, 12, 13 or 14 digits, check digit)"
            )
            return None


@lru_cache(maxsize=65536)
def _normalized(code: str) -> str:
    # A shop's file names the same few thousand EANs again and again.
    return normalize_gtin(code)


_METHODS = tuple(m.value for m in PaymentMethod)


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", str: "text"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _shown(value: object) -> str:
    return repr(value)[:40] if isinstance(value, str) else _kind(value)


def _not_object(data: object) -> list[FieldError] | None:
    if isinstance(data, Mapping):
        return None
    return [FieldError("", f"a record must be a JSON object, not {_kind(data)}")]


def parse_order(data: object) -> IncomingOrder | list[FieldError]:
    """An order record checked: the typed order, or every field error found in it."""
    if (wrong := _not_object(data)) is not None:
        return wrong
    assert isinstance(data, Mapping)
    check = _Errors(data)
    check.unknown(ORDER_FIELDS)
    ref = check.text("ref", required=True, max_len=64, pattern="ref")
    placed_at = _moment(check, "placed_at")
    status = check.choice("status", SHOP_STATUSES, default=OrderStatus.ORDER.value)
    # R1: a preorder has no customer yet; an order has the customer and where it goes.
    needed = status == OrderStatus.ORDER.value
    name = check.text("customer_name", required=needed)
    email = check.text("customer_email", pattern="email")
    street = check.text("street", required=needed)
    postcode = check.text("postcode", required=needed, max_len=20)
    city = check.text("city", required=needed, max_len=100)
    country = check.text("country", required=True, max_len=2, pattern="country")
    language = check.choice("language", LANGUAGES, default=customer_language(country or ""))
    currency = check.choice("currency", CURRENCIES)
    method = check.choice("payment_method", _METHODS)
    if method and currency and not payment_fits(PaymentMethod(method), currency):
        check.add("payment_method", f"{method} is not paid in {currency}")
    paid = check.flag("paid")
    comment = check.text("comment", max_len=2000)
    lines = _lines(check, data.get("lines"))
    if check.found:
        return check.found
    assert placed_at is not None and status and language and currency and method
    return IncomingOrder(
        ref=ref,
        placed_at=placed_at,
        status=OrderStatus(status),
        customer_name=name,
        customer_email=email,
        street=street,
        postcode=postcode,
        city=city,
        country=country,
        language=language,
        currency=currency,
        payment_method=PaymentMethod(method),
        paid=paid,
        comment=comment,
        lines=tuple(lines),
    )


def _moment(check: _Errors, name: str) -> datetime | None:
    """An RFC 3339 time with its offset (what OpenAPI's date-time is)."""
    raw = check.data.get(name, _ABSENT)
    if check.text(name, required=True, max_len=64) == "" or not isinstance(raw, str):
        return None
    if not _RE["date-time"].fullmatch(raw):
        naive = _RE["date-time"].fullmatch(raw + "Z")
        check.add(
            name,
            f"{raw!r} has no UTC offset (add Z or +01:00)"
            if naive
            else f"{raw!r} is not a time such as 2026-12-01T09:14:00+01:00",
        )
        return None
    # Python reads ISO 8601 in capitals, to the microsecond; a leap second is the one before.
    text = re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", raw.upper().replace(" ", "T"))
    text = re.sub(r"(T[0-9]{2}:[0-9]{2}):60", r"\1:59", text)
    try:
        moment = datetime.fromisoformat(text)
        moment.astimezone(UTC)  # a time at the edge of the calendar can't be in UTC
    except (ValueError, OverflowError):
        check.add(name, f"{raw!r} is not a time that exists")
        return None
    return moment


def _lines(check: _Errors, raw: object) -> list[IncomingLine]:
    if not isinstance(raw, list) or not raw:
        check.add("lines", "must be a list of at least one line")
        return []
    if len(raw) > MAX_LINES:
        check.add("lines", f"has {len(raw)} lines; at most {MAX_LINES} fit one order")
        return []
    lines = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            check.add(f"lines[{i}]", f"must be an object, not {_kind(item)}")
            continue
        line = _Errors(item, f"lines[{i}].")
        line.unknown(LINE_FIELDS)
        sku = line.text("sku", required=True, max_len=40, pattern="sku")
        gtin = line.gtin("ean")
        name = line.text("name", required=True)
        quantity = line.whole("quantity", lo=1, hi=MAX_LINE_QUANTITY)
        price = line.decimal("price", places=2, hi=MAX_PRICE_MINOR, pattern="money")
        vat = line.decimal("vat_rate", places=2, hi=100_00, pattern="vat_rate", required=False)
        check.found.extend(line.found)
        if not line.found:
            assert quantity is not None and price is not None
            lines.append(IncomingLine(sku, name, quantity, price, gtin, vat))
    return lines


def parse_product(data: object) -> IncomingProduct | list[FieldError]:
    """A product record checked: SKU, name, EAN, shelf location, weight and price."""
    if (wrong := _not_object(data)) is not None:
        return wrong
    assert isinstance(data, Mapping)
    check = _Errors(data)
    check.unknown(PRODUCT_FIELDS)
    sku = check.text("sku", required=True, max_len=40, pattern="sku")
    name = check.text("name", required=True)
    gtin = check.gtin("ean")
    location = check.text("location", max_len=20)
    weight = check.whole("weight_g", lo=0, hi=1_000_000, default=0)
    price = check.decimal("price", places=2, hi=MAX_PRICE_MINOR, pattern="money", required=False)
    if check.found:
        return check.found
    ean = None if gtin is None else str(data["ean"]).strip()
    return IncomingProduct(sku, name, ean, gtin, location, weight or 0, price or 0)


def parse_stock(data: object) -> IncomingStock | list[FieldError]:
    """A stock record checked: the SKU and how many are on hand."""
    if (wrong := _not_object(data)) is not None:
        return wrong
    assert isinstance(data, Mapping)
    check = _Errors(data)
    check.unknown(STOCK_FIELDS)
    sku = check.text("sku", required=True, max_len=40, pattern="sku")
    on_hand = check.whole("on_hand", lo=0, hi=MAX_ON_HAND)
    if check.found:
        return check.found
    assert on_hand is not None
    return IncomingStock(sku, on_hand)
