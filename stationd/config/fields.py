"""The typed keys of the config file and how a bad value is told.

Every key is declared on the dataclass field that holds it with one of the key helpers here
(``_int``, ``_float``, ``_str``, ``_choice``, ``_bool``, ``_path``, ``_usb_id``): its type, default
and bounds. A wrong value raises ``_Invalid``, which the reader turns into a :class:`ConfigError`,
one sentence naming the file and the key (and the key you probably meant: ``_did_you_mean``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """The configuration can't be used.

    ``str(err)`` is one sentence for a person: the file (or ``<dict>``, ``<overrides>``), the
    ``section.key``, what is wrong and, when a known name is close, ``did you mean 'xyz'?``.

    Attributes:
        source: where the bad value came from (a file path, ``<dict>``, ``<overrides>`` …).
        key: the dotted key (``kiosk.port``, ``scanners[0].baudrate``), or None for the whole file.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        super().__init__(message)
        self.source = source
        self.key = key


class _Invalid(Exception):
    """A value or a combination of values is wrong; the reader adds the source."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


# --------------------------------------------------------------------------- value descriptions


def _describe(value: Any, *, secret: bool = False) -> str:
    """Say what a TOML value is, in TOML words: "the string '8080'", "the boolean true"."""
    if isinstance(value, bool):
        kind, shown = "boolean", "true" if value else "false"
    elif isinstance(value, int):
        kind, shown = "integer", str(value)
    elif isinstance(value, float):
        kind, shown = "float", repr(value)
    elif isinstance(value, str):
        kind, shown = "string", repr(value)
    elif isinstance(value, list):
        return "an array"
    elif isinstance(value, Mapping):
        return "a table"
    elif isinstance(value, datetime):
        kind, shown = "date-time", value.isoformat()
    elif isinstance(value, date):
        kind, shown = "date", value.isoformat()
    elif isinstance(value, time):
        kind, shown = "time", value.isoformat()
    else:
        kind, shown = type(value).__name__, repr(value)
    if not secret:
        return f"the {kind} {shown}"
    if isinstance(value, str):
        if "://" in value:
            return f"a URL starting '{value.split('://', 1)[0]}://'"
        return f"a string of {len(value)} characters"
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _number(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _quoted(names: Iterable[Any]) -> str:
    return ", ".join(f"'{n}'" if isinstance(n, str) else _number(n) for n in names)


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    """``did you mean 'port'?`` for a close match, else the list of what is known."""
    known = sorted(known)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known: {_quoted(known)}" if known else "none are known here"


# --------------------------------------------------------------------------- key declarations

_KEY = "stationd.config.key"
_SECTION = "stationd.config.section"
_MISSING: Any = dataclasses.MISSING

Reader = Callable[[Any, str], Any]
"""Turns a raw TOML value into the typed value for the key at ``where``; raises ``_Invalid``."""


@dataclass(frozen=True, slots=True)
class _Key:
    """How one key is read. Stored in the dataclass field's metadata."""

    read: Reader
    required: bool = False
    only_for: tuple[str, ...] = ()  # the values of the section's ``kind`` key it applies to


def _key(
    read: Reader,
    default: Any,
    *,
    only_for: tuple[str, ...] = (),
    secret: bool = False,
) -> Any:
    required = default is _MISSING
    return dataclasses.field(
        default=default,
        repr=not secret,
        metadata={_KEY: _Key(read=read, required=required, only_for=only_for)},
    )


def _wrong_type(where: str, expected: str, value: Any, secret: bool = False) -> _Invalid:
    return _Invalid(where, f"{where} must be {expected}, got {_describe(value, secret=secret)}")


def _check_range(where: str, value: float, lo: float | None, hi: float | None) -> None:
    if lo is not None and hi is not None:
        if not lo <= value <= hi:  # written this way so NaN fails too
            raise _Invalid(
                where,
                f"{where} must be between {_number(lo)} and {_number(hi)}, got {_number(value)}",
            )
    elif lo is not None and not value >= lo:
        raise _Invalid(where, f"{where} must be at least {_number(lo)}, got {_number(value)}")
    elif hi is not None and not value <= hi:
        raise _Invalid(where, f"{where} must be at most {_number(hi)}, got {_number(value)}")


def _check_choice(where: str, value: float, choices: tuple[float, ...] | None) -> None:
    if choices is not None and value not in choices:
        raise _Invalid(where, f"{where} must be one of {_quoted(choices)}, got {_number(value)}")


def _int(
    default: int = _MISSING,
    *,
    lo: int | None = None,
    hi: int | None = None,
    choices: tuple[int, ...] | None = None,
    only_for: tuple[str, ...] = (),
) -> Any:
    """An integer key (TOML booleans and floats are refused), with bounds or a set of choices."""

    def read(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(where, "an integer", value)
        _check_range(where, value, lo, hi)
        _check_choice(where, value, choices)
        return value

    return _key(read, default, only_for=only_for)


def _float(
    default: float = _MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[float, ...] | None = None,
    only_for: tuple[str, ...] = (),
) -> Any:
    """A number key: a TOML float or integer (``5`` reads as ``5.0``), with bounds or choices."""

    def read(value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(where, "a number", value)
        _check_range(where, value, lo, hi)
        _check_choice(where, value, choices)
        return float(value)

    return _key(read, default, only_for=only_for)


def _bool(default: bool = _MISSING, *, only_for: tuple[str, ...] = ()) -> Any:
    """A boolean key: TOML ``true`` / ``false`` only (not 0/1, not "yes")."""

    def read(value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise _wrong_type(where, "true or false", value)
        return value

    return _key(read, default, only_for=only_for)


def _str(
    default: str = _MISSING,
    *,
    non_empty: bool = False,
    max_len: int | None = None,
    prefixes: tuple[str, ...] | None = None,
    prefix_hint: str = "",
    secret: bool = False,
    only_for: tuple[str, ...] = (),
    printable: bool = False,
) -> Any:
    """A string key. ``prefixes``: a non-empty value must start with one of them.

    ``secret`` keeps the value out of ``repr()`` and out of error messages. ``printable``: no
    control characters (a name shown on pages and written to the database).
    """

    def read(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise _wrong_type(where, "a string", value, secret)
        if non_empty and not value.strip():
            raise _Invalid(where, f"{where} must not be empty")
        if max_len is not None and len(value) > max_len:
            raise _Invalid(
                where, f"{where} must be at most {max_len} characters long, it has {len(value)}"
            )
        if printable and not value.isprintable():
            raise _Invalid(
                where, f"{where} must not hold control or invisible characters, got {value!r}"
            )
        if prefixes and value and not value.startswith(prefixes):
            raise _Invalid(
                where,
                f"{where} must {prefix_hint}start with {' or '.join(map(repr, prefixes))}, "
                f"got {_describe(value, secret=secret)}",
            )
        return value

    return _key(read, default, only_for=only_for, secret=secret)


def _choice(default: str, choices: tuple[str, ...], *, only_for: tuple[str, ...] = ()) -> Any:
    """One of a few words, matched case-insensitively and kept in the spelling of ``choices``."""
    by_fold = {c.casefold(): c for c in choices}

    def read(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise _wrong_type(where, f"one of {_quoted(choices)}", value)
        try:
            return by_fold[value.casefold()]
        except KeyError:
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise _Invalid(
                where, f"{where} must be one of {_quoted(choices)}, got {value!r}{hint}"
            ) from None

    return _key(read, default, only_for=only_for)


def _path(default: Path | None, *, optional: bool = False, only_for: tuple[str, ...] = ()) -> Any:
    """An absolute filesystem path (``~`` expanded). ``optional``: ``""`` means None."""

    def read(value: Any, where: str) -> Path | None:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise _wrong_type(where, "a path (a string)", value)
        if not value:
            if optional:
                return None
            raise _Invalid(where, f"{where} must not be empty")
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise _Invalid(where, f"{where} must be an absolute path, got {value!r}")
        return path

    return _key(read, default, only_for=only_for)


def _usb_id(*, only_for: tuple[str, ...] = ()) -> Any:
    """A USB vendor or product id: an integer (``0x1eab``) or a hex string.

    Strings are always hex, as ``lsusb`` prints them (``"1eab"``, ``"0x1eab"``). Unset is None.
    """

    def read(value: Any, where: str) -> int:
        if isinstance(value, str):
            text = value.strip().lower().removeprefix("0x")
            try:
                value = int(text, 16)
            except ValueError:
                raise _Invalid(
                    where, f"{where} must be a USB id such as 0x1eab, got {value!r}"
                ) from None
        elif isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(where, "a USB id such as 0x1eab", value)
        if not 0 <= value <= 0xFFFF:
            raise _Invalid(where, f"{where} must be between 0x0000 and 0xffff, got {value:#x}")
        return value

    return _key(read, None, only_for=only_for)


# --------------------------------------------------------------------------- the sections
