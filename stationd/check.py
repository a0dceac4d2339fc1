"""`stationd check`: what an installer runs after plugging things in, before the unit starts.

One line per thing the station needs — the config (valid, and readable by the service user and
nobody else), the database (reachable, migrated), each configured device (present, answering),
the disk and the clock — each ok, warn or fail. Nothing is changed: the SQLite file is read
read-only, so a check run as root never leaves a root-owned file the service can't write.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import grp
import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stationd.config import ConfigError, PrinterSettings, Settings, load_settings

#: The user systemd runs the station as (systemd/stationd.service, User=).
SERVICE_USER = "stationd"
#: Below this much free space in the state directory a station stops being safe to run.
DISK_FAIL_BYTES = 200 * 1024**2
DISK_WARN_BYTES = 1024**3
#: adjtimex(2) returns TIME_ERROR while the kernel's clock is not synchronised.
TIME_ERROR = 5


class Level(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One line of the check: what was looked at, how it is, and what that means."""

    what: str
    level: Level
    detail: str


def clock_synchronised() -> tuple[bool | None, str]:
    """Whether the system clock is synchronised (NTP), and how that was found out.

    A Pi has no clock battery: until it has reached a time server its clock may be days off,
    and with it every date the station prints. None: it can't be told here.
    """
    if shutil.which("timedatectl"):
        done = subprocess.run(
            ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode == 0 and done.stdout.strip() in ("yes", "no"):
            return done.stdout.strip() == "yes", "timedatectl"
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        timex = ctypes.create_string_buffer(512)  # struct timex, modes = 0: only read
        state = libc.adjtimex(timex)
        if state >= 0:
            return state != TIME_ERROR, "adjtimex"
    return None, "neither timedatectl nor adjtimex answered"


def run_checks(
    config: Path | None,
    *,
    service_user: str = SERVICE_USER,
    clock: Callable[[], tuple[bool | None, str]] = clock_synchronised,
) -> list[Finding]:
    """Every finding, in the order an installer fixes them; later checks need the config."""
    findings = list(_config(config, service_user))
    if any(f.level is Level.FAIL for f in findings):
        return findings
    settings = load_settings(config)
    findings.append(_database(settings))
    findings.extend(_devices(settings))
    findings.append(_disk(settings.station.state_dir))
    findings.append(_clock(clock))
    return findings


def table(findings: list[Finding]) -> str:
    """The findings as a table for a terminal."""
    width = max(len(f.what) for f in findings)
    return "\n".join(f"{f.level.value:<5} {f.what:<{width}}  {f.detail}" for f in findings)


def _service_ids(user: str) -> tuple[int, int] | None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _may(st: os.stat_result, uid: int, gid: int, bits: tuple[int, int, int]) -> bool:
    """Whether (uid, gid and its groups) has the permission `bits` (user, group, other)."""
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & bits[0])
    name = pwd.getpwuid(uid).pw_name
    groups = {gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
    if st.st_gid in groups:
        return bool(st.st_mode & bits[1])
    return bool(st.st_mode & bits[2])


def _config(path: Path | None, user: str) -> Iterator[Finding]:
    if path is None:
        yield Finding(
            "config",
            Level.WARN,
            "no config file: the built-in defaults (sudo stationd install writes "
            "/etc/stationd/stationd.toml)",
        )
        return
    if not path.exists():
        yield Finding("config", Level.FAIL, f"{path} does not exist")
        return
    ids = _service_ids(user)
    if ids is None:
        yield Finding("service user", Level.WARN, f"no user {user}: sudo stationd install makes it")
    else:
        # The service reads the file through every folder above it.
        for part in [*reversed(path.parents), path]:
            st = part.stat()
            bits = (
                (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)
                if part == path
                else (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)
            )
            if not _may(st, *ids, bits):
                yield Finding(
                    "config",
                    Level.FAIL,
                    f"the service user {user} can't read {part if part == path else path} "
                    f"({'mode' if part == path else f'folder {part}'} "
                    f"{stat.S_IMODE(st.st_mode):o}, owner {_owner(st)}): the unit would stop "
                    "at start; sudo stationd install sets it root:stationd 640",
                )
                return
        if path.stat().st_mode & stat.S_IROTH:
            yield Finding(
                "config permissions",
                Level.WARN,
                f"{path} is readable by every user, and may hold the kiosk token: chmod o-rwx it",
            )
    try:
        load_settings(path)
    except ConfigError as err:
        yield Finding("config", Level.FAIL, str(err))
        return
    yield Finding("config", Level.OK, f"{path} is valid")


def _owner(st: os.stat_result) -> str:
    def name(lookup: Callable[[int], object], number: int, attr: str) -> str:
        try:
            return getattr(lookup(number), attr)
        except KeyError:
            return str(number)

    return f"{name(pwd.getpwuid, st.st_uid, 'pw_name')}:{name(grp.getgrgid, st.st_gid, 'gr_name')}"


def _database(settings: Settings) -> Finding:
    from stationd.store.database import head_revision, revision_at

    url = settings.database_url()
    central = url.startswith("postgresql")
    what = "central database" if central else "database"
    try:
        current = revision_at(url, busy_timeout_s=settings.database.busy_timeout_s)
    except FileNotFoundError as err:
        return Finding(what, Level.WARN, f"{err.filename} not made yet: serve makes it at start")
    except Exception as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        return Finding(what, Level.FAIL, f"can't be reached: {reason}")
    head = head_revision()
    if current == head:
        return Finding(what, Level.OK, f"reachable, schema at the newest revision ({head})")
    return Finding(
        what,
        Level.WARN,
        f"reachable, schema at {current or 'nothing yet'}; serve migrates it to {head} at start",
    )


def _devices(settings: Settings) -> Iterator[Finding]:
    from stationd.devices.factory import make_printer
    from stationd.devices.ports import find_port

    for scanner in settings.scanners:
        what = f"scanner {scanner.name}"
        if scanner.kind == "simulated":
            yield Finding(what, Level.OK, "simulated")
            continue
        if scanner.kind == "serial":
            spec = _spec(scanner.port, scanner.usb_vid, scanner.usb_pid, scanner.serial_number)
            yield _port(what, str(spec), find_port(spec))
            continue
        yield _usb(what, scanner.kind, scanner.port, scanner.usb_vid, scanner.usb_pid)
    for printer in settings.printers:
        yield _printer(printer, make_printer, settings.station.state_dir)
    scale = settings.scale
    if scale.kind == "serial":
        spec = _spec(scale.port, scale.usb_vid, scale.usb_pid, scale.serial_number)
        yield _port("scale", str(spec), find_port(spec))
    elif scale.kind == "hidpos":
        yield _usb("scale", "hidpos", "", scale.usb_vid, scale.usb_pid)
    elif scale.kind == "simulated":
        yield Finding("scale", Level.OK, "simulated")


def _spec(port: str, vid: int | None, pid: int | None, serial_number: str):  # type: ignore[no-untyped-def]
    """Where a serial device is found: its port, else its USB ids, as the config says."""
    from stationd.devices.ports import PortSpec

    if port:
        return PortSpec(path=port)
    return PortSpec(usb_vid=vid, usb_pid=pid, serial_number=serial_number or None)


def _port(what: str, spec: str, found: str | None) -> Finding:
    if found is None:
        return Finding(what, Level.FAIL, f"{spec} is not there: plugged in? (stationd devices)")
    ids = _service_ids(SERVICE_USER)
    st = os.stat(found)
    if ids is not None and not _may(st, *ids, (stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH)):
        return Finding(
            what,
            Level.FAIL,
            f"{found} is there, but {SERVICE_USER} can't open it (owner {_owner(st)}, mode "
            f"{stat.S_IMODE(st.st_mode):o}): are its ids in /etc/udev/rules.d/99-stationd.rules?",
        )
    return Finding(what, Level.OK, f"{found}" + (f" ({spec})" if spec != found else ""))


def _usb(what: str, kind: str, port: str, vid: int | None, pid: int | None) -> Finding:
    if port:
        return _port(what, port, port if os.path.exists(port) else None)
    from stationd.devices.usb_find import find_usb_device

    try:
        device = find_usb_device(vid, pid)  # type: ignore[arg-type]
    except Exception as err:  # no libusb: this machine can't tell
        return Finding(what, Level.WARN, f"{kind} {vid:04x}:{pid:04x}: can't look ({err})")
    if device is None:
        return Finding(what, Level.FAIL, f"{kind} {vid:04x}:{pid:04x} is not plugged in")
    return Finding(what, Level.OK, f"{kind} {vid:04x}:{pid:04x} on USB bus {device.bus}")


def _printer(cfg: PrinterSettings, make: Callable[..., object], state_dir: Path) -> Finding:
    what = f"printer {cfg.name}"
    if cfg.kind == "simulated":
        return Finding(what, Level.OK, "simulated")
    if cfg.transport == "network":
        # Only whether it answers: a status query on a printer the running station is
        # printing on would take its connection.
        try:
            with socket.create_connection((cfg.host, cfg.port), timeout=cfg.timeout_s):
                pass
        except OSError as err:
            return Finding(
                what, Level.FAIL, f"{cfg.host}:{cfg.port} does not answer: {err.strerror or err}"
            )
        return Finding(what, Level.OK, f"{cfg.kind} at {cfg.host}:{cfg.port} answers")
    printer = make(cfg, state_dir=state_dir)
    try:
        status = printer.status()  # type: ignore[attr-defined]
    finally:
        printer.close()  # type: ignore[attr-defined]
    level = Level.OK if status.state.can_print else Level.FAIL
    return Finding(what, level, f"{cfg.kind} over {cfg.transport}: {status.state.value}")


def _disk(state_dir: Path) -> Finding:
    where = state_dir
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    said = f"{free / 1024**3:.1f} GB free for {state_dir}"
    if free < DISK_FAIL_BYTES:
        return Finding("disk", Level.FAIL, said)
    if free < DISK_WARN_BYTES:
        return Finding("disk", Level.WARN, said)
    return Finding("disk", Level.OK, said)


def _clock(clock: Callable[[], tuple[bool | None, str]]) -> Finding:
    synced, how = clock()
    if synced:
        return Finding("clock", Level.OK, f"synchronised ({how})")
    if synced is None:
        return Finding("clock", Level.WARN, f"can't tell whether it is synchronised: {how}")
    return Finding(
        "clock",
        Level.WARN,
        f"not synchronised ({how}): a Pi has no clock battery, so dates on labels, invoices "
        "and the pack-script schedule may be off until it reaches a time server "
        "(systemd-timesyncd)",
    )
