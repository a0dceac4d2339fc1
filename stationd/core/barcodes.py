"""What a scanned code is: an order, a product, a parcel id, a command — or nothing valid.

Everything a scanner (or the kiosk's text field) delivers goes through :func:`classify` before
any business rule looks at it. The module also makes the texts printed as barcodes on pick lists
and on the command sheet, and holds the check-digit arithmetic of GS1 and UPU S10.

The GS1 facts used here come from the GS1 General Specifications: the mod-10 check digit, the
table of element strings with predefined length (which need no FNC1 after them), the formats of
the application identifiers (AIs) and the AIM symbology identifiers of the GS1 symbologies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from stationd.core.parcel_formats import carrier_format
from stationd.core.text import sentence

__all__ = [
    "BADGE_CODE_MAX",
    "Classified",
    "CodeKind",
    "Command",
    "Gs1Error",
    "badge_barcode",
    "classify",
    "command_barcode",
    "ean_text",
    "gtin_check_digit",
    "is_valid_gtin",
    "is_valid_s10",
    "normalize_gtin",
    "order_barcode",
    "parse_gs1",
    "s10_check_digit",
]

GS = "\x1d"
"""The group separator, which is how scanners transmit a GS1 FNC1 inside the data."""


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


class Gs1Error(ValueError):
    """A GS1 element string that cannot be read; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Classified:
    """The outcome of :func:`classify`: what the code is, and what was read from it.

    ``code`` is the scanned text with surrounding whitespace (and an AIM symbology prefix sent
    inside the text) removed. ``gtin`` is always 14 digits. ``ais`` holds every application
    identifier of a GS1 element string, keyed by AI. ``error`` is set exactly when ``kind`` is
    INVALID, as a sentence that can be shown to the packer.
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


# --- check digits ----------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
_GTIN_KINDS = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}


def gtin_check_digit(body: str) -> int:
    """Return the GS1 mod-10 check digit for ``body``, the digits *without* the check digit.

    Works for every GS1 key with a mod-10 check digit (GTIN-8/12/13/14, SSCC, GLN).
    Raises ValueError unless ``body`` is one or more ASCII digits.
    """
    if not _DIGITS.fullmatch(body):
        raise ValueError(f"a GS1 check digit is computed over digits only, not {body!r}")
    # Weights 3, 1, 3, … run from the rightmost digit of the body, whatever its length.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _has_valid_check_digit(digits: str) -> bool:
    return len(digits) >= 2 and gtin_check_digit(digits[:-1]) == int(digits[-1])


def is_valid_gtin(code: str) -> bool:
    """True if ``code`` is 8, 12, 13 or 14 ASCII digits ending in the right check digit."""
    return (
        len(code) in _GTIN_KINDS
        and _DIGITS.fullmatch(code) is not None
        and _has_valid_check_digit(code)
    )


def ean_text(gtin: str | None) -> str:
    """A GTIN as printed under the item's own barcode: a stored GTIN-14 with leading zeros as
    its EAN-13 (or EAN-8) — "07310865004703" -> "7310865004703"; "" for none."""
    if not gtin:
        return ""
    if len(gtin) == 14 and gtin.startswith("000000"):
        return gtin[6:]
    return gtin[1:] if len(gtin) == 14 and gtin.startswith("0") else gtin


def normalize_gtin(code: str) -> str:
    """Return a valid GTIN-8/12/13/14 as 14 digits ("7310865004703" -> "07310865004703").

    Raises ValueError if ``code`` is not a valid GTIN.
    """
    if not is_valid_gtin(code):
        raise ValueError(f"{code!r} is not a valid GTIN-8, GTIN-12, GTIN-13 or GTIN-14")
    return code.zfill(14)


_S10 = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial number (weights 8 6 4 2 3 5 9 7, mod 11).

    Raises ValueError unless ``serial`` is eight ASCII digits.
    """
    if len(serial) != 8 or not _DIGITS.fullmatch(serial):
        raise ValueError(f"an S10 serial number is 8 digits, not {serial!r}")
    remainder = sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    # UPU S10: 11 - remainder, where 10 becomes 0 and 11 becomes 5.
    return {0: 5, 1: 0}.get(remainder, 11 - remainder)


def is_valid_s10(code: str) -> bool:
    """True if ``code`` is a UPU S10 item id such as "RR473124829GB".

    Two service letters, an 8-digit serial, a mod-11 check digit (weights 8 6 4 2 3 5 9 7) and
    the two letters of the country. S10 ids are upper case; lower case is not accepted here.
    """
    return _S10.fullmatch(code) is not None and s10_check_digit(code[2:10]) == int(code[10])


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


# --- GS1 element strings ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ai:
    min_len: int
    max_len: int
    digits: int  # how many leading characters of the data must be digits
    predefined: bool = False  # length fixed by the AI's first two digits: no FNC1 needed after


# GS1 General Specifications, "element strings with predefined length": keyed by the first two
# digits of the AI, the number of data characters. 31–36 have 4-digit AIs, 41 has 3-digit AIs.
_PREDEFINED_DATA_LENGTH = {
    "00": 18, "01": 14, "02": 14, "03": 14, "04": 16,
    **{str(n): 6 for n in range(11, 20)}, "20": 2,
    **{str(n): 6 for n in range(31, 37)}, "41": 13,
}  # fmt: skip

# (min, max, leading digits) of the AIs that are not in the predefined table; each runs to the
# next FNC1 or the end of the data, even those of fixed length such as 402.
_OTHER_AIS: dict[str, tuple[int, int, int]] = {
    "10": (1, 20, 0), "21": (1, 20, 0), "22": (1, 20, 0), "30": (1, 8, 8), "37": (1, 8, 8),
    "240": (1, 30, 0), "241": (1, 30, 0), "242": (1, 6, 6), "243": (1, 20, 0),
    "250": (1, 30, 0), "251": (1, 30, 0), "253": (13, 30, 13), "254": (1, 20, 0),
    "255": (13, 25, 25),
    **{f"{p}{n}": (1, 15, 15) for p in ("390", "392") for n in range(10)},
    **{f"{p}{n}": (4, 18, 18) for p in ("391", "393") for n in range(10)},
    "400": (1, 30, 0), "401": (1, 30, 0), "402": (17, 17, 17), "403": (1, 30, 0),
    "420": (1, 20, 0), "421": (4, 12, 3), "422": (3, 3, 3), "423": (3, 15, 15),
    "424": (3, 3, 3), "425": (3, 15, 15), "426": (3, 3, 3), "427": (1, 3, 0),
    "7001": (13, 13, 13), "7002": (1, 30, 0), "7003": (10, 10, 10), "7006": (6, 6, 6),
    "7007": (6, 12, 12), **{f"71{n}": (1, 20, 0) for n in range(6)},
    "8001": (14, 14, 14), "8002": (1, 20, 0), "8003": (14, 30, 14), "8004": (1, 30, 0),
    "8005": (6, 6, 6), "8006": (18, 18, 18), "8007": (1, 34, 0), "8008": (8, 12, 12),
    "8012": (1, 20, 0), "8017": (18, 18, 18), "8018": (18, 18, 18), "8020": (1, 25, 0),
    "8200": (1, 70, 0),
    "90": (1, 30, 0), **{str(n): (1, 90, 0) for n in range(91, 100)},
}  # fmt: skip


def _build_ai_table() -> dict[str, _Ai]:
    table: dict[str, _Ai] = {}
    for prefix, length in _PREDEFINED_DATA_LENGTH.items():
        if prefix == "41":
            names = [f"41{n}" for n in range(8)]  # 410–417 are the GLN AIs; 418/419 unassigned
        elif "31" <= prefix <= "36":
            names = [f"{prefix}{n:02d}" for n in range(100)]
        else:
            names = [prefix]
        table.update({name: _Ai(length, length, length, predefined=True) for name in names})
    table.update({ai: _Ai(*spec) for ai, spec in _OTHER_AIS.items()})
    return table


_AIS = _build_ai_table()
_CHECKED_KEYS = {"00": "SSCC", "01": "GTIN", "02": "GTIN"}
# GS1 AI encodable character set 82.
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*")
_BRACKETED = re.compile(r"\(([0-9]{2,4})\)([^()]*)")


def _find_ai(data: str, pos: int) -> str:
    for length in (2, 3, 4):
        if data[pos : pos + length] in _AIS:
            return data[pos : pos + length]
    shown = data[pos : pos + 4].split(GS)[0]
    if _DIGITS.fullmatch(shown[:2]):
        raise Gs1Error(
            sentence(
                "unknown GS1 application identifier starting {shown} at position {pos}",
                shown=repr(shown),
                pos=pos + 1,
            )
        )
    raise Gs1Error(
        sentence(
            "expected a GS1 application identifier at position {pos}, found {shown}",
            pos=pos + 1,
            shown=repr(shown),
        )
    )


def _check_value(ai: str, value: str, pos: int) -> None:
    spec, where = _AIS[ai], sentence("AI ({ai}) at position {pos}", ai=ai, pos=pos + 1)
    if not value:
        raise Gs1Error(sentence("{where} has no data", where=where))
    if spec.min_len == spec.max_len != len(value):
        raise Gs1Error(
            sentence(
                "{where} needs exactly {num} characters, got {got}",
                where=where,
                num=spec.min_len,
                got=len(value),
            )
        )
    if len(value) < spec.min_len:
        raise Gs1Error(
            sentence(
                "{where} needs at least {num} characters, got {got}",
                where=where,
                num=spec.min_len,
                got=len(value),
            )
        )
    if len(value) > spec.max_len:
        raise Gs1Error(
            sentence(
                "{where} is {got} characters long, at most {num} are allowed",
                where=where,
                got=len(value),
                num=spec.max_len,
            )
        )
    if spec.digits and not _DIGITS.fullmatch(value[: spec.digits]):
        raise Gs1Error(
            sentence(
                "{where} must start with {num} digits, got {value}",
                where=where,
                num=spec.digits,
                value=repr(value),
            )
        )
    if not _CSET82.fullmatch(value):
        bad = next(c for c in value if not _CSET82.fullmatch(c))
        raise Gs1Error(
            sentence(
                "{where} contains {char}, which GS1 does not allow", where=where, char=repr(bad)
            )
        )
    if ai in _CHECKED_KEYS and not _has_valid_check_digit(value):
        right = gtin_check_digit(value[:-1])
        raise Gs1Error(
            sentence(
                "{where}: {kind} {value} has a wrong check digit (should end in {right})",
                where=where,
                kind=_CHECKED_KEYS[ai],
                value=value,
                right=right,
            )
        )


def _store(result: dict[str, str], ai: str, value: str, pos: int) -> None:
    if result.setdefault(ai, value) != value:
        raise Gs1Error(
            sentence(
                "AI ({ai}) appears again at position {pos} with a different value",
                ai=ai,
                pos=pos + 1,
            )
        )


def _parse_bracketed(data: str) -> dict[str, str]:
    result: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        match = _BRACKETED.match(data, pos)
        if match is None:
            raise Gs1Error(
                sentence("bracketed GS1 text is malformed at position {pos}", pos=pos + 1)
            )
        ai, value = match.groups()
        if ai not in _AIS:
            raise Gs1Error(
                sentence(
                    "unknown GS1 application identifier ({ai}) at position {pos}",
                    ai=ai,
                    pos=pos + 1,
                )
            )
        _check_value(ai, value, pos)
        _store(result, ai, value, pos)
        pos = match.end()
    return result


def _parse_element_string(data: str) -> dict[str, str]:
    result: dict[str, str] = {}
    pos = 1 if data.startswith(GS) else 0  # FNC1 in first position marks GS1, it is no field
    while pos < len(data):
        ai = _find_ai(data, pos)
        spec, start = _AIS[ai], pos + len(ai)
        if spec.predefined:
            end = start + spec.max_len
            value = data[start:end]
            if len(value) < spec.max_len or GS in value:
                got = len(value.split(GS)[0])
                raise Gs1Error(
                    sentence(
                        "AI ({ai}) at position {pos} needs {num} digits, but only {got} follow",
                        ai=ai,
                        pos=pos + 1,
                        num=spec.max_len,
                        got=got,
                    )
                )
            # An FNC1 after a predefined-length field is superfluous but harmless.
            after = end + 1 if data.startswith(GS, end) else end
        else:
            end = data.find(GS, start)
            end = len(data) if end == -1 else end
            value, after = data[start:end], end + 1
        _check_value(ai, value, pos)
        _store(result, ai, value, pos)
        pos = after
    return result


def parse_gs1(data: str) -> dict[str, str]:
    """Parse a GS1 element string into ``{AI: value}``.

    Accepts the data as scanners send it (AIs back to back, variable-length fields ended by
    the group separator "\\x1d", an optional leading "\\x1d" for FNC1 in first position) or
    the human-readable form "(01)09501101530003(10)ABC123". Check digits of (00), (01) and
    (02) are verified. Raises :class:`Gs1Error` saying what is wrong and where (1-based).
    """
    if not data or data == GS:
        raise Gs1Error(sentence("the GS1 code holds no data"))
    return _parse_bracketed(data) if data.startswith("(") else _parse_element_string(data)


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
    return _invalid(
        text,
        sentence(
            "Unknown code {code}: it is no order, product or parcel id. A parcel id of another "
            "format is typed on the ship-out page.",
            code=text,
        ),
    )


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
