"""Whether an error means "the database could not take it now" — a transaction to try again —
rather than a fault of the code that ran it.

The server went away (OperationalError, InterfaceError, a DBAPIError on a connection that was
invalidated), a hook read a connection broken under it (PendingRollbackError, which hides the
OperationalError it followed: the whole chain of causes is looked at), SQLite was locked, busy,
hit a disk I/O error or a full disk, or the disk itself refused (an OSError of the same kinds).
"""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError

#: OS errors that mean the disk under the database can't take a write now.
_DISK_ERRNOS = {errno.EIO, errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def database_unavailable(err: BaseException) -> bool:
    """True when `err` (or any error it was raised from) says the database can't be used now."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlite3.DatabaseError):
            # SQLite says OperationalError of a misspelt table too: only these are passing.
            return _sqlite_passing(current)
        if isinstance(current, DBAPIError) and isinstance(current.orig, sqlite3.DatabaseError):
            return _sqlite_passing(current.orig)  # the driver's own word, cause chained or not
        if isinstance(current, PendingRollbackError | InterfaceError):
            return True
        if isinstance(current, OperationalError) and not isinstance(
            current.orig, sqlite3.DatabaseError
        ):
            return True  # the server: gone, restarting, refusing, a lock or deadlock timeout
        if isinstance(current, OSError) and current.errno in _DISK_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


#: SQLite's result codes of a database that can't take a write now (the low byte of an
#: extended code): busy, locked, I/O error, full, can't open, read-only, protocol.
_SQLITE_PASSING = {5, 6, 10, 13, 14, 8, 15}
_SQLITE_PASSING_TEXT = (
    "locked",
    "busy",
    "disk I/O error",
    "disk is full",
    "unable to open",
    "readonly",
)


def _sqlite_passing(err: sqlite3.DatabaseError) -> bool:
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_PASSING
    if isinstance(err, sqlite3.InterfaceError):
        return False
    return any(text in str(err) for text in _SQLITE_PASSING_TEXT)


def first_line(err: BaseException) -> str:
    """The error in one line, for a log line or the packer's screen (the driver's own message
    when SQLAlchemy wrapped one)."""
    orig = getattr(err, "orig", None)
    text = str(orig or err).strip()
    return text.splitlines()[0] if text else type(err).__name__
