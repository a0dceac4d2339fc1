"""Check digits: the GS1 mod-10 digit of a GTIN (EAN-8, UPC-A, EAN-13, GTIN-14) and UPU S10's.

Also how a GTIN is written for a person (`ean_text`) and normalized to 14 digits
(`normalize_gtin`). The GS1 facts come from the GS1 General Specifications.
"""

from __future__ import annotations

import re

__all__ = [
    "ean_text",
    "gtin_check_digit",
    "is_valid_gtin",
    "is_valid_s10",
    "normalize_gtin",
    "s10_check_digit",
]


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
