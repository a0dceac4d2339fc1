"""GS1 element strings: reading the application identifiers (AIs) out of a scanned GS1 code.

The GS1 facts used here come from the GS1 General Specifications: the table of element strings
with predefined length (which need no FNC1 after them) and the formats of the AIs. Scanners send
FNC1 as the group separator `GS`; `parse_gs1` also reads the bracketed "(01)…(10)…" form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stationd.core.check_digits import (
    _DIGITS,
    _has_valid_check_digit,
    gtin_check_digit,
)
from stationd.core.text import sentence

__all__ = [
    "Gs1Error",
    "parse_gs1",
]


GS = "\x1d"
"""The group separator, which is how scanners transmit a GS1 FNC1 inside the data."""


class Gs1Error(ValueError):
    """A GS1 element string that cannot be read; the message says where and why."""


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
