"""Structured journal fields under systemd (issue 14): records sent in journald's native
protocol to a real datagram socket standing in for journald's, read back field by field."""

from __future__ import annotations

import logging
import socket
import struct
import sys
from pathlib import Path

from stationd.journal import JournalHandler, stderr_is_journal


def parse(datagram: bytes) -> dict[str, str]:
    fields, rest = {}, datagram
    while rest:
        line, _, rest = rest.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
        else:  # KEY\n<64-bit LE length><value>\n
            (size,) = struct.unpack("<Q", rest[:8])
            fields[line.decode()] = rest[8 : 8 + size].decode()
            rest = rest[8 + size + 1 :]
    return fields


def test_a_record_reaches_the_journal_with_station_device_and_order_fields(tmp_path: Path):
    journald = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journald.bind(str(tmp_path / "journal.socket"))
    journald.settimeout(5)
    handler = JournalHandler("bench-1", address=str(tmp_path / "journal.socket"))
    log = logging.getLogger("stationd.test.journal")
    log.addHandler(handler)
    log.propagate = False
    # Whatever an earlier test left on the root logger (the CLI quiets it to CRITICAL).
    log.setLevel(logging.DEBUG)
    log.disabled = False
    try:
        log.warning("printer %s: paper out", "labels", extra={"device": "labels", "order": 1042})
        fields = parse(journald.recv(65536))
        assert fields["MESSAGE"] == "printer labels: paper out"
        assert fields["PRIORITY"] == "4"
        assert fields["STATIOND_STATION"] == "bench-1"
        assert fields["STATIOND_DEVICE"] == "labels"
        assert fields["STATIOND_ORDER"] == "1042"
        assert fields["SYSLOG_IDENTIFIER"] == "stationd"
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("bench failed")
        fields = parse(journald.recv(65536))
        # A traceback is one record with its newlines, not one journal entry per line.
        assert fields["MESSAGE"].startswith("bench failed\nTraceback")
        assert "ValueError: boom" in fields["MESSAGE"] and fields["PRIORITY"] == "3"
        assert "STATIOND_DEVICE" not in fields
    finally:
        log.removeHandler(handler)
        handler.close()
        journald.close()


def test_journal_away_falls_back_to_plain_lines(tmp_path: Path, capsys):
    handler = JournalHandler("bench-1", address=str(tmp_path / "nobody-listens"))
    handler.fallback.stream = sys.stderr  # capsys's, which replaced it after import
    record = logging.LogRecord("stationd.x", logging.INFO, __file__, 1, "still said", None, None)
    handler.emit(record)
    handler.close()
    assert "still said" in capsys.readouterr().err


def test_only_a_stderr_systemd_named_counts_as_the_journal(tmp_path: Path):
    with (tmp_path / "stderr").open("w") as stream:
        st = Path(stream.name).stat()
        assert stderr_is_journal(stream, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not stderr_is_journal(stream, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not stderr_is_journal(stream, {})
