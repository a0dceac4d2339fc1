"""The pack-script run lock: one run at a time, across processes and stations, for a whole run.

A run writes in short transactions (`services.packscript_run`), so no transaction lock covers
it from start to end. This lock does, and it goes with its holder: a process that dies drops it.

- SQLite: an exclusive `flock` on `<database>-packscript`, a file beside the database (made
  private, never removed: removing a lock file races with the next one to open it).
- PostgreSQL: the pack-script advisory lock (`store.packscript.PACKSCRIPT_LOCK_KEY`) held by a
  transaction of its own, open for the run on a connection of its own (the run's work goes in
  other transactions). Transaction-scoped, so it is safe behind a connection pooler (nothing of
  it stays on a server session) and goes with the transaction however that ends. A second run
  is refused at once (`RunLockTaken`), not queued. The lock's transaction waits idle while the
  run works: central ends it after `RUN_HOLD_S` (`idle_in_transaction_session_timeout`, set for
  that transaction only), so a runner that stalls — a station frozen, a network gone silent —
  holds the next run up for that long at most. A run that goes on after central ended its lock
  still reserves nothing twice: each of its transactions checks what it writes. Order edits
  take the same key shared per transaction (`packscript_lock(shared=True)`), so on PostgreSQL
  they wait for a run, as they did when the run was one transaction.

Stock is never reserved twice without it too (each chunk of a run checks what it was decided
on, `store.packscript.write_moves`); it keeps two runs from doing the same work, and tells the
Tools page whether a run's marker is alive (`run_lock_held`).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from stationd.store.database import Store
from stationd.store.packscript import PACKSCRIPT_LOCK_KEY, limit_run_transaction

log = logging.getLogger(__name__)

#: PostgreSQL: how long a run may hold the run lock, in seconds. Central ends the lock's
#: transaction when it has been idle for so long, which it is for the whole run: so this is
#: the longest run (100,000 orders take a few seconds; a Pi deciding them, some more).
RUN_HOLD_S = 300.0


class RunLockTaken(Exception):
    """Another pack-script run holds the run lock now (PostgreSQL: refused, not waited for)."""


def lock_file(database: str) -> str:
    """The file whose flock is a SQLite database's run lock."""
    return f"{database}-packscript"


@contextmanager
def holding_run_lock(store: Store) -> Iterator[None]:
    """Hold the run lock while the block runs, waiting for a run going elsewhere to end."""
    if store.is_sqlite:
        database = store.engine.url.database or ""
        if not database or database == ":memory:":
            yield  # one connection's database: nobody else can run on it
            return
        fd = os.open(lock_file(database), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # drops the flock
        return
    with store.engine.connect() as conn:
        transaction = conn.begin()
        try:
            limit_run_transaction(conn, idle_s=RUN_HOLD_S)
            taken = conn.exec_driver_sql(
                f"SELECT pg_try_advisory_xact_lock({PACKSCRIPT_LOCK_KEY})"
            ).scalar_one()
            if not taken:
                raise RunLockTaken("Another pack-script run is going on this database now.")
            yield
        finally:
            try:
                transaction.rollback()  # the lock goes with the transaction
            except DBAPIError:
                # Central ended the lock's transaction (idle past RUN_HOLD_S, or restarted):
                # the lock went with it. The run's own transactions stand on their checks.
                log.warning("the pack-script run lock was ended by the database before the run")
                conn.invalidate()


def run_lock_held(conn: Connection) -> bool:
    """Whether a run holds the run lock now (asked without waiting, changing nothing)."""
    if conn.dialect.name != "postgresql":
        database = conn.engine.url.database or ""
        if not database or database == ":memory:":
            return False
        try:
            fd = os.open(lock_file(database), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False  # no run ever made it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False
    # A run takes the exclusive advisory lock; order edits only take it shared. A bigint key
    # shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1. The
    # server's pg_locks lists every database's locks: only this database's run counts.
    return (
        conn.exec_driver_sql(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ExclusiveLock' "
            "AND granted AND objsubid = 1 AND classid = %(hi)s AND objid = %(lo)s "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            {"hi": PACKSCRIPT_LOCK_KEY >> 32, "lo": PACKSCRIPT_LOCK_KEY & 0xFFFFFFFF},
        ).first()
        is not None
    )


__all__ = ["RUN_HOLD_S", "RunLockTaken", "holding_run_lock", "lock_file", "run_lock_held"]
