"""The carriers' own parcel id formats the station knows, each with its check digit (SPEC R13).

A code scanned at the bench is a parcel id only when it looks like one: a UPU S10 postal item
id or a GS1 SSCC (both in `core.barcodes`), or one of the carrier formats here. Anything else
is an unknown code there; a parcel id of another format is typed on the ship-out page, where a
person chose to (`core.deliveries.check_parcel_id`).

Sources: UPS tracking numbers ("1Z", six characters of shipper number, two of service, seven
of package number, a check digit computed over the fifteen characters after "1Z" with letters
counted as (code point − 63) mod 10, odd positions once and even positions twice, mod 10), as
carriers' integration guides describe it; DHL Express waybill numbers (ten digits, the last
the first nine taken as a number, mod 7).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CarrierFormat", "carrier_format", "dhl_express_check_digit", "ups_check_digit"]

_UPS = re.compile(r"1Z[0-9A-Z]{16}")
_DHL_EXPRESS = re.compile(r"[0-9]{10}")
_UPS_BODY = re.compile(r"[0-9A-Z]{15}")


@dataclass(frozen=True, slots=True)
class CarrierFormat:
    """A carrier's format a code has the shape of: its name and whether the check digit is
    right (`expected` is the check digit the code should end in)."""

    name: str
    valid: bool
    expected: str


def ups_check_digit(body: str) -> int:
    """The check digit of a UPS "1Z" tracking number from the 15 characters after "1Z".

    Raises ValueError unless `body` is 15 of 0–9, A–Z.
    """
    if not _UPS_BODY.fullmatch(body):
        raise ValueError(f"a UPS tracking number has 15 characters after 1Z, not {body!r}")
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(v if i % 2 == 0 else 2 * v for i, v in enumerate(values))
    return (10 - total % 10) % 10


def dhl_express_check_digit(body: str) -> int:
    """The check digit of a 10-digit DHL Express waybill from its first nine digits (mod 7).

    Raises ValueError unless `body` is nine ASCII digits.
    """
    if len(body) != 9 or not body.isascii() or not body.isdigit():
        raise ValueError(f"a DHL Express waybill has 9 digits before its check digit: {body!r}")
    return int(body) % 7


def carrier_format(code: str) -> CarrierFormat | None:
    """The carrier format `code` (upper case, no spaces) has the shape of, if any."""
    if _UPS.fullmatch(code):
        right = str(ups_check_digit(code[2:17]))
        return CarrierFormat("UPS", code[17] == right, right)
    if _DHL_EXPRESS.fullmatch(code):
        right = str(dhl_express_check_digit(code[:9]))
        return CarrierFormat("DHL Express", code[9] == right, right)
    return None
