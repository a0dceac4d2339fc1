"""Every scan a scanner reads, on disk before any part of the station acts on it.

The bench counts a scan in one transaction, but between the read and that commit the scan only
lives in memory — for milliseconds, or for minutes while the database is busy or away. The
inbox closes that gap: each `ScanRead` / `ScanRejected` is appended to a file in the state
directory and synced to the disk (fdatasync) in the scanner's own thread as it is published,
*before* the bench or anything else hears of it (the inbox subscribes first). When the station
starts, the scans in the inbox that the scan journal does not have yet are handed to the bench
again, in the order they were read and with the time they were read, before any new scan.

What is promised, exactly: a scan that reached the bench — a beep, a line on the screen, a row
in the journal — is on disk in the inbox or in the journal, and a kill or a power cut loses
none of those. The kernel hands the bytes over at the scanner thread's read(); a kill between
that read() and the fdatasync (about a millisecond; the audit of issue 10 saw 4 of 1,423 scans
there) loses a scan nobody was told was read: no beep, no screen, the packer scans it again.
That window can't close further: the serial port's bytes are gone from the kernel once read.

Each line also carries the context the scan was read in (`ReadContext`: the order open at the
bench then, and whether earlier scans still waited), so that a scan handed over again after a
restart acts on the order it was read for or on none: the bench worker shows it to the packer
instead of applying it to whatever order is open now.

A scan is known by (station, source, read time to the microsecond) — what the journal keeps
of it — so a scan is never counted twice, whether it was journaled before the cut or not. A
scan the bench could not handle at all (a fault of the code, not of the database) is marked
given up in the inbox, logged and told to the packer, and never handed over again. The file is
rewritten without the journaled and given-up scans at start, at a clean stop and whenever it
has grown past `COMPACT_BYTES`.

One line per scan (JSON), appended with O_APPEND: a line cut off by the power is skipped.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from stationd.clock import utcnow
from stationd.events import Bus, Event, ScanRead, ScanRejected

log = logging.getLogger(__name__)

#: Past this size the inbox is rewritten without the scans the journal has.
COMPACT_BYTES = 1 << 20
#: A scan older than this that the journal still lacks is given up (with a warning): one the
#: bench could never save must not come back at every start.
GIVE_UP_AFTER = timedelta(days=7)

#: The scans of an inbox the journal already has, as (source, read time) pairs.
Journaled = Callable[[list[ScanRead | ScanRejected]], set[tuple[str, datetime]]]


@dataclass(frozen=True, slots=True)
class ReadContext:
    """What the bench was when a scan was read: the order open then (`open_known` False: the
    bench did not know yet), and whether scans read before it still waited to be handled (then
    it was read for whatever those leave open)."""

    open_order: int | None
    open_known: bool
    waiting: bool


def _key(event: ScanRead | ScanRejected) -> tuple[str, datetime]:
    return (event.source[:100], event.at)


class ScanInbox:
    """The file of scans read and not yet known to be journaled (see the module docstring)."""

    def __init__(self, path: Path, journaled: Journaled) -> None:
        self.path = path
        self._journaled = journaled
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._bus: Bus | None = None
        self._compacting = threading.Event()  # one tidy-up at a time
        self._untidy = False  # the last tidy-up failed (and the log said so)
        #: Scans read while this is true of their time are not recorded (the devices page's
        #: scanner test: they are only shown, never counted).
        self.skip: Callable[[datetime], bool] = lambda _at: False
        #: The bench's context as a scan is read (the bench worker's `read_context`).
        self.context: Callable[[], ReadContext | None] = lambda: None
        # The contexts of the scans recorded or handed over and not yet taken by the bench.
        self._contexts: dict[tuple[str, datetime], ReadContext] = {}

    # -- at start and stop ------------------------------------------------------------------
    def open(self, bus: Bus) -> int:
        """Hand the scans the journal lacks to the bench (through `bus`), then record every
        scan published from now on. Returns how many scans were handed over again.

        Call after the bench listens and before the scanners start.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        missing = self._unjournaled()
        for event, context in missing:
            if context is not None:
                self._contexts[_key(event)] = context
            bus.publish(event)
        if missing:
            log.warning(
                "%d scans read before the last stop were not counted yet: handled now",
                len(missing),
            )
        with self._lock:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        bus.subscribe(self._record, ScanRead, ScanRejected, first=True)
        self._bus = bus
        return len(missing)

    def context_of(self, event: ScanRead | ScanRejected) -> ReadContext | None:
        """The context `event` was read in (taken once, by the bench worker); None if unknown."""
        with self._lock:
            return self._contexts.pop(_key(event), None)

    def give_up(self, event: ScanRead | ScanRejected) -> None:
        """Never hand `event` over again: the bench could not handle it (a person was told)."""
        line = json.dumps(
            {"kind": "given_up", "at": event.at.isoformat(), "source": event.source[:100]}
        ).encode()
        with self._lock:
            if self._fd is not None:
                os.write(self._fd, line + b"\n")
                os.fdatasync(self._fd)

    def close(self) -> None:
        """Stop recording; the inbox keeps only the scans the journal still lacks."""
        if self._bus is not None:
            self._bus.unsubscribe(self._record)
            self._bus = None
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        try:
            self.compact()
        except Exception:
            log.warning("the scan inbox was not tidied; the next start does it", exc_info=True)

    def compact(self) -> None:
        """Rewrite the inbox without the scans the journal has (atomically: a new file)."""
        with self._lock:
            keep = self._unjournaled()
            temp = self.path.with_name(self.path.name + ".new")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                if keep:
                    os.write(fd, b"".join(_line(event, context) for event, context in keep))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
            if self._fd is not None:
                os.close(self._fd)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    # -- while running ----------------------------------------------------------------------
    def _record(self, event: Event) -> None:
        # In the scanner's thread, as the scan is published: the write and the sync cost it
        # about a millisecond; the bench has the scan already (it listened first).
        if self.skip(event.at):  # type: ignore[attr-defined]
            return
        context = self.context()
        line = _line(event, context)  # type: ignore[arg-type]
        with self._lock:
            if self._fd is None:
                return
            if context is not None:
                self._contexts[_key(event)] = context  # type: ignore[arg-type]
            os.write(self._fd, line)
            os.fdatasync(self._fd)
            grown = os.fstat(self._fd).st_size > COMPACT_BYTES
        if grown and not self._compacting.is_set():
            self._compacting.set()
            threading.Thread(target=self._compact_quietly, name="scan-inbox", daemon=True).start()

    def _compact_quietly(self) -> None:
        try:
            self.compact()
            self._untidy = False
        except Exception as err:
            # Tried again at each scan while the database is away: said once (issue 10 item 9).
            if not self._untidy:
                self._untidy = True
                log.warning("the scan inbox was not tidied (%s); it grows until it can be", err)
                log.debug("why the scan inbox was not tidied", exc_info=True)
        finally:
            self._compacting.clear()

    def _unjournaled(self) -> list[tuple[ScanRead | ScanRejected, ReadContext | None]]:
        lines = list(_read_lines(self.path))
        given_up = {key for kind, key, _ in lines if kind == "given_up"}
        scans = [(event, context) for kind, event, context in lines if kind != "given_up"]
        scans = [(event, context) for event, context in scans if _key(event) not in given_up]
        if not scans:
            return []
        known = self._journaled([event for event, _ in scans])
        missing = [(event, context) for event, context in scans if _key(event) not in known]
        too_old = utcnow() - GIVE_UP_AFTER
        for event, _ in missing:
            if event.at < too_old:
                log.warning("scan inbox: gave up a scan the journal never got: %r", event)
        return [(event, context) for event, context in missing if event.at >= too_old]


def read_inbox(path: Path) -> Iterable[ScanRead | ScanRejected]:
    """The scans in an inbox file, oldest first; a damaged line (a cut write) is skipped."""
    for kind, event, _ in _read_lines(path):
        if kind != "given_up":
            yield event  # type: ignore[misc]


def read_contexts(path: Path) -> list[ReadContext | None]:
    """The read contexts of the scans in an inbox file, as `read_inbox` yields the scans."""
    return [context for kind, _, context in _read_lines(path) if kind != "given_up"]


def _read_lines(path: Path) -> Iterable[tuple[str, object, ReadContext | None]]:
    # (kind, scan or — for "given_up" — its key, context)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for raw in data.splitlines():
        try:
            item = json.loads(raw)
            at = datetime.fromisoformat(item["at"])
            kind = item["kind"]
            if kind == "given_up":
                yield kind, (item["source"], at), None
                continue
            if kind == "read":
                event: ScanRead | ScanRejected = ScanRead(
                    item["code"], item.get("symbology"), item["source"], at
                )
            else:
                raw_bytes = base64.b64decode(item["raw"])
                event = ScanRejected(item["source"], item["reason"], raw_bytes, at)
            yield kind, event, _context(item.get("context"))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("skipped a damaged line of the scan inbox %s", path)


def _context(item: dict | None) -> ReadContext | None:
    if item is None:
        return None  # written before scans carried their context: handled as before
    known = "open" in item
    return ReadContext(item["open"] if known else None, known, bool(item["waiting"]))


def _line(event: ScanRead | ScanRejected, context: ReadContext | None = None) -> bytes:
    if isinstance(event, ScanRead):
        item = {
            "kind": "read",
            "at": event.at.isoformat(),
            "source": event.source,
            "code": event.code,
            "symbology": event.symbology,
        }
    else:
        item = {
            "kind": "rejected",
            "at": event.at.isoformat(),
            "source": event.source,
            "reason": event.reason,
            "raw": base64.b64encode(event.raw).decode("ascii"),
        }
    if context is not None:
        item["context"] = {"waiting": context.waiting}
        if context.open_known:
            item["context"]["open"] = context.open_order
    return json.dumps(item, ensure_ascii=False).encode() + b"\n"
