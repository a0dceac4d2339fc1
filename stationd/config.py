"""One TOML file → frozen, typed settings.

The station reads one file (``/etc/stationd/stationd.toml`` unless told otherwise) and turns it
into a :class:`Settings` tree of frozen dataclasses. Every key is declared once, on the dataclass
field that holds it, with its type, default and bounds (``_int``, ``_float``, ``_str``, ``_choice``,
``_bool``, ``_path``, ``_usb_id``). One generic reader walks those declarations, so unknown keys,
wrong types and out-of-range values are reported the same way everywhere, as one sentence that
names the file and the key (and suggests the key you probably meant).

Adding a section (``[printers]``, ``[scale]`` …):

1. write a ``@dataclass(frozen=True, slots=True)`` whose fields use the key helpers below;
   a cross-key rule goes in a ``_check(self, at)`` method that raises ``_Invalid``;
2. add a field to :class:`Settings` with ``_section(TheClass)`` (a ``[table]``) or
   ``_array(TheClass, unique="name")`` (an ``[[array of tables]]``);
3. add the keys, with their defaults, to ``stationd.example.toml`` — a test checks it.

Nothing here runs at import time: call :func:`load_settings`.
"""

# The key helpers (_int, _path, _section …) return dataclasses.field(...), which RUF009 can't see.
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from stationd.core.text import Text, sentence

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "ConfigError",
    "DatabaseSettings",
    "KioskSettings",
    "LoggingSettings",
    "PackScriptSettings",
    "PrintSettings",
    "PrinterSettings",
    "ScaleSettings",
    "ScannerSettings",
    "Settings",
    "ShopSettings",
    "StationSettings",
    "config_path",
    "is_loopback",
    "load_settings",
    "settings_from_dict",
]

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/stationd/stationd.toml")
"""Read when neither ``--config`` nor ``$STATIOND_CONFIG`` names a file, if it exists."""

CONFIG_ENV_VAR = "STATIOND_CONFIG"
#: The source of settings read from no file: the built-in defaults.
DEFAULTS_SOURCE = "<defaults>"
"""Environment variable naming the config file (``--config`` beats it)."""


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

LANGUAGES = ("sv", "nb", "en")
CURRENCIES = ("SEK", "NOK", "EUR")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DATABASE_URL_PREFIXES = ("sqlite:///", "postgresql+psycopg://")
STANDARD_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
MIN_LAN_TOKEN_LEN = 16


@dataclass(frozen=True, slots=True)
class StationSettings:
    """``[station]``: who this bench is and where it keeps its files."""

    name: str = _str("bench-1", non_empty=True, max_len=64, printable=True)
    language: str = _choice("sv", LANGUAGES)
    currency: str = _choice("SEK", CURRENCIES)
    state_dir: Path = _path(Path("/var/lib/stationd"))
    timezone: str = _str("Europe/Stockholm", non_empty=True)

    def _check(self, at: str) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise _Invalid(
                f"{at}.timezone",
                f"{at}.timezone {self.timezone!r} is not a time zone; use an IANA name such as "
                "'Europe/Stockholm' or 'Europe/Oslo'",
            ) from None

    @property
    def tz(self):  # type: ignore[no-untyped-def]
        """The station's time zone: dates typed and shown at the bench are in it."""
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """``[database]``: empty ``url`` = the SQLite file in ``station.state_dir``."""

    url: str = _str(
        "",
        prefixes=DATABASE_URL_PREFIXES,
        prefix_hint="be empty (SQLite in station.state_dir) or ",
        secret=True,  # it may carry a password
    )
    busy_timeout_s: float = _float(5.0, lo=0.1, hi=120)
    claim_lease_s: int = _int(300, lo=10, hi=86400)


def is_loopback(host: str | None) -> bool:
    """True for an address only this machine reaches: localhost, 127.0.0.0/8, ::1, and the
    IPv4-mapped ::ffff:127.x.y.z a dual-stack server reports. Any other name: assume reachable."""
    if not host:
        return False
    if host.casefold() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


@dataclass(frozen=True, slots=True)
class KioskSettings:
    """``[kiosk]``: the touchscreen web page. Off loopback it needs a ``token``."""

    host: str = _str("127.0.0.1", non_empty=True)
    port: int = _int(8080, lo=1, hi=65535)
    token: str = _str("", secret=True)
    # Opens /metrics only, for a monitor on the network (issue 14); the kiosk token opens it too.
    metrics_token: str = _str("", secret=True)
    threads: int = _int(16, lo=2, hi=128)
    sse_heartbeat_s: float = _float(15.0, lo=1, hi=300)
    # Operators (issue 8): must someone sign in before scans count; lock after no touch or scan.
    sign_in_required: bool = _bool(False)
    idle_lock_s: int = _int(0, lo=0, hi=86400)

    @property
    def loopback_only(self) -> bool:
        """True when ``host`` can be reached from this machine only."""
        return is_loopback(self.host)

    def _check(self, at: str) -> None:
        if self.metrics_token and len(self.metrics_token) < MIN_LAN_TOKEN_LEN:
            raise _Invalid(
                f"{at}.metrics_token",
                f"{at}.metrics_token must be at least {MIN_LAN_TOKEN_LEN} characters "
                f"(it has {len(self.metrics_token)}), or empty",
            )
        if not self.loopback_only and len(self.token) < MIN_LAN_TOKEN_LEN:
            has = f" (it has {len(self.token)})" if self.token else ""
            raise _Invalid(
                f"{at}.token",
                f"{at}.host {self.host!r} is reachable from the network, so {at}.token must be "
                f"set to a secret of at least {MIN_LAN_TOKEN_LEN} characters{has}",
            )


@dataclass(frozen=True, slots=True)
class PackScriptSettings:
    """``[packscript]``: how often the pack script runs (R6), 0 = by hand only; how many days
    each run's step-by-step trace is kept (the run's counts stay)."""

    interval_min: int = _int(15, lo=0, hi=1440)
    run_on_start: bool = _bool(False)
    keep_traces_days: int = _int(30, lo=1, hi=3650)


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """``[logging]``: ``wire`` logs raw device bytes at DEBUG."""

    level: str = _choice("INFO", LOG_LEVELS)
    wire: bool = _bool(False)


_SERIAL = ("serial",)
_SIMULATED = ("simulated",)
_FOUND_BY_PORT = ("serial", "keyboard")  # a tty, or an input device path
_USB = ("serial", "keyboard", "hidpos")
_FRAMED = ("serial", "keyboard")  # frames built from characters: suffix, prefix, AIM ids
_REAL = ("serial", "keyboard", "hidpos")
KEYBOARD_LAYOUTS = ("us", "se", "no", "dk", "de")


@dataclass(frozen=True, slots=True)
class ScannerSettings:
    """One ``[[scanners]]`` entry.

    kind ``serial`` (RS-232 / USB CDC) and ``keyboard`` (USB HID in keyboard mode, grabbed
    through evdev) are found by ``port`` (a tty, or ``/dev/input/by-id/…``) or by ``usb_vid`` +
    ``usb_pid`` (and optionally ``serial_number``) — exactly one of the two; ``hidpos`` (USB
    HID POS mode) by ``usb_vid`` + ``usb_pid``. Keys of another ``kind`` are refused.
    """

    name: str = _str(non_empty=True, max_len=64, printable=True)
    kind: str = _choice(_MISSING, ("serial", "keyboard", "hidpos", "simulated"))
    # how to find it
    port: str = _str("", only_for=_FOUND_BY_PORT)
    usb_vid: int | None = _usb_id(only_for=_USB)
    usb_pid: int | None = _usb_id(only_for=_USB)
    serial_number: str = _str("", only_for=_USB)
    # serial: the line
    baudrate: int = _int(9600, choices=STANDARD_BAUDRATES, only_for=_SERIAL)
    bytesize: int = _int(8, lo=5, hi=8, only_for=_SERIAL)
    parity: str = _choice("N", ("N", "E", "O", "M", "S"), only_for=_SERIAL)
    stopbits: float = _float(1.0, choices=(1, 1.5, 2), only_for=_SERIAL)
    suffix: str = _choice("auto", ("auto", "cr", "lf", "crlf"), only_for=_SERIAL)
    # keyboard: the scanner's own keyboard layout (not the desktop's)
    layout: str = _choice("us", KEYBOARD_LAYOUTS, only_for=("keyboard",))
    # the frames
    strip_prefix: str = _str("", only_for=_FRAMED)
    strip_suffix: str = _str("", only_for=_FRAMED)
    aim_ids: bool = _bool(True, only_for=_FRAMED)
    max_frame_len: int = _int(256, lo=8, hi=4096, only_for=_REAL)
    frame_timeout_s: float = _float(0.2, lo=0.01, hi=5, only_for=_REAL)
    reconnect_max_s: float = _float(5.0, lo=0.1, hi=60, only_for=_REAL)
    # simulated
    fifo_path: Path | None = _path(None, optional=True, only_for=_SIMULATED)

    def _check(self, at: str) -> None:
        if self.kind == "hidpos" and (self.usb_vid is None or self.usb_pid is None):
            raise _Invalid(f"{at}.usb_vid", f"{at}: a hidpos scanner needs usb_vid and usb_pid")
        if self.kind not in _FOUND_BY_PORT:
            return
        by_port = bool(self.port)
        by_usb = self.usb_vid is not None or self.usb_pid is not None
        if by_port and by_usb:
            raise _Invalid(
                f"{at}.port",
                f"{at} sets both port and usb_vid/usb_pid; give exactly one way of finding it",
            )
        if not by_port and not by_usb:
            raise _Invalid(
                f"{at}.port",
                f"{at} needs a way of finding the scanner: port, or usb_vid and usb_pid",
            )
        if by_usb and (self.usb_vid is None or self.usb_pid is None):
            missing = "usb_pid" if self.usb_pid is None else "usb_vid"
            raise _Invalid(
                f"{at}.{missing}", f"{at}.{missing} is missing: usb_vid and usb_pid go together"
            )
        if self.serial_number and not by_usb:
            raise _Invalid(
                f"{at}.serial_number",
                f"{at}.serial_number only applies together with usb_vid and usb_pid",
            )


@dataclass(frozen=True, slots=True)
class ShopSettings:
    """``[shop]``: who sends the parcels and issues the receipts (labels, receipts, invoices)."""

    # The limits are what one line of a shipping label holds (core.labels).
    name: str = _str("Demo Butik AB", non_empty=True, max_len=50, printable=True)
    street: str = _str("Storgatan 1", max_len=50)
    postcode: str = _str("111 22", max_len=10)
    city: str = _str("Stockholm", max_len=35)
    country: str = _str("SE", non_empty=True, max_len=2)
    org_number: str = _str("", max_len=40)
    vat_number: str = _str("", max_len=40)
    vat_percent: int = _int(25, lo=0, hi=50)
    invoice_due_days: int = _int(30, lo=0, hi=365)
    picklist_barcodes: bool = _bool(False)


#: Paper columns of a receipt printer with no profile (80 mm paper at 512 dots, Font A).
DEFAULT_COLUMNS = 42


def _profile_data(profile: str) -> dict | None:
    from escpos.capabilities import get_profile  # only for a printer that names a profile

    try:
        return get_profile(profile).profile_data
    except KeyError:
        return None


def profile_columns(profile: str) -> int:
    """The Font A columns of python-escpos printer profile `profile` (TM-T20II, 576 dots: 48);
    DEFAULT_COLUMNS for no profile or one that doesn't know its fonts."""
    data = _profile_data(profile) if profile else None
    try:
        return int(data["fonts"]["0"]["columns"]) if data else DEFAULT_COLUMNS
    except (KeyError, TypeError, ValueError):
        return DEFAULT_COLUMNS


PRINTER_KINDS = ("escpos", "zpl", "simulated")
PRINTER_TRANSPORTS = ("network", "serial", "usb", "file")
_REAL_PRINTER = ("escpos", "zpl")


@dataclass(frozen=True, slots=True)
class PrinterSettings:
    """One ``[[printers]]`` entry: an ESC/POS receipt printer, a ZPL label printer, or the
    simulated one. Real printers are reached over ``transport``: ``network`` (``host``,
    ``port``), ``serial`` (``device``, ``baudrate``), ``usb`` (``usb_vid``, ``usb_pid``,
    ``serial_number``) or ``file`` (``device``, e.g. ``/dev/usb/lp0``)."""

    name: str = _str(non_empty=True, max_len=64, printable=True)
    kind: str = _choice(_MISSING, PRINTER_KINDS)
    transport: str = _choice("network", PRINTER_TRANSPORTS, only_for=_REAL_PRINTER)
    host: str = _str("", only_for=_REAL_PRINTER)
    port: int = _int(9100, lo=1, hi=65535, only_for=_REAL_PRINTER)
    device: str = _str("", only_for=_REAL_PRINTER)
    baudrate: int = _int(9600, choices=STANDARD_BAUDRATES, only_for=_REAL_PRINTER)
    usb_vid: int | None = _usb_id(only_for=_REAL_PRINTER)
    usb_pid: int | None = _usb_id(only_for=_REAL_PRINTER)
    serial_number: str = _str("", only_for=_REAL_PRINTER)
    timeout_s: float = _float(5.0, lo=0.5, hi=60, only_for=_REAL_PRINTER)
    # ESC/POS
    codepage: str = _choice("CP865", ("CP865", "CP858", "CP850", "CP437"), only_for=("escpos",))
    # The printer's python-escpos profile ("TM-T20II"): its Font A columns are the paper's
    # width unless `width_chars` says (issue 12: 48 columns on a 576-dot printer, not 42).
    profile: str = _str("", max_len=64, only_for=("escpos", "simulated"))
    width_chars: int = _int(0, lo=0, hi=64, only_for=("escpos", "simulated"))
    # ZPL
    dpmm: int = _int(8, choices=(6, 8, 12, 24), only_for=("zpl",))
    # the queue
    max_job_age_min: int = _int(30, lo=1, hi=10080)

    def __post_init__(self) -> None:
        if not self.width_chars:
            # 0: from the profile. Set once here, so every renderer reads one width.
            object.__setattr__(self, "width_chars", profile_columns(self.profile))

    def _check(self, at: str) -> None:
        if self.profile and _profile_data(self.profile) is None:
            from escpos.capabilities import CAPABILITIES

            raise _Invalid(
                f"{at}.profile",
                f"{at}.profile: no printer profile {self.profile!r}; "
                f"{_did_you_mean(self.profile, CAPABILITIES['profiles'])}",
            )
        if self.width_chars < 24:
            raise _Invalid(
                f"{at}.width_chars",
                f"{at}.width_chars must be 24 to 64 columns (or 0: from the profile), "
                f"got {self.width_chars}",
            )
        if self.kind == "simulated":
            return
        if self.kind == "zpl" and self.transport == "serial":
            raise _Invalid(
                f"{at}.transport",
                f"{at}: a zpl label printer is reached over network, usb or file, not serial",
            )
        needs = {
            "network": ("host",),
            "serial": ("device",),
            "file": ("device",),
            "usb": ("usb_vid", "usb_pid"),
        }[self.transport]
        for key in needs:
            if getattr(self, key) in ("", None):
                raise _Invalid(
                    f"{at}.{key}",
                    f"{at}.{key} is needed for a printer on transport {self.transport!r}",
                )


@dataclass(frozen=True, slots=True)
class PrintSettings:
    """``[print]``: which printer each document goes to (printer names from ``[[printers]]``;
    empty = not printed)."""

    picklist: str = _str("")
    receipt: str = _str("")
    picklist_receipt: str = _str("")
    invoice: str = _str("")
    label: str = _str("")


@dataclass(frozen=True, slots=True)
class ScaleSettings:
    """``[scale]``: the parcel scale and the weight check before a label prints."""

    kind: str = _choice("none", ("none", "serial", "hidpos", "simulated"))
    port: str = _str("", only_for=("serial",))
    usb_vid: int | None = _usb_id(only_for=("serial", "hidpos"))
    usb_pid: int | None = _usb_id(only_for=("serial", "hidpos"))
    serial_number: str = _str("", only_for=("serial", "hidpos"))
    protocol: str = _choice("continuous", ("continuous", "request"), only_for=("serial",))
    baudrate: int = _int(9600, choices=STANDARD_BAUDRATES, only_for=("serial",))
    tolerance_g: int = _int(50, lo=0, hi=10000)
    tolerance_pct: float = _float(5.0, lo=0, hi=100)
    box_tare_g: int = _int(150, lo=0, hi=10000)

    def _check(self, at: str) -> None:
        if self.kind == "serial" and not self.port and self.usb_vid is None:
            raise _Invalid(
                f"{at}.port", f"{at} needs port, or usb_vid and usb_pid, for a serial scale"
            )
        if self.kind == "hidpos" and (self.usb_vid is None or self.usb_pid is None):
            raise _Invalid(f"{at}.usb_vid", f"{at}.usb_vid and usb_pid are needed for a HID scale")


@dataclass(frozen=True, slots=True)
class ShippingSettings:
    """``[shipping]``: where the ship-out page fetches parcel ids (R13)."""

    # "none": parcel ids are typed or scanned only. "simulated" hands out made-up UPU S10 ids
    # no carrier knows — for the demo and tests, never for parcels that really leave.
    carrier: str = _choice("none", ("none", "simulated"))


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """``[bench]``: the packing bench (R12, R16)."""

    # true: a delivery's parcel labels print as soon as it is packed at the bench (or PARTIAL
    # ends it), with parcel ids booked from the [shipping] carrier — without one they print at
    # report-in; false: they print at report-in on the ship-out page. Either way, once.
    label_when_packed: bool = _bool(False)


@dataclass(frozen=True, slots=True)
class DiscoverySettings:
    """``[discovery]``: zeroconf (mDNS/DNS-SD) on the LAN — the station advertises itself and
    finds network printers for the Devices page. Never used for sync or locking decisions."""

    # Off unless asked for: it speaks multicast on the network.
    enabled: bool = _bool(False)
    # The LAN addresses to speak on, comma-separated ("192.168.1.20"); empty: every IPv4
    # address of the machine's non-loopback interfaces.
    addresses: str = _str("")


# --------------------------------------------------------------------------- the whole file


@dataclass(frozen=True, slots=True)
class _Section:
    cls: type
    array: bool = False
    unique: str | None = None  # for arrays: a key whose value must differ between entries


def _section(cls: type) -> Any:
    return dataclasses.field(default_factory=cls, metadata={_SECTION: _Section(cls)})


def _array(cls: type, *, unique: str | None = None) -> Any:
    return dataclasses.field(
        default=(), metadata={_SECTION: _Section(cls, array=True, unique=unique)}
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the station is configured with. Frozen; build it with :func:`load_settings`.

    ``Settings()`` is the built-in defaults (SQLite in ``/var/lib/stationd``, kiosk on loopback).
    Tests may construct sections directly; only the loader validates.
    """

    station: StationSettings = _section(StationSettings)
    database: DatabaseSettings = _section(DatabaseSettings)
    kiosk: KioskSettings = _section(KioskSettings)
    packscript: PackScriptSettings = _section(PackScriptSettings)
    scanners: tuple[ScannerSettings, ...] = _array(ScannerSettings, unique="name")
    logging: LoggingSettings = _section(LoggingSettings)
    shop: ShopSettings = _section(ShopSettings)
    printers: tuple[PrinterSettings, ...] = _array(PrinterSettings, unique="name")
    print: PrintSettings = _section(PrintSettings)
    scale: ScaleSettings = _section(ScaleSettings)
    bench: BenchSettings = _section(BenchSettings)
    shipping: ShippingSettings = _section(ShippingSettings)
    discovery: DiscoverySettings = _section(DiscoverySettings)
    #: Where these settings came from: the config file's path, DEFAULTS_SOURCE when no file
    #: was read (issue 12: `serve` says which, in the log and on the Devices page).
    source: str = dataclasses.field(default="<defaults>", compare=False)

    def config_notice(self) -> Text:
        """Which configuration the station runs on, as a sentence for the log and the kiosk."""
        if self.source == DEFAULTS_SOURCE:
            return sentence(
                "No config file was found (none named by --config or {env}, and {path} does "
                "not exist): the built-in defaults apply, with the database {database}.",
                env=CONFIG_ENV_VAR,
                path=str(DEFAULT_CONFIG_PATH),
                database=self.database_url(),
            )
        return sentence("Configuration read from {path}.", path=self.source)

    def database_url(self) -> str:
        """``database.url``, or ``sqlite:///<state_dir>/stationd.sqlite`` when it is empty."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.station.state_dir / 'stationd.sqlite'}"


# --------------------------------------------------------------------------- reading

OVERRIDES_SOURCE = "<overrides>"


@dataclass(frozen=True, slots=True)
class _Context:
    source: str
    overridden: frozenset[str] = frozenset()

    def error(self, key: str | None, message: str) -> ConfigError:
        source = OVERRIDES_SOURCE if key in self.overridden else self.source
        return ConfigError(f"{source}: {message}", source=source, key=key)


#: Keys that were renamed: (section, old key) → new key. The old one is still read, with a
#: log line asking for the new one, so a station's config keeps working after an upgrade.
RENAMED_KEYS: Mapping[tuple[str, str], str] = {("shipping", "broker"): "carrier"}


def _renamed(table: Mapping[str, Any], at: str, ctx: _Context) -> Mapping[str, Any]:
    """``table`` with its renamed keys under their new names (both given: an error)."""
    olds = [(old, new) for (section, old), new in RENAMED_KEYS.items() if section == at]
    if not any(old in table for old, _new in olds):
        return table
    renamed = dict(table)
    for old, new in olds:
        if old not in renamed:
            continue
        if new in renamed:
            raise ctx.error(
                f"{at}.{old}", f"{at}.{old} is the old name of {at}.{new}: give only {new}"
            )
        log.warning(
            "%s: %s.%s is deprecated; call it %s.%s (it is read as that)",
            ctx.source, at, old, at, new,
        )  # fmt: skip
        renamed[new] = renamed.pop(old)
    return renamed


def _build_section(cls: type, table: Any, at: str, noun: str, ctx: _Context) -> Any:
    """Read one table into ``cls`` using the key declarations on its fields."""
    if not isinstance(table, Mapping):
        raise ctx.error(at, f"{at} must be a table, got {_describe(table)}")
    table = _renamed(table, at, ctx)
    keys: dict[str, _Key] = {f.name: f.metadata[_KEY] for f in dataclasses.fields(cls)}
    for name in table:
        if name not in keys:
            where = f"{at}.{name}"
            raise ctx.error(where, f"unknown key {where}; {_did_you_mean(str(name), keys)}")
    try:
        kind = keys["kind"].read(table["kind"], f"{at}.kind") if "kind" in table else None
        values: dict[str, Any] = {}
        for name, key in keys.items():
            where = f"{at}.{name}"
            if name not in table:
                if key.required:
                    raise _Invalid(where, f"{where} is required")
                continue
            if key.only_for and kind not in key.only_for:
                raise _Invalid(
                    where,
                    f"{where}: key '{name}' applies to {' and '.join(key.only_for)} {noun} only "
                    f"(this one is {kind})",
                )
            values[name] = key.read(table[name], where)
        built = cls(**values)
        check = getattr(built, "_check", None)
        if check is not None:
            check(at)
    except _Invalid as err:
        raise ctx.error(err.key, err.message) from None
    return built


def _build_settings(data: Any, ctx: _Context) -> Settings:
    if not isinstance(data, Mapping):
        raise ctx.error(None, f"the configuration must be a table, got {_describe(data)}")
    fields = {f.name: f.metadata[_SECTION] for f in dataclasses.fields(Settings) if f.metadata}
    for name in data:
        if name not in fields:
            raise ctx.error(
                str(name), f"unknown section [{name}]; {_did_you_mean(str(name), fields)}"
            )
    values: dict[str, Any] = {}
    for name, section in fields.items():
        if name not in data:
            continue
        raw = data[name]
        if not section.array:
            values[name] = _build_section(section.cls, raw, name, name, ctx)
            continue
        if isinstance(raw, Mapping):
            raise ctx.error(
                name, f"{name} must be an array of tables: write [[{name}]], not [{name}]"
            )
        if not isinstance(raw, list):
            raise ctx.error(
                name, f"{name} must be an array of tables ([[{name}]]), got {_describe(raw)}"
            )
        entries = tuple(
            _build_section(section.cls, item, f"{name}[{i}]", name, ctx)
            for i, item in enumerate(raw)
        )
        if section.unique:
            seen: dict[Any, int] = {}
            for i, entry in enumerate(entries):
                value = getattr(entry, section.unique)
                if value in seen:
                    where = f"{name}[{i}].{section.unique}"
                    raise ctx.error(
                        where,
                        f"{where} {value!r} is already used by {name}[{seen[value]}]; "
                        f"each of the {name} needs its own {section.unique}",
                    )
                seen[value] = i
        values[name] = entries
    settings = Settings(**values, source=ctx.source)
    names = [p.name for p in settings.printers]
    kinds = {p.name: p.kind for p in settings.printers}
    for field in ("picklist", "receipt", "picklist_receipt", "invoice"):
        target = getattr(settings.print, field)
        if kinds.get(target) == "zpl":
            raise ctx.error(
                f"print.{field}",
                f"print.{field} names {target!r}, a zpl label printer; {field.replace('_', ' + ')}"
                " documents print on an escpos receipt printer",
            )
    for field in dataclasses.fields(PrintSettings):
        target = getattr(settings.print, field.name)
        if target and target not in names:
            where = f"print.{field.name}"
            known = ", ".join(repr(n) for n in names)
            has = f"[[printers]] has only {known}" if names else "no [[printers]] are configured"
            raise ctx.error(where, f"{where} names printer {target!r}, but {has}")
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}", source=str(path)) from None
    except RecursionError:
        # tomllib parses nested arrays and tables by recursion: a file nested hundreds deep
        # exhausts the stack (issue 10). No stationd setting nests past a few levels.
        raise ConfigError(
            f"{path}: not valid TOML: arrays or tables nested too deeply", source=str(path)
        ) from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not valid TOML: the file is not UTF-8 (byte {err.start})", source=str(path)
        ) from None
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot read the config file: {err.strerror or err}", source=str(path)
        ) from None


def _apply_overrides(
    data: Mapping[str, Any], overrides: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], frozenset[str]]:
    merged = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    sections = {f.name: f.metadata[_SECTION] for f in dataclasses.fields(Settings) if f.metadata}
    for dotted, value in overrides.items():
        section, dot, key = dotted.partition(".")
        if not dot or not section or not key or "." in key:
            raise ConfigError(
                f"{OVERRIDES_SOURCE}: override {dotted!r} must name a section and a key, "
                f"like 'kiosk.port'",
                source=OVERRIDES_SOURCE,
                key=dotted,
            )
        if section not in sections:
            raise ConfigError(
                f"{OVERRIDES_SOURCE}: unknown section [{section}] in override {dotted!r}; "
                f"{_did_you_mean(section, sections)}",
                source=OVERRIDES_SOURCE,
                key=dotted,
            )
        if sections[section].array:
            raise ConfigError(
                f"{OVERRIDES_SOURCE}: {section} can't be overridden key by key; "
                f"edit [[{section}]] in {source}",
                source=OVERRIDES_SOURCE,
                key=dotted,
            )
        table = merged.setdefault(section, {})
        if isinstance(table, dict):  # if not, the file's own error is reported
            table[key] = value
    return merged, frozenset(overrides)


# --------------------------------------------------------------------------- public API


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path | None:
    """Which config file to read.

    ``--config`` (``cli_value``) beats ``$STATIOND_CONFIG``, which beats
    :data:`DEFAULT_CONFIG_PATH` if that file exists. None means: use the built-in defaults.
    A file named by ``--config`` or the environment is returned even if it is missing, so that
    :func:`load_settings` reports it.
    """
    if cli_value:
        return Path(cli_value).expanduser()
    from_env = environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    if DEFAULT_CONFIG_PATH.exists():
        return DEFAULT_CONFIG_PATH
    return None


def settings_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> Settings:
    """Validate an already-parsed config (TOML-shaped: sections of keys) into :class:`Settings`.

    Raises:
        ConfigError: naming ``source`` and the offending key.
    """
    return _build_settings(data, _Context(source))


def load_settings(path: Path | None, *, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the TOML file at ``path`` (None: built-in defaults) and return frozen settings.

    ``overrides`` maps ``"section.key"`` to a value, e.g. ``{"kiosk.port": 8081}``; they are
    applied on top of the file and validated exactly like it (an error in one names
    ``<overrides>``). ``[[scanners]]`` can't be overridden.

    Raises:
        ConfigError: the file is missing, unreadable or not TOML, or a key is unknown, of the
            wrong type or out of bounds. ``str(err)`` is one sentence meant for the user.
    """
    if path is None:
        data: dict[str, Any] = {}
        source = DEFAULTS_SOURCE
    else:
        data = _read_toml(path)
        source = str(path)
    overridden: frozenset[str] = frozenset()
    if overrides:
        data, overridden = _apply_overrides(data, overrides, source)
    settings = _build_settings(data, _Context(source, overridden))
    log.debug("configuration read from %s (%d overrides)", source, len(overridden))
    return settings
