"""SQLite writers of other processes: seen waiting, and let through (issue 10).

A pack-script run started by `stationd packscript` writes in short transactions from a process
of its own, while `serve` scans. A writer that found the file's write lock taken waited in
SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms between tries: it kept missing the short
gaps between the run's transactions and waited for the whole run.

So a writer that finds the lock taken says so — a shared `flock` on `<database>-writers` while it
waits — and tries again every `POLL_S` instead. A run asks between its transactions whether any
writer waits (`waiting`), and lets them go first (`let_through`).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from typing import Any

from sqlalchemy import Connection

#: How often a waiting writer tries the write lock again.
POLL_S = 0.001


class WriteIntent:
    """The writers' flag file of one SQLite database."""

    def __init__(self, database: str, busy_timeout_s: float) -> None:
        self.path = f"{database}-writers"
        self.busy_timeout_s = busy_timeout_s
        self._probe: int | None = None

    def begin_immediate(self, conn: Connection) -> None:
        """`BEGIN IMMEDIATE` on `conn`; if another process writes, wait for it as said above
        (up to the busy timeout, then SQLite's "database is locked" as before)."""
        driver: Any = conn.connection.dbapi_connection
        driver.execute("PRAGMA busy_timeout=0")
        try:
            try:
                if _began(driver):
                    return
            except sqlite3.Error:  # not "locked": raised again, worded as SQLAlchemy words it
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            deadline = time.monotonic() + self.busy_timeout_s
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
                while time.monotonic() < deadline:
                    time.sleep(POLL_S)
                    if _began(driver):
                        return
            finally:
                os.close(fd)
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the error, worded as SQLAlchemy words it
        finally:
            driver.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")

    def waiting(self) -> bool:
        """Whether a writer (of any process) waits for the write lock now."""
        if self._probe is None:
            self._probe = self._open()
        try:
            fcntl.flock(self._probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._probe, fcntl.LOCK_UN)
        return False

    def let_through(self, patience_s: float) -> None:
        """Wait (up to `patience_s`) until no writer waits for the write lock."""
        until = time.monotonic() + patience_s
        while self.waiting() and time.monotonic() < until:
            time.sleep(POLL_S)

    def close(self) -> None:
        if self._probe is not None:
            os.close(self._probe)
            self._probe = None

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _began(driver: Any) -> bool:
    try:
        driver.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            return False
        raise
    return True


__all__ = ["POLL_S", "WriteIntent"]
