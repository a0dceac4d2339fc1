"""Every scan a scanner reads, on disk at once: a power cut or a kill loses none.

The bench counts a scan in one transaction, but between the read and that commit the scan only
lives in memory — for milliseconds, or for seconds while a long pack-script run holds the
database. The inbox closes that gap: each `ScanRead` / `ScanRejected` is appended to a file in
the state directory and synced to the disk (fdatasync) as it is published. When the station
starts, the scans in the inbox that the scan journal does not have yet are handed to the bench
again, in the order they were read and with the time they were read, before any new scan.

A scan is known by (station, source, read time to the microsecond) — what the journal keeps
of it — so a scan is never counted twice, whether it was journaled before the cut or not. The
file is rewritten without the journaled scans at start, at a clean stop and whenever it has
grown past `COMPACT_BYTES`.

One line per scan (JSON), appended with O_APPEND: a line cut off by the power is skipped.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
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


class ScanInbox:
    """The file of scans read and not yet known to be journaled (see the module docstring)."""

    def __init__(self, path: Path, journaled: Journaled) -> None:
        self.path = path
        self._journaled = journaled
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._bus: Bus | None = None
        self._compacting = threading.Event()  # one tidy-up at a time
        #: Scans read while this is true of their time are not recorded (the devices page's
        #: scanner test: they are only shown, never counted).
        self.skip: Callable[[datetime], bool] = lambda _at: False

    # -- at start and stop ------------------------------------------------------------------
    def open(self, bus: Bus) -> int:
        """Hand the scans the journal lacks to the bench (through `bus`), then record every
        scan published from now on. Returns how many scans were handed over again.

        Call after the bench listens and before the scanners start.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        missing = self._unjournaled()
        for event in missing:
            bus.publish(event)
        if missing:
            log.warning(
                "%d scans read before the last stop were not counted yet: handled now",
                len(missing),
            )
        with self._lock:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        bus.subscribe(self._record, ScanRead, ScanRejected)
        self._bus = bus
        return len(missing)

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
                    os.write(fd, b"".join(_line(event) for event in keep))
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
        line = _line(event)  # type: ignore[arg-type]
        with self._lock:
            if self._fd is None:
                return
            os.write(self._fd, line)
            os.fdatasync(self._fd)
            grown = os.fstat(self._fd).st_size > COMPACT_BYTES
        if grown and not self._compacting.is_set():
            self._compacting.set()
            threading.Thread(target=self._compact_quietly, name="scan-inbox", daemon=True).start()

    def _compact_quietly(self) -> None:
        try:
            self.compact()
        except Exception:
            log.warning("the scan inbox was not tidied; it grows until the next try", exc_info=True)
        finally:
            self._compacting.clear()

    def _unjournaled(self) -> list[ScanRead | ScanRejected]:
        scans = list(read_inbox(self.path))
        if not scans:
            return []
        known = self._journaled(scans)
        missing = [scan for scan in scans if (scan.source[:100], scan.at) not in known]
        too_old = utcnow() - GIVE_UP_AFTER
        given_up = [scan for scan in missing if scan.at < too_old]
        for scan in given_up:
            log.warning("scan inbox: gave up a scan the journal never got: %r", scan)
        return [scan for scan in missing if scan.at >= too_old]


def read_inbox(path: Path) -> Iterable[ScanRead | ScanRejected]:
    """The scans in an inbox file, oldest first; a damaged line (a cut write) is skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for raw in data.splitlines():
        try:
            item = json.loads(raw)
            at = datetime.fromisoformat(item["at"])
            if item["kind"] == "read":
                yield ScanRead(item["code"], item.get("symbology"), item["source"], at)
            else:
                raw_bytes = base64.b64decode(item["raw"])
                yield ScanRejected(item["source"], item["reason"], raw_bytes, at)
        except (ValueError, KeyError, TypeError):
            log.warning("skipped a damaged line of the scan inbox %s", path)


def _line(event: ScanRead | ScanRejected) -> bytes:
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
    return json.dumps(item, ensure_ascii=False).encode() + b"\n"
