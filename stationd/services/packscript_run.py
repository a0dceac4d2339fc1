"""One pack-script run (R6–R8, R17): lock, read, decide, write in short transactions, record.

This is the run that every caller makes: the `stationd packscript` command, the schedule
(`sync.schedule`), the Tools page (through `services.packscript.PackScriptRunner`) and the
benchmark. The SQL pieces are the store's (`store.packscript`, `store.packscript_chunks`), the
decisions core's.

No scan may wait long for a run (issue 10): the run reads and decides outside any write
transaction, then writes its moves a chunk at a time, each chunk a transaction short enough
that the bench's write waits at most one chunk (`CHUNK_TARGET_S`; SQLite has one write lock
per file). Each chunk writes only what it was decided on (`write_moves`); when something
changed meanwhile the run decides again from the last chunk written, oldest first as before.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from stationd.clock import utcnow
from stationd.core.packscript import (
    PackResult,
    Step,
    StepListener,
    Trace,
    reserved_by,
    run_pack_script,
)
from stationd.core.packscript_reasons import Message
from stationd.store import packscript as pack_store
from stationd.store import packscript_chunks as chunks
from stationd.store.database import Store
from stationd.store.packscript_runlock import RunLockTaken, holding_run_lock
from stationd.switching import switching_often

log = logging.getLogger(__name__)

__all__ = ["PackScriptRunFailed", "run_once"]

#: How long one chunk of moves should take to write. A transaction writes chunk after chunk
#: and ends as soon as another writer waits, so such a writer waits about one chunk (and the
#: commit); the size follows what the chunks before took: a fast machine writes bigger chunks
#: than a Pi. 4 → 2 ms: a scan's wait for the write lock during a run's write went 8.2 → 7.1 ms
#: p50, 68 → 42 ms p90 beside `stationd packscript` (4.8 → 3.9, 48 → 37 in serve), on a
#: machine loaded 15-31 on 2 cores, for ~1.5x the statements.
CHUNK_TARGET_S = 0.002
#: The first chunk's size, and the bounds of any.
FIRST_CHUNK, SMALLEST_CHUNK, LARGEST_CHUNK = 200, 20, 20_000
#: PostgreSQL: how many moves one transaction writes. A scan there never waits for the run
#: (it takes rows the run does not), and each transaction of a run pays again for the stock
#: rows (every SKU, each chunk), the statements and the commit: measured at 85,042 moves,
#: 20,000 a transaction cost the server 1.64 s of processor time, one transaction 1.04 s.
CENTRAL_CHUNK = 1_000_000
#: How long one transaction of a run may hold the database though nobody here waits: the
#: bound for writers of other processes, which this one can't see waiting.
HOLD_S = 0.1
#: After this many transactions found their orders or stock changed, the rest is written the
#: old way: read, decided and written in one transaction, which nothing can change under.
MAX_CHANGED = 3


class PackScriptRunFailed(Exception):
    """Writing a run's outcome failed. `run_id` is the run, recorded as failed; the chunks
    written before the failure stay written (and counted on it), the failing one is not."""

    def __init__(self, run_id: int, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id


def run_once(
    store: Store,
    *,
    station: str,
    trigger: str,
    on_step: StepListener | None = None,
    keep_traces_days: int | None = None,
) -> tuple[int, PackResult]:
    """One pack-script run: lock, read, decide, write chunk by chunk, record.

    Returns the run's id and its result; raises RunLockTaken, recording nothing, when another
    run holds the run lock (PostgreSQL). If writing fails, the run is recorded as failed
    with the error, so the Tools page shows what happened; the chunks written stay written.
    With `keep_traces_days` (`[packscript] keep_traces_days`), the traces of older runs are
    forgotten afterwards, in a transaction of its own (`store.packscript.forget_old_traces`).
    """
    started = utcnow()
    run_id: int | None = None
    try:
        with _collector_paused(), switching_often(), holding_run_lock(store):
            with store.write() as conn:
                run_id = chunks.begin_run(conn, station, trigger, started)
            result = _decide_and_write(store, station, run_id, on_step)
            # Durable: the chunks before were committed without waiting for the disk (and put
            # there after each, outside the lock); this commit makes sure of it.
            trace = pack_store.encode_trace(result.trace)  # not while holding the database
            with store.write() as conn:
                chunks.finish_run(conn, run_id, result, None, trace)
    except RunLockTaken:
        raise  # another run goes on (PostgreSQL refuses a second at once): this one never began
    except Exception as err:
        log.exception("pack script run failed")
        stop = Step(None, "error", False, Message(f"{type(err).__name__}: {err}"))
        failed = PackResult(trace=Trace(stopped=stop))
        with store.write() as conn:
            if run_id is None:
                run_id = pack_store.record_run(conn, station, trigger, started, failed, "failed")
            else:
                chunks.finish_run(conn, run_id, failed, "failed")
        raise PackScriptRunFailed(run_id, stop.detail) from err
    if keep_traces_days is not None:
        before = utcnow() - timedelta(days=keep_traces_days)
        try:
            with store.write() as conn:
                gone = pack_store.forget_old_traces(conn, before=before)
        except Exception:  # costs disk until the next run tries again, nothing else
            log.warning("could not forget old pack-script traces", exc_info=True)
        else:
            if gone:
                log.info("forgot the traces of %d pack-script runs before %s", gone, before)
    return run_id, result


def _decide_and_write(
    store: Store, station: str, run_id: int, on_step: StepListener | None
) -> PackResult:
    """Read and decide on one snapshot, then write the moves chunk by chunk; the result as
    written (decided again from the last chunk written, if something changed meanwhile)."""
    versions: dict[int, Any] = {}
    with _snapshot(store) as conn:
        candidates = pack_store.load_candidates(conn, versions)
        available = pack_store.load_available(conn, lock=False)
    result = run_pack_script(candidates, available, on_step)
    del candidates, available
    # SQLite has one write lock per file: short transactions let the bench in between. On
    # PostgreSQL a scan never waits for the run's write (it takes rows the run does not), so
    # the moves go in one transaction (`CENTRAL_CHUNK`): 85,000 orders in one HOT update,
    # not hundreds of commits each with its triggers' statements.
    size = FIRST_CHUNK if store.is_sqlite else CENTRAL_CHUNK
    written, changed = 0, 0
    while written < len(result.moves):
        done = written
        try:
            with store.write(durable=False, bulk=True, background=True) as conn:
                began = time.perf_counter()
                while done < len(result.moves):
                    chunk = result.moves[done : done + size]
                    cpu = time.thread_time()
                    chunks.move_orders(conn, chunk, versions, run_id=run_id)
                    # Sized by this thread's own time: on a busy machine the wall clock also
                    # counts the time others had the processor.
                    if store.is_sqlite:
                        size = _next_size(size, time.thread_time() - cpu)
                    done += len(chunk)
                    if store.writers_waiting or time.perf_counter() - began >= HOLD_S:
                        break
                ids = [move[0] for move in result.moves[written:done]]
                chunks.record_moves(conn, ids, station=station, run_id=run_id)
        except chunks.MovesChanged as why:
            changed += 1
            log.info("pack script run %d: %s; deciding again from there", run_id, why)
            if changed >= MAX_CHANGED:
                return _write_rest_at_once(store, station, run_id, result, written)
            result = _decide_again(store, result, written, versions)
            continue
        written = done
        # On disk now, outside the write lock: else the next writer's commit (a scan's) would
        # wait for the disk to take this transaction's pages along with its own.
        store.sync_log()
    return result


def _next_size(size: int, took: float) -> int:
    # Aimed at the target, changing by at most half or double at a time.
    aimed = size * CHUNK_TARGET_S / max(took, 1e-4)
    return int(min(LARGEST_CHUNK, max(SMALLEST_CHUNK, size / 2, min(aimed, 2 * size))))


def _decide_again(
    store: Store, result: PackResult, done: int, versions: dict[int, Any]
) -> PackResult:
    """The run's result with everything after its first `done` moves (written) decided anew
    on a fresh snapshot: the orders after the last one written, oldest first, against the
    stock there is now."""
    with _snapshot(store) as conn:
        versions.clear()
        fresh = pack_store.load_candidates(conn, versions)
        available = pack_store.load_available(conn, lock=False)
    return _joined(result, done, fresh, available)


def _write_rest_at_once(
    store: Store, station: str, run_id: int, result: PackResult, done: int
) -> PackResult:
    # The way a run wrote before issue 10: this holds the database (on SQLite the bench too)
    # until it is written, and only runs when short transactions kept meeting changes.
    log.warning("pack script run %d: writing the rest in one transaction", run_id)
    with store.write(bulk=True) as conn:
        fresh = pack_store.load_candidates(conn)
        available = pack_store.load_available(conn)
        joined = _joined(result, done, fresh, available)
        rest = PackResult(joined.moves[done:], reserved_by(joined.moves[done:]))
        pack_store.write_result(conn, rest, station=station, run_id=run_id)
    return joined


def _joined(result: PackResult, done: int, fresh: list, available: dict[str, int]) -> PackResult:
    """`result`'s first `done` moves and the trace up to the last of them, then the decisions
    on `fresh` orders after it (oldest first: placed_at, then id)."""
    trace = result.trace
    if done:
        last = result.moves[done - 1]
        after = (last[1], last[0])
        fresh = [c for c in fresh if (c[1], c[0]) > after]
        kept = trace.order_ids.index(last[0]) + 1
    else:
        kept = 0
    again = run_pack_script(fresh, available)
    reasons = {n: r for n, r in trace.reasons.items() if n < kept}
    reasons.update({kept + n: r for n, r in again.trace.reasons.items()})
    joined = Trace(
        [*trace.order_ids[:kept], *again.trace.order_ids],
        trace.outcomes[:kept] + again.trace.outcomes,
        reasons,
        again.trace.stopped,
    )
    moves = result.moves[:done] + again.moves
    return PackResult(moves, reserved_by(moves), joined)


@contextmanager
def _snapshot(store: Store) -> Iterator[Any]:
    """A read transaction in which the orders, their lines and the stock agree: SQLite's read
    transaction is one snapshot; PostgreSQL's needs REPEATABLE READ for its statements to be."""
    with store.read() as conn:
        if not store.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Loading makes ~500,000 tuples that live until the run ends and hold no cycles; the
    # cyclic garbage collector would only walk them again and again, while they are made and
    # at each allocation after (one full pass costs ~0.1 s), until the commit.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
