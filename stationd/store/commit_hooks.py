"""Work to do after a transaction commits: what a transaction noted, handed over once it is in.

The print service queues a job in the caller's transaction and must wake that printer's worker
only once the job can be seen (`services.printing`): `AfterCommit` keeps what was noted on the
connection and hands it over after the commit; a rollback forgets it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import SQLAlchemyError


class AfterCommit:
    """Calls `then(items)` with the items `note(conn, item)` noted in a transaction, after it
    committed. One per user of an engine (its keys are its own), made before any thread uses
    the engine, for the engine's life: SQLAlchemy's event lists may not change while another
    thread's transaction walks them (a scan handled at start raised "deque mutated during
    iteration")."""

    def __init__(self, engine: Engine, then: Callable[[set[str]], None]) -> None:
        self._then = then
        # Keys in the pooled connection's `info` for the items noted in the open transaction,
        # and those whose transaction committed.
        self._pending_key = f"stationd.after_commit.pending.{id(self)}"
        self._committed_key = f"stationd.after_commit.committed.{id(self)}"
        for name, hook in (
            ("commit", self._on_commit),
            ("rollback", self._on_rollback),
            ("begin", self._on_begin),
            ("checkin", self._on_checkin),
        ):
            event.listen(engine, name, hook)

    def note(self, conn: Connection, item: str) -> None:
        """Hand `item` over once the transaction open on `conn` commits."""
        conn.info.setdefault(self._pending_key, set()).add(item)

    # SQLAlchemy's "commit" event comes *before* the database commits, so handing over there
    # would have a worker look for a job it can't see yet. The items are noted at "commit"
    # and handed over when the connection is checked in to the pool — after the commit — or
    # when the next transaction on the same connection begins.

    def _on_commit(self, conn: Connection) -> None:
        pending = conn.info.pop(self._pending_key, None)
        if pending:
            conn.info.setdefault(self._committed_key, set()).update(pending)

    def _on_rollback(self, conn: Connection) -> None:
        # A rollback after the server went away comes on a connection broken under it:
        # reading its `info` raises PendingRollbackError, which would replace the
        # OperationalError the caller retries on (issue 10 item 1). Nothing is lost by
        # skipping it: the pooled record's pending items are dropped at check-in.
        try:
            info = conn.info
        except SQLAlchemyError:
            return
        info.pop(self._pending_key, None)

    def _on_begin(self, conn: Connection) -> None:
        self._hand_over(conn.info.pop(self._committed_key, None))

    def _on_checkin(self, _dbapi_conn: object, record: Any) -> None:
        if record is not None:
            record.info.pop(self._pending_key, None)
            self._hand_over(record.info.pop(self._committed_key, None))

    def _hand_over(self, items: set[str] | None) -> None:
        if items:
            self._then(items)
