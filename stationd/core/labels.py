"""The shipping label of a parcel: what it says, checked before anything is printed (SPEC R16).

A :class:`ShippingLabel` holds the facts printed on one parcel — sender, receiver, order id,
parcel id, "parcel n of m", the SSCC when the parcel has one, the weight and the carrier's
service — and refuses, with a sentence, anything a carrier's scanner or a postman could not
read. :func:`labels_for_delivery` makes one label per parcel id of a delivery (R13). Laying the
label out as ZPL or ESC/POS is the printers' business (``stationd.devices.rendering.zpl``).

Plain values only: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from types import MappingProxyType

from stationd.core.check_digits import gtin_check_digit, is_valid_s10
from stationd.core.deliveries import MAX_PARCEL_IDS, Delivery
from stationd.core.text import Text, sentence

__all__ = [
    "CAPTIONS",
    "Receiver",
    "Sender",
    "ShippingLabel",
    "format_weight",
    "labels_due_at_report_in",
    "labels_for_delivery",
]

# Longest texts a 100 mm wide label prints on one line at the smallest font the layout uses.
MAX_NAME = 50
MAX_LINE = 50
MAX_CITY = 35
MAX_POSTCODE = 10
MAX_CARRIER = 40
MAX_SENDER_LINES = 3
MAX_WEIGHT_G = 9_999_999  # 10 t: an SSCC pallet, not a parcel, is the heaviest thing labelled

# What CODE128 carries here: the characters add_parcel_id lets through, ASCII only, so that
# the ZPL field needs no escaping and every scanner reads back exactly what was typed.
_PARCEL_ID = re.compile(r"[A-Za-z0-9\-_./]{1,40}")
_S10_SHAPE = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
_SSCC = re.compile(r"[0-9]{18}")
_COUNTRY = re.compile(r"[A-Z]{2}")

CAPTIONS: Mapping[str, Text] = MappingProxyType(
    {
        "from": sentence("From"),
        "to": sentence("To"),
        "order": sentence("Order"),
        "parcel": sentence("Parcel"),
        "of": sentence("of"),
    }
)
"""The few words printed on a label, as translatable sentences: the paper says them in its
language (`stationd.services.paper`)."""

_DECIMAL_COMMA = frozenset({"sv", "nb"})


def format_weight(weight_g: int, lang: str = "en") -> str:
    """``2351`` → ``"2.36 kg"`` (``"2,36 kg"`` in sv/nb).

    Rounded *up* to 10 g: a carrier charges (and checks) by weight, and a label that claims
    less than the parcel weighs is the one that costs a surcharge.
    """
    kg = (Decimal(weight_g) / 1000).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    text = f"{kg:.2f}"
    return (text.replace(".", ",") if lang in _DECIMAL_COMMA else text) + " kg"


def _check_text(value: object, what: str, max_len: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"The {what} must be text, not {value!r}.")
    text = " ".join(value.split())  # no line breaks or runs of blanks on a printed line
    if required and not text:
        raise ValueError(sentence("The {what} is missing.", what=what))
    if len(text) > max_len:
        raise ValueError(
            sentence(
                "The {what} is {count} characters long; a label prints at most {num}.",
                what=what,
                count=len(text),
                num=max_len,
            )
        )
    for char in text:
        if unicodedata.category(char).startswith("C"):
            raise ValueError(
                sentence(
                    "The {what} contains an invisible control character ({char}).",
                    what=what,
                    char=f"U+{ord(char):04X}",
                )
            )
    return text


def _check_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"The {what} must be a whole number, not {value!r}.")
    return value


@dataclass(frozen=True)
class Sender:
    """The shop: its name and up to three address lines, printed small at the top."""

    name: str
    address_lines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "name", _check_text(self.name, sentence("sender's name"), MAX_NAME)
        )
        if isinstance(self.address_lines, str):
            raise ValueError("The sender's address lines must be a list of lines, not one text.")
        lines = tuple(
            _check_text(line, sentence("sender's address line"), MAX_LINE, required=False)
            for line in self.address_lines
        )
        lines = tuple(line for line in lines if line)
        if len(lines) > MAX_SENDER_LINES:
            raise ValueError(
                sentence(
                    "The sender's address has {count} lines; a label prints at most {num}.",
                    count=len(lines),
                    num=MAX_SENDER_LINES,
                )
            )
        object.__setattr__(self, "address_lines", lines)


@dataclass(frozen=True)
class Receiver:
    """The customer the parcel goes to. ``country`` is the ISO 3166 two-letter code ("SE")."""

    name: str
    street: str
    postcode: str
    city: str
    country: str

    def __post_init__(self) -> None:
        checks = (
            ("name", sentence("receiver's name"), MAX_NAME),
            ("street", sentence("receiver's street"), MAX_LINE),
            ("postcode", sentence("receiver's postcode"), MAX_POSTCODE),
            ("city", sentence("receiver's city"), MAX_CITY),
        )
        for attr, what, most in checks:
            object.__setattr__(self, attr, _check_text(getattr(self, attr), what, most))
        country = _check_text(self.country, sentence("receiver's country"), 2).upper()
        if not _COUNTRY.fullmatch(country):
            raise ValueError(
                sentence(
                    "The receiver's country must be a two-letter code such as SE or NO, "
                    "not {country}.",
                    country=repr(self.country),
                )
            )
        object.__setattr__(self, "country", country)


def _check_parcel_id(parcel_id: object) -> str:
    if not isinstance(parcel_id, str) or not _PARCEL_ID.fullmatch(parcel_id):
        raise ValueError(
            sentence(
                "Parcel id {code} can't be printed as a barcode: it must be 1 to 40 letters "
                "A–Z, digits or - _ . /",
                code=repr(parcel_id),
            )
        )
    if _S10_SHAPE.fullmatch(parcel_id) and not is_valid_s10(parcel_id):
        raise ValueError(
            sentence(
                "Parcel id {code} looks like a postal item id but its check digit is wrong; "
                "check it against the carrier's label.",
                code=parcel_id,
            )
        )
    return parcel_id


def _check_sscc(sscc: object) -> str:
    if not isinstance(sscc, str) or not _SSCC.fullmatch(sscc):
        raise ValueError(sentence("An SSCC is 18 digits, not {code}.", code=repr(sscc)))
    right = gtin_check_digit(sscc[:-1])
    if int(sscc[-1]) != right:
        raise ValueError(
            sentence(
                "SSCC {code} has a wrong check digit (it should end in {right}).",
                code=sscc,
                right=right,
            )
        )
    return sscc


@dataclass(frozen=True)
class ShippingLabel:
    """Everything printed on the label of one parcel, checked when it is made.

    ``parcel_number`` of ``parcel_count`` is "parcel n of m" of the delivery (at most
    four parcels, R13). ``sscc`` is the 18-digit Serial Shipping Container Code with its check
    digit, or None. ``weight_g`` is the parcel's weight in grams, or None when unknown.
    ``carrier`` is the carrier and service as printed ("PostNord MyPack Collect"), or empty.
    ``captions`` are the words printed beside the facts: `CAPTIONS`, core's English sentences,
    until the paper says them in its language.
    Any value a label can't carry raises ValueError with a sentence saying why.
    """

    sender: Sender
    receiver: Receiver
    order_id: int
    parcel_id: str
    parcel_number: int = 1
    parcel_count: int = 1
    sscc: str | None = None
    weight_g: int | None = None
    carrier: str = ""
    captions: Mapping[str, str] = field(default_factory=lambda: CAPTIONS, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.sender, Sender):
            raise ValueError(f"The sender must be a Sender, not {self.sender!r}.")
        if not isinstance(self.receiver, Receiver):
            raise ValueError(f"The receiver must be a Receiver, not {self.receiver!r}.")
        order_id = _check_count(self.order_id, "order id")
        if not 0 < order_id < 10**18:
            raise ValueError(
                sentence(
                    "An order id is a positive number of at most 18 digits, not {id}.",
                    id=order_id,
                )
            )
        _check_parcel_id(self.parcel_id)
        number = _check_count(self.parcel_number, "parcel number")
        count = _check_count(self.parcel_count, "parcel count")
        if not 1 <= count <= MAX_PARCEL_IDS:
            raise ValueError(
                sentence(
                    "A delivery has 1 to {most} parcels, so it can't be parcel {number} of "
                    "{count}.",
                    most=MAX_PARCEL_IDS,
                    number=number,
                    count=count,
                )
            )
        if not 1 <= number <= count:
            raise ValueError(
                sentence("Parcel {number} of {count} does not exist.", number=number, count=count)
            )
        if self.sscc is not None:
            _check_sscc(self.sscc)
        if self.weight_g is not None:
            weight = _check_count(self.weight_g, "weight in grams")
            if not 0 < weight <= MAX_WEIGHT_G:
                raise ValueError(sentence("A parcel can't weigh {grams} g.", grams=weight))
        object.__setattr__(
            self,
            "carrier",
            _check_text(self.carrier, sentence("carrier"), MAX_CARRIER, required=False),
        )

    def weight_text(self, lang: str = "en") -> str:
        """The weight as printed ("2.36 kg"), or "" when it is not known."""
        return "" if self.weight_g is None else format_weight(self.weight_g, lang)

    def sscc_text(self) -> str:
        """The SSCC as GS1 prints it under the barcode: ``(00) 373400306809981416``."""
        return "" if self.sscc is None else f"(00) {self.sscc}"


def labels_for_delivery(
    delivery: Delivery,
    *,
    sender: Sender,
    receiver: Receiver,
    carrier: str = "",
    ssccs: Mapping[str, str] | None = None,
    weights_g: Mapping[str, int] | None = None,
) -> list[ShippingLabel]:
    """One label per parcel id of ``delivery``, numbered 1..m in the order the ids were added.

    ``ssccs`` and ``weights_g`` give, per parcel id, its SSCC and weight. Without
    ``weights_g``, a delivery of one parcel prints the delivery's own weight; a delivery of
    several prints none, since its weight is the sum and no single parcel's.
    """
    parcel_ids = list(delivery.parcel_ids)
    if not parcel_ids:
        raise ValueError(
            sentence(
                "Order {id}: the delivery has no parcel ids yet, so there is no label to print.",
                id=delivery.order_id,
            )
        )
    ssccs = dict(ssccs or {})
    weights = dict(weights_g or {})
    if weights_g is None and len(parcel_ids) == 1 and delivery.weight_g is not None:
        weights = {parcel_ids[0]: delivery.weight_g}
    if stray := sorted(set(ssccs) - set(parcel_ids)):
        raise ValueError(
            sentence(
                "An SSCC is given for parcel id {code}, which is not on this delivery.",
                code=stray[0],
            )
        )
    if stray := sorted(set(weights) - set(parcel_ids)):
        raise ValueError(
            sentence(
                "A weight is given for parcel id {code}, which is not on this delivery.",
                code=stray[0],
            )
        )
    _refuse_repeats(ssccs.values())
    return [
        ShippingLabel(
            sender=sender,
            receiver=receiver,
            order_id=delivery.order_id,
            parcel_id=parcel_id,
            parcel_number=number,
            parcel_count=len(parcel_ids),
            sscc=ssccs.get(parcel_id),
            weight_g=weights.get(parcel_id),
            carrier=carrier,
        )
        for number, parcel_id in enumerate(parcel_ids, start=1)
    ]


def labels_due_at_report_in(
    parcel_ids: Sequence[str], labelled: Collection[str], printed_at_bench: int
) -> list[str]:
    """R16, each parcel's label once: the ids whose labels report-in prints.

    All of them when the bench printed none (`printed_at_bench` 0), or when the number of
    parcels changed since it did: its labels' "n of m" is wrong then, so every box gets a new
    one. Otherwise only the ids not `labelled` yet (one that replaced a labelled id).
    """
    if printed_at_bench and printed_at_bench != len(parcel_ids):
        return list(parcel_ids)
    return [parcel_id for parcel_id in parcel_ids if parcel_id not in labelled]


def _refuse_repeats(ssccs: Iterable[str]) -> None:
    seen: set[str] = set()
    for sscc in ssccs:
        if sscc in seen:
            raise ValueError(
                sentence(
                    "SSCC {code} is given for two parcels; each parcel has its own.", code=sscc
                )
            )
        seen.add(sscc)
