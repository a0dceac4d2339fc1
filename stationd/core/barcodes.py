"""What a scanned code is: an order, a product, a parcel id, a command — or nothing valid.

Everything a scanner (or the kiosk's text field) delivers goes through :func:`classify` before
any business rule looks at it. The module also makes the texts printed as barcodes on pick lists
and on the command sheet. The check-digit arithmetic of GS1 and UPU S10 is in
:mod:`stationd.core.check_digits`, the reading of GS1 element strings in :mod:`stationd.core.gs1`.

The AIM symbology identifiers of the GS1 symbologies come from ISO/IEC 15424.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from stationd.core.check_digits import (
    _GTIN_KINDS,
    _S10,
    _has_valid_check_digit,
    gtin_check_digit,
    is_valid_s10,
    s10_check_digit,
)
from stationd.core.gs1 import (
    GS,
    Gs1Error,
    parse_gs1,
)
from stationd.core.parcel_formats import carrier_format
from stationd.core.text import sentence

__all__ = [
    "BADGE_CODE_MAX",
    "Classified",
    "CodeKind",
    "Command",
    "badge_barcode",
    "classify",
    "command_barcode",
    "order_barcode",
]


class CodeKind(StrEnum):
    """The kinds of code a packer can scan."""

    ORDER = "order"
    ITEM = "item"
    PARCEL = "parcel"
    COMMAND = "command"
    BADGE = "badge"
    INVALID = "invalid"


class Command(StrEnum):
    """The commands printed on the command sheet at the bench."""

    DONE = "DONE"
    NEXT_PARCEL = "NEXT-PARCEL"
    PARTIAL = "PARTIAL"
    UNDO = "UNDO"
    CANCEL = "CANCEL"


@dataclass(frozen=True, slots=True)
class Classified:
    """The outcome of :func:`classify`: what the code is, and what was read from it.

    ``code`` is the scanned text with surrounding whitespace (and an AIM symbology prefix sent
    inside the text) removed. ``gtin`` is always 14 digits. ``ais`` holds every application
    identifier of a GS1 element string, keyed by AI. ``error`` is set exactly when ``kind`` is
    INVALID, as a sentence that can be shown to the packer: a clause that a caller may put in
    a sentence of its own, except for a code of no known format (``unknown``), whose error is a
    whole sentence that says where another parcel id format goes.
    """

    kind: CodeKind
    code: str
    gtin: str | None = None
    order_id: int | None = None
    command: Command | None = None
    sscc: str | None = None
    batch: str | None = None
    serial: str | None = None
    badge: str | None = None  # an operator's badge code, without its `OP-`
    # A dict cannot be hashed; leaving it out of the hash keeps Classified usable as a key.
    ais: Mapping[str, str] = field(default_factory=dict, hash=False)
    error: str | None = None
    unknown: bool = False


# --- barcodes this station prints ------------------------------------------------------------

_ORDER_PREFIX = "ORD-"
_COMMAND_PREFIX = "CMD-"
_BADGE_PREFIX = "OP-"
BADGE_CODE_MAX = 40
_BADGE_CODE = re.compile(rf"[A-Z0-9][A-Z0-9\-_.]{{0,{BADGE_CODE_MAX - 1}}}")
# At most 18 digits, so every order id read from a barcode fits a signed 64-bit column.
_ORDER_ID = re.compile(r"[1-9][0-9]{0,17}")


def order_barcode(order_id: int) -> str:
    """Return the text printed as CODE128 on a pick list, e.g. ``ORD-1042``.

    Raises ValueError unless ``order_id`` is a positive int of at most 18 digits.
    """
    if isinstance(order_id, bool) or not isinstance(order_id, int):
        raise ValueError(f"an order id is an int, not {order_id!r}")
    if not 0 < order_id < 10**18:
        raise ValueError(f"an order id is a positive number of at most 18 digits, not {order_id}")
    return f"{_ORDER_PREFIX}{order_id}"


def command_barcode(command: Command) -> str:
    """Return the text printed on the command sheet for ``command``, e.g. ``CMD-DONE``."""
    return f"{_COMMAND_PREFIX}{Command(command).value}"


def badge_barcode(badge_code: str) -> str:
    """Return the text printed on an operator's badge, e.g. ``OP-ANNA7``.

    Raises ValueError unless ``badge_code`` is 1–40 of A–Z, 0–9, - _ . (upper case).
    """
    if not _BADGE_CODE.fullmatch(badge_code):
        raise ValueError(f"{badge_code!r} is not a badge code")
    return f"{_BADGE_PREFIX}{badge_code}"


# --- classification --------------------------------------------------------------------------

# str.strip() would also remove "\x1c"–"\x1f", among them GS, which carries meaning here.
_BLANKS = " \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
_BLANKS += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_AIM_PREFIX = re.compile(r"\][A-Za-z][0-9A-Za-z]")
# AIM symbology identifiers (ISO/IEC 15424) of symbols that carry GS1 element strings:
# GS1-128, GS1 DataBar, GS1 DataMatrix, GS1 QR Code, GS1 DotCode.
_GS1_SYMBOLOGIES = frozenset({"C1", "e0", "d2", "Q3", "J1"})
_BRACKET_START = re.compile(r"\([0-9]{2,4}\)")
_PARCEL_TEXT = re.compile(r"[A-Za-z0-9\-_./+ ]+")
_MAX_SCAN_LENGTH = 80
_MAX_GS1_LENGTH = 256  # GS1 DataMatrix on medicines and the like can exceed 80 characters
_PARCEL_TEXT_LENGTH = range(4, 61)
_PARCEL_DIGIT_LENGTH = range(6, 41)


def _invalid(code: str, error: str) -> Classified:
    return Classified(CodeKind.INVALID, code, error=error)


def _symbology_id(symbology: str | None) -> str | None:
    if symbology is None:
        return None
    aim = symbology.strip().removeprefix("]")
    return aim if len(aim) == 2 else None


def _classify_gs1(text: str) -> Classified:
    try:
        ais = parse_gs1(text)
    except Gs1Error as exc:
        return _invalid(text, sentence("GS1 code not understood: {reason}", reason=exc.args[0]))
    frozen = MappingProxyType(ais)
    sscc = ais.get("00")
    if "01" in ais:
        return Classified(
            CodeKind.ITEM,
            text,
            gtin=ais["01"],
            sscc=sscc,
            batch=ais.get("10"),
            serial=ais.get("21"),
            ais=frozen,
        )
    if sscc is not None:
        return Classified(CodeKind.PARCEL, text, sscc=sscc, ais=frozen)
    return _invalid(text, sentence("GS1 code carries neither a GTIN (01) nor an SSCC (00)"))


def _classify_prefixed(text: str) -> Classified | None:
    head, rest = text[:4].upper(), text[4:]
    if head == _ORDER_PREFIX:
        if _ORDER_ID.fullmatch(rest):
            return Classified(CodeKind.ORDER, text, order_id=int(rest))
        return _invalid(
            text,
            sentence(
                "{code} is not a valid order barcode (expected ORD- and the order number)",
                code=text,
            ),
        )
    if head == _COMMAND_PREFIX:
        try:
            command = Command(rest.upper())
        except ValueError:
            return _invalid(text, sentence("unknown command barcode {code}", code=text))
        return Classified(CodeKind.COMMAND, text, command=command)
    if text[:3].upper() == _BADGE_PREFIX:
        badge = text[3:].upper()
        if _BADGE_CODE.fullmatch(badge):
            return Classified(CodeKind.BADGE, text, badge=badge)
        return _invalid(
            text,
            sentence("{code} is not a valid operator badge (expected OP- and the code)", code=text),
        )
    return None


def _classify_digits(text: str) -> Classified:
    length = len(text)
    if length in _GTIN_KINDS:
        if _has_valid_check_digit(text):
            return Classified(CodeKind.ITEM, text, gtin=text.zfill(14))
        right = gtin_check_digit(text[:-1])
        return _invalid(
            text,
            sentence(
                "{kind} {code} has a wrong check digit (should end in {right})",
                kind=_GTIN_KINDS[length],
                code=text,
                right=right,
            ),
        )
    if length == 18:
        if _has_valid_check_digit(text):
            return Classified(CodeKind.PARCEL, text, sscc=text)
        right = gtin_check_digit(text[:-1])
        return _invalid(
            text,
            sentence(
                "{kind} {code} has a wrong check digit (should end in {right})",
                kind="SSCC",
                code=text,
                right=right,
            ),
        )
    if length == 20 and text.startswith("00") and _has_valid_check_digit(text[2:]):
        # A GS1-128 SSCC label read by a scanner that does not send the AIM identifier.
        return Classified(CodeKind.PARCEL, text, sscc=text[2:])
    carrier = carrier_format(text)
    if carrier is not None and carrier.valid:
        return Classified(CodeKind.PARCEL, text)
    if length in _PARCEL_DIGIT_LENGTH:
        return _unknown(text)
    return _invalid(
        text,
        sentence("a number of {num} digits is not a product, order or parcel code", num=length),
    )


def _classify_text(text: str) -> Classified:
    upper = text.upper()
    if _S10.fullmatch(upper) and not is_valid_s10(upper):
        right = s10_check_digit(upper[2:10])
        return _invalid(
            text,
            sentence(
                "postal parcel id {code} has a wrong check digit (the last digit should be "
                "{right})",
                code=text,
                right=right,
            ),
        )
    if not _PARCEL_TEXT.fullmatch(text):
        bad = next(c for c in text if not _PARCEL_TEXT.fullmatch(c))
        return _invalid(
            text,
            sentence(
                "the scan contains {char}, which no order, product or parcel code uses",
                char=repr(bad),
            ),
        )
    if len(text) not in _PARCEL_TEXT_LENGTH:
        if len(text) < _PARCEL_TEXT_LENGTH.start:
            why = sentence(
                "{code} is too short to be an order, product or parcel code", code=repr(text)
            )
        else:
            why = sentence(
                "{code} is too long to be an order, product or parcel code", code=repr(text)
            )
        return _invalid(text, why)
    if is_valid_s10(upper):
        return Classified(CodeKind.PARCEL, text)
    carrier = carrier_format(upper)
    if carrier is not None and carrier.valid:
        return Classified(CodeKind.PARCEL, text)
    if carrier is not None:
        return _invalid(
            text,
            sentence(
                "{carrier} parcel id {code} has a wrong check digit (the last character "
                "should be {right}).",
                carrier=carrier.name,
                code=text,
                right=carrier.expected,
            ),
        )
    return _unknown(text)


def _unknown(text: str) -> Classified:
    """R13: a code of no format the station knows is no parcel id at the bench, however long;
    a parcel id of another carrier's format is typed on the ship-out page, where a person
    chose to."""
    said = sentence(
        "Unknown code {code}: it is no order, product or parcel id. A parcel id of another "
        "format is typed on the ship-out page.",
        code=text,
    )
    return Classified(CodeKind.INVALID, text, error=said, unknown=True)


def classify(code: str, symbology: str | None = None) -> Classified:
    """Tell what a scanned (or typed) code is. Never raises; bad input gives INVALID.

    ``symbology`` is the AIM symbology identifier the scanner reported (``"]C1"`` or ``"C1"``),
    if any; an AIM identifier sent at the start of the text itself is recognised too. GS1
    element strings are parsed when the symbology is a GS1 one, when the text contains a group
    separator (FNC1), or when it is in the bracketed form "(01)…". Order, command and operator
    badge (``OP-…``) barcodes are matched case-insensitively; all-digit codes are checked as
    GTIN (8/12/13/14 digits) or SSCC (18 digits). A parcel id must look like one (R13): a UPU
    S10 id, an SSCC or a carrier format of `core.parcel_formats`, each with its check digit
    right; any other code is INVALID, an unknown code.
    """
    text = code.strip(_BLANKS)
    aim = _AIM_PREFIX.match(text)
    if aim is not None:
        text = text[aim.end() :].strip(_BLANKS)
    symbology_id = _symbology_id(symbology) or (aim.group()[1:] if aim else None)

    if not text:
        return _invalid(text, sentence("the scan is empty"))
    for char in text:
        if char != GS and unicodedata.category(char).startswith("C"):
            return _invalid(
                text,
                sentence(
                    "the scan contains an invisible control character ({char}); check the "
                    "scanner's settings",
                    char=f"U+{ord(char):04X}",
                ),
            )
    if symbology_id in _GS1_SYMBOLOGIES or GS in text or _BRACKET_START.match(text):
        if len(text) > _MAX_GS1_LENGTH:
            return _invalid(
                text, sentence("the GS1 code is too long ({num} characters)", num=len(text))
            )
        return _classify_gs1(text)
    if len(text) > _MAX_SCAN_LENGTH:
        return _invalid(
            text, sentence("the scan is too long ({num} characters) to be a code", num=len(text))
        )
    prefixed = _classify_prefixed(text)
    if prefixed is not None:
        return prefixed
    if text.isascii() and text.isdigit():
        return _classify_digits(text)
    return _classify_text(text)
