"""A pack-script run's write on PostgreSQL while it decides (issue 11): a thread with one
write transaction that moves the orders the decide hands on, batch by batch, so the server
moves the oldest orders while the rest are decided (`services.packscript_run`).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from stationd.core.packscript import Candidate, PackResult, StepListener, run_pack_script
from stationd.store import packscript_chunks as chunks
from stationd.store.database import Store

__all__ = ["CentralWriter", "decide_while_writing"]


def decide_while_writing(
    store: Store,
    station: str,
    run_id: int,
    read: tuple[list[Candidate], dict[int, Any], dict[str, int]],
    on_step: StepListener | None = None,
) -> tuple[PackResult, CentralWriter]:
    """Decide on what a run read (`services.packscript_run.read_snapshot`) while a
    `CentralWriter` moves the orders as they are decided: the result, and the writer to
    `finish` (commit) or `abandon`. If the decide raises, the writer is abandoned."""
    candidates, versions, available = read
    writer = CentralWriter(store, station, run_id, versions)
    try:
        return run_pack_script(candidates, available, on_step, on_moves=writer.put), writer
    except BaseException:
        writer.abandon()
        raise


class CentralWriter:
    """A thread with one write transaction on PostgreSQL that moves the orders handed to it
    (`put`, batch by batch, as the decide hands them on), then reserves their stock and
    records them (`finish`), or writes nothing (`abandon`). Batches that wait when it is free
    go in one statement."""

    _FINISH, _ABANDON = "finish", "abandon"

    def __init__(self, store: Store, station: str, run_id: int, versions: dict[int, Any]):
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._write,
            args=(store, station, run_id, versions),
            name="packscript-write",
            daemon=True,
        )
        self._thread.start()

    def put(self, moves: list[Candidate]) -> None:
        self._queue.put(moves)

    def finish(self, need: dict[str, int]) -> None:
        """Reserve `need`, record the moves and commit (`wait` for it)."""
        self._queue.put((self._FINISH, need))

    def wait(self) -> None:
        """Wait for the end of the writing; raises what it raised (MovesChanged when something
        changed since the read: nothing is written then)."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Roll back what was written, and end the thread."""
        self._queue.put((self._ABANDON, None))
        self._thread.join()

    def _write(self, store: Store, station: str, run_id: int, versions: dict[int, Any]) -> None:
        try:
            batch, then = self._next()
            if not batch:  # nothing moves (or the run was given up): nothing to write
                return
            # Begun with the first moves, not before: a run that stalls while it decides holds
            # no transaction; one that stalls later is ended by central (`limit_run_transaction`).
            with store.write(durable=False, bulk=True, background=True) as conn:
                moving = chunks.CentralMoves(conn, versions, run_id=run_id)
                while True:
                    if batch:
                        moving.move(batch)
                    if then is not None:
                        break
                    batch, then = self._next()
                if then[0] == self._ABANDON:
                    raise _Abandoned
                moving.finish(then[1])
                chunks.record_moves(conn, moving.ids, station=station, run_id=run_id)
        except _Abandoned:
            pass
        except BaseException as err:  # handed to the thread that waits in `finish`
            self._error = err

    def _next(self) -> tuple[list[Candidate], tuple[str, Any] | None]:
        """The moves waiting (at least one batch, unless the end came), and the end if it came."""
        batch: list[Candidate] = []
        item = self._queue.get()
        while True:
            if isinstance(item, tuple):
                return batch, item
            batch = batch + item if batch else item
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, None


class _Abandoned(Exception):
    """The run's write is given up (rolled back)."""
