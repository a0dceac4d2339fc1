"""R19 and the promise of no lost scan: a scan read from the scanner is on disk before it is
counted, so a kill (or a power cut) between the read and the bench's commit loses nothing.
Through a real `stationd demo` process, a kernel pty as its serial scanner, and SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

from bus_waits import until
from demo_process import DemoProcess

from stationd.events import ScanRead, ScanRejected
from stationd.services.scan_inbox import _line, read_inbox


def rows(db, sql, *args):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def test_r19_scans_read_before_a_kill_are_counted_after_the_restart(tmp_path, ptys):
    state = tmp_path / "demo"
    made = subprocess.run(
        [sys.executable, "-m", "stationd", "demo", "--state-dir", str(state), "--no-serve"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    db = state / "stationd.sqlite"
    (order_id,) = rows(
        db,
        "SELECT o.id FROM orders o WHERE status = 'packing' AND NOT waiting AND EXISTS "
        "(SELECT 1 FROM order_lines l WHERE l.order_id = o.id AND l.packed = 0 "
        "AND l.delivered = 0 AND l.gtin IS NOT NULL) ORDER BY o.id LIMIT 1",
    )[0]
    gtin = rows(
        db,
        "SELECT gtin FROM order_lines WHERE order_id = ? AND packed = 0 AND delivered = 0 "
        "AND gtin IS NOT NULL ORDER BY id",
        order_id,
    )[0][0]
    codes = [f"ORD-{order_id}", gtin[1:], "CMD-UNDO"]

    packed = rows(db, "SELECT sum(packed) FROM order_lines WHERE order_id = ?", order_id)
    scanner = ptys()
    port = scanner.path
    started: list[DemoProcess] = []
    try:
        demo = DemoProcess(state, "--scanner-port", port)
        started.append(demo)
        demo.wait_listening()
        # Another writer holds the database: the scans are read, and wait to be counted.
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        for code in codes:
            scanner.send(code.encode() + b"\r")
        inbox = state / "scan-inbox.jsonl"
        until(
            lambda: inbox.exists() and len(list(read_inbox(inbox))) == len(codes),
            within_s=20,
            what="the scans in the inbox",
        )
        demo.proc.send_signal(signal.SIGKILL)  # the power goes
        demo.proc.wait(timeout=10)
        holder.execute("ROLLBACK")
        holder.close()
        assert rows(db, "SELECT count(*) FROM scan_journal WHERE source LIKE 'serial:%'") == [(0,)]

        again = DemoProcess(state, "--scanner-port", port)
        started.append(again)
        again.wait_listening()
        journal = until(
            lambda: (
                (
                    found := rows(
                        db,
                        "SELECT code, kind, ok, message FROM scan_journal "
                        "WHERE source LIKE 'serial:%' "
                        "ORDER BY id",
                    )
                )
                and len(found) >= len(codes)
                and found
            ),
            within_s=20,
            what="the scans in the journal",
        )
        code, _ = again.stop()
    finally:
        # A station left running would reopen this pty's path when a later test gets it.
        for process in started:
            if process.proc.poll() is None:
                process.proc.kill()
                process.proc.wait(timeout=10)
        scanner.unplug()
    # Each scan counted once, in the order read: the order opened, an item, and its undo.
    assert [(c, k, ok) for c, k, ok, _ in journal] == [
        (codes[0], "order", 1),
        (codes[1], "item", 1),
        (codes[2], "command", 1),
    ], journal
    assert rows(db, "SELECT sum(packed) FROM order_lines WHERE order_id = ?", order_id) == packed
    assert code == 0
    assert list(read_inbox(state / "scan-inbox.jsonl")) == []  # a clean stop tidies it


def test_a_line_cut_off_by_the_power_is_skipped(tmp_path):
    inbox = tmp_path / "scan-inbox.jsonl"
    at = datetime(2026, 11, 22, 6, 0, 0, 123456, tzinfo=UTC)
    read = ScanRead("7310865004703", "]E0", "serial:gun", at)
    rejected = ScanRejected("serial:gun", "frame longer than 256 bytes", b"\x00\xff9", at)
    whole = _line(read) + _line(rejected)
    inbox.write_bytes(whole + _line(read)[:20])
    assert list(read_inbox(inbox)) == [read, rejected]


def test_scans_of_the_devices_pages_scanner_test_are_not_kept(tmp_path):
    from stationd.events import Bus
    from stationd.services.scan_inbox import ScanInbox

    bus = Bus()
    inbox = ScanInbox(tmp_path / "scan-inbox.jsonl", lambda scans: set())
    inbox.open(bus)
    inbox.skip = lambda at: True  # a scanner test goes on: shown, never counted
    bus.publish(ScanRead("TEST-1", None, "serial:gun"))
    inbox.skip = lambda at: False
    bus.publish(ScanRead("7310865004703", None, "serial:gun"))
    assert [scan.code for scan in read_inbox(inbox.path)] == ["7310865004703"]


def test_a_grown_inbox_is_tidied_of_the_scans_the_journal_has(tmp_path, monkeypatch):
    import stationd.services.scan_inbox as scan_inbox
    from stationd.events import Bus
    from stationd.services.scan_inbox import ScanInbox

    journaled: set = set()
    inbox = ScanInbox(tmp_path / "scan-inbox.jsonl", lambda scans: journaled)
    monkeypatch.setattr(scan_inbox, "COMPACT_BYTES", 400)  # a few scans' worth
    bus = Bus()
    inbox.open(bus)
    first = ScanRead("7310865004703", None, "serial:gun")
    bus.publish(first)
    journaled.add((first.source, first.at))  # the bench counted it
    for n in range(6):
        bus.publish(ScanRead(f"ORD-{1000 + n}", None, "serial:gun"))
    until(
        lambda: first not in list(read_inbox(inbox.path)),
        within_s=5,
        what="the inbox tidied of the journaled scan",
    )
    assert [scan.code for scan in read_inbox(inbox.path)][-1] == "ORD-1005"
    inbox.close()


def test_a_scan_is_on_disk_before_any_part_of_the_station_hears_of_it(tmp_path):
    # Issue 10 item 7: the bench, /metrics and the rest listen before the inbox opens (the
    # station starts them first), yet each finds the scan in the inbox when it hears of it:
    # nothing counts as read that a kill could still take back.
    from stationd.events import Bus
    from stationd.services.scan_inbox import ReadContext, ScanInbox, read_contexts

    bus = Bus()
    inbox = ScanInbox(tmp_path / "scan-inbox.jsonl", lambda scans: set())
    inbox.context = lambda: ReadContext(1288, True, False)
    on_disk_when_heard = []
    bus.subscribe(lambda event: on_disk_when_heard.append(list(read_inbox(inbox.path))), ScanRead)
    inbox.open(bus)
    scan = ScanRead("7310865004703", None, "serial:gun")
    bus.publish(scan)
    inbox.close()
    assert on_disk_when_heard == [[scan]]
    # with the context it was read in: order 1288 open, nothing waiting before it
    assert read_contexts(inbox.path) == [ReadContext(1288, True, False)]
