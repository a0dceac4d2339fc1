"""Log records to the systemd journal with structured fields, when systemd runs the station.

Under systemd, stderr is a stream to journald and every line loses its shape. Sent natively
(sd_journal_send's protocol, on journald's socket), each record keeps fields one can filter on:
``journalctl -u stationd STATIOND_DEVICE=labels`` or ``STATIOND_ORDER=1042``. A log call gives
them as ``extra={"device": …, "order": …}``; the station's name is on every record. Outside
systemd (a terminal, the demo, tests) the plain lines stay.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
from collections.abc import Mapping
from typing import IO

#: journald's native socket (systemd.journal-fields(7), "native protocol").
JOURNAL_SOCKET = "/run/systemd/journal/socket"
#: What a record may carry as ``extra=`` and the journal field each becomes.
FIELDS = {"device": "STATIOND_DEVICE", "order": "STATIOND_ORDER"}
#: syslog priorities of the logging levels.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def stderr_is_journal(
    stream: IO[str] | None = None, environ: Mapping[str, str] = os.environ
) -> bool:
    """Whether `stream` (stderr) is journald's: systemd says so in $JOURNAL_STREAM (dev:inode)."""
    said = environ.get("JOURNAL_STREAM", "")
    if not said:
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return said == f"{st.st_dev}:{st.st_ino}"


def encode(fields: Mapping[str, str]) -> bytes:
    """Fields in the journal's native format; a value with a newline goes length-prefixed."""
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Sends each record to journald with its fields; a record it can't send goes to stderr."""

    def __init__(self, station: str, *, address: str = JOURNAL_SOCKET) -> None:
        super().__init__()
        self.station = station
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.fallback = logging.StreamHandler(sys.stderr)

    def fields(self, record: logging.LogRecord) -> dict[str, str]:
        fields = {
            "MESSAGE": self.format(record),
            "PRIORITY": str(_PRIORITY.get(record.levelno, 6)),
            "SYSLOG_IDENTIFIER": "stationd",
            "LOGGER": record.name,
            "THREAD_NAME": record.threadName or "",
            "CODE_FILE": record.pathname,
            "CODE_LINE": str(record.lineno),
            "CODE_FUNC": record.funcName,
            "STATIOND_STATION": self.station,
        }
        for attribute, field in FIELDS.items():
            value = getattr(record, attribute, None)
            if value is not None:
                fields[field] = str(value)
        return fields

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sock.sendto(encode(self.fields(record)), self.address)
        except OSError:  # journald away or the record too big for one datagram
            self.fallback.emit(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()
