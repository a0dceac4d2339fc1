"""The sections of the config file (``[station]``, ``[kiosk]``, ``[[scanners]]`` …).

One frozen dataclass per section; each field declares its key with a helper from
:mod:`stationd.config.fields`, and a cross-key rule is a ``_check(self, at)`` method.
"""

# The key helpers (_int, _path, _section …) return dataclasses.field(...), which RUF009 can't see.
# ruff: noqa: RUF009

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from stationd.config.fields import (
    _MISSING,
    _bool,
    _choice,
    _did_you_mean,
    _float,
    _int,
    _Invalid,
    _path,
    _str,
    _usb_id,
)

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


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """``[sync]`` (docs/sync.md): empty ``central_url`` = a single bench, exactly as without sync.
    Set, this station packs against its own database (the working copy) and keeps it in step
    with the central PostgreSQL; ``run_packscript`` makes it the one that runs the pack script
    on central by schedule; ``claim_ahead`` orders at least (more, up to 20, while the packer
    opens orders quickly: core/claims_ahead.ahead_wanted) are claimed beyond the open
    one, so that the bench has work when the network drops."""

    central_url: str = _str(
        "",
        prefixes=("postgresql+psycopg://",),
        prefix_hint="be empty (no sync) or ",
        secret=True,  # it may carry a password
    )
    run_packscript: bool = _bool(False)
    claim_ahead: int = _int(3, lo=0, hi=50)
    push_interval_s: float = _float(1.0, lo=0.05, hi=300)
    poll_interval_s: float = _float(5.0, lo=0.1, hi=300)
    timeout_s: float = _float(5.0, lo=0.5, hi=120)


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
    # "nshift" (nShift Delivery, formerly Unifaun Online) and "shipmondo" book real parcels.
    carrier: str = _choice("none", ("none", "simulated", "nshift", "shipmondo"))
    # The API's address; empty: the provider's production API.
    api_url: str = _str("", prefixes=("https://", "http://"), prefix_hint="be empty or ")
    # nShift: the API key's Id; Shipmondo: the API user.
    api_user: str = _str("", secret=True)
    # nShift: the API key's Secret Id; Shipmondo: the API key. Never logged.
    api_key: str = _str("", secret=True)
    # nShift: the service id (e.g. "P19"); Shipmondo: the product code (e.g. "GLSDK_SD").
    service: str = _str("", max_len=40)
    # nShift: the sender's quick id in the account (empty: the [shop] address is sent).
    sender_quick_id: str = _str("", max_len=40)
    # nShift: the label printer's media (ZPL is asked for; a PDF label is rasterised to ZPL).
    label_media: str = _str("thermo-190", max_len=40)
    # The weight booked for a parcel nobody weighed.
    default_weight_g: int = _int(1000, lo=1, hi=1_000_000)
    # How long one request may take; how often one is tried; the longest Retry-After waited
    # for (a carrier asking for longer gets "try again later").
    timeout_s: float = _float(10.0, lo=0.5, hi=120)
    tries: int = _int(3, lo=1, hi=10)
    max_wait_s: float = _float(30.0, lo=0, hi=600)

    def _check(self, at: str) -> None:
        if self.carrier in ("nshift", "shipmondo"):
            for key in ("api_user", "api_key", "service"):
                if not getattr(self, key).strip():
                    raise _Invalid(f"{at}.{key}", f"{at}.carrier {self.carrier!r} needs {key}")


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


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    """``[[intake]]``: a shop that sends its orders, products and stock (issue 13 §1). Its
    ``name`` is kept on each order it sends (an order is known by shop and reference); its
    ``token`` opens the intake API (``Authorization: Bearer …``) for it. Never logged."""

    name: str = _str("shop", non_empty=True, max_len=40, printable=True)
    token: str = _str("", secret=True)

    def _check(self, at: str) -> None:
        if self.token and len(self.token) < MIN_LAN_TOKEN_LEN:
            raise _Invalid(
                f"{at}.token",
                f"{at}.token must be at least {MIN_LAN_TOKEN_LEN} characters "
                f"(it has {len(self.token)}), or empty (no API for this shop)",
            )


# --------------------------------------------------------------------------- the whole file
