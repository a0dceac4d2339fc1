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

On PostgreSQL a scan never waits for a run's write (it takes rows the run does not), so a run
decided in this process writes in one transaction, while it decides (`_write_as_decided`): the
decide hands its moves on in batches to a thread that moves them at once, so the server moves
the oldest orders while the rest are decided (issue 11).
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
    Candidate,
    PackResult,
    Step,
    StepListener,
    Trace,
    reserved_by,
    run_pack_script,
)
from stationd.core.packscript_reasons import Message
from stationd.services.packscript_central_writer import decide_while_writing
from stationd.services.packscript_child import (
    DecideFailed,
    DecideInChild,
    Declined,
    ReadyChild,
    WriteInChild,
)
from stationd.services.packscript_stop import STOPPED_BY_HAND, RunStop, stopped_by_hand, trace_kept
from stationd.store import packscript as pack_store
from stationd.store import packscript_chunks as chunks
from stationd.store.database import Store
from stationd.store.packscript_runlock import RunLockTaken, holding_run_lock
from stationd.switching import switching_often

log = logging.getLogger(__name__)

__all__ = ["STOPPED_BY_HAND", "PackScriptRunFailed", "RunStop", "read_snapshot", "run_once"]

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


class _Stopped(Exception):
    """A Stop ended the run between two transactions."""


def run_once(
    store: Store,
    *,
    station: str,
    trigger: str,
    on_step: StepListener | None = None,
    keep_traces_days: int | None = None,
    in_child: bool = False,
    stop: RunStop | None = None,
    ready: ReadyChild | None = None,
) -> tuple[int, PackResult]:
    """One pack-script run: lock, read, decide, write chunk by chunk, record.

    Returns the run's id and its result; raises RunLockTaken, recording nothing, when another
    run holds the run lock (PostgreSQL). If writing fails, the run is recorded as failed
    with the error, so the Tools page shows what happened; the chunks written stay written.
    With `keep_traces_days` (`[packscript] keep_traces_days`), the traces of older runs are
    forgotten afterwards, in a transaction of its own (`store.packscript.forget_old_traces`).

    `in_child` reads and decides in a child process (`services.packscript_child`): `serve`'s
    way, so that a run's memory peak is the child's (the result then keeps only the moved
    ids). On PostgreSQL the child writes the moves itself, in one transaction, if they fit
    one (`CENTRAL_CHUNK`); else, and on SQLite, it streams them back for this process to
    write. `stop` ends the run between two transactions (`RunStop`): it is recorded as
    stopped, its trace up to the last order written. `ready` holds a child started ahead,
    which the run takes if one waits.
    """
    started = utcnow()
    run_id: int | None = None
    stop = stop or RunStop()
    try:
        with _collector_paused(), switching_often(), holding_run_lock(store):
            with store.write() as conn:
                run_id = chunks.begin_run(conn, station, trigger, started)
            result, trace = _decide_and_write(
                store, station, run_id, on_step, in_child, stop, ready
            )
            # Durable: the chunks before were committed without waiting for the disk (and put
            # there after each, outside the lock); this commit makes sure of it.
            if trace is None:  # else encoded while the server wrote
                trace = pack_store.encode_trace(result.trace)  # not while holding the database
            with store.write() as conn:
                chunks.finish_run(conn, run_id, result, None, trace)
    except RunLockTaken:
        raise  # another run goes on (PostgreSQL refuses a second at once): this one never began
    except Exception as err:
        log.exception("pack script run failed")
        stop_step = Step(None, "error", False, Message(f"{type(err).__name__}: {err}"))
        failed = PackResult(trace=Trace(stopped=stop_step))
        with store.write() as conn:
            if run_id is None:
                run_id = pack_store.record_run(conn, station, trigger, started, failed, "failed")
            else:
                chunks.finish_run(conn, run_id, failed, "failed")
        raise PackScriptRunFailed(run_id, stop_step.detail) from err
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


def read_snapshot(
    store: Store, *, after: tuple[Any, int] | None = None
) -> tuple[list[Candidate], dict[int, Any], dict[str, int]]:
    """The open orders (oldest first after `after`: (placed_at, order_id)), each one's
    `updated_at` as read, and the stock available, all from one snapshot."""
    versions: dict[int, Any] = {}
    with _snapshot(store) as conn:
        candidates = pack_store.load_candidates(conn, versions)
        available = pack_store.load_available(conn, lock=False)
    if after is not None:
        candidates = [c for c in candidates if (c[1], c[0]) > after]
    return candidates, versions, available


class _DecidedHere:
    """A decide made in this process: its result's moves, handed out chunk by chunk."""

    def __init__(self, result: PackResult, versions: dict[int, Any]) -> None:
        self.trace = result.trace
        self._moves = result.moves
        self._reserved = result.reserved
        self._versions = versions
        self._next = 0

    def take(self, n: int) -> tuple[list[Candidate], dict[int, Any]]:
        moves = self._moves[self._next : self._next + n]
        self._next += len(moves)
        return moves, self._versions

    def reserved(self, chunk: list[Candidate]) -> dict[str, int] | None:
        """The stock `chunk` reserves, if the decide counted it already: when it is every move
        (PostgreSQL's one transaction), else None (to be counted from its lines)."""
        return self._reserved if len(chunk) == len(self._moves) else None

    def close(self) -> None:
        pass


def _decide(
    store: Store,
    after: Candidate | None,
    on_step: StepListener | None,
    in_child: bool,
    stop: RunStop,
    write: WriteInChild | None = None,
    ready: ReadyChild | None = None,
) -> _DecidedHere | DecideInChild:
    """Read and decide on one snapshot: the orders after `after` (the last move written).
    `write`: a child on PostgreSQL writes the moves itself if it can (`DecideInChild.writes`)."""
    key = None if after is None else (after[1], after[0])
    if in_child and store.seen_by_other_processes:
        decided = DecideInChild(
            store.url,
            busy_timeout_s=store.busy_timeout_s,
            after=key,
            on_start=stop.watch,
            write=write,
            ready=ready,
        )
        try:
            if on_step is not None:  # the steps as a run in this process tells them
                for step in decided.trace:
                    on_step(step)
        except BaseException:
            decided.close()  # else a child that writes waits for its answer, rows held
            raise
        return decided
    candidates, versions, available = read_snapshot(store, after=key)
    return _DecidedHere(run_pack_script(candidates, available, on_step), versions)


def _decide_and_write(
    store: Store,
    station: str,
    run_id: int,
    on_step: StepListener | None,
    in_child: bool,
    stop: RunStop,
    ready: ReadyChild | None = None,
) -> tuple[PackResult, bytes | None]:
    """Read and decide on one snapshot, then write the moves chunk by chunk; the result as
    written (decided again from the last chunk written, if something changed meanwhile), and
    its trace encoded if that was done while the moves were written."""
    # What was written: the moves themselves when decided here (they are in memory anyway),
    # only their ids when they came from a child.
    moves: list[Candidate] = []
    ids: list[int] = []
    # The stock the written moves reserve, summed chunk by chunk as each is written (counting
    # it again from the moves' lines at the end cost 0.06 s at 85,000 moves).
    reserved: dict[str, int] = {}
    last: Candidate | None = None  # the last move written
    changed = 0
    decided: _DecidedHere | DecideInChild | None = None
    if not store.is_sqlite:
        try:
            if in_child:
                write = WriteInChild(station, run_id, CENTRAL_CHUNK)
                try:
                    decided = _decide(store, None, on_step, in_child, stop, write, ready)
                except DecideFailed as err:
                    if not stop.requested:  # the child died, or the pipe broke: the run failed
                        raise
                    return _stopped_before_writing(run_id, Trace(), on_step, err)
                written = _written_by_child(decided, stop, run_id, on_step)
            else:
                written = _write_as_decided(store, station, run_id, on_step, stop)
        except chunks.MovesChanged as why:  # nothing written: decided again, as below
            changed = 1
            log.info("pack script run %d: %s; deciding again", run_id, why)
            on_step = None  # the steps were told
            if decided is not None:
                decided.close()
                decided = None
        except BaseException:
            if decided is not None:
                decided.close()  # a child that writes rolls back and ends
            raise
        else:
            if written is not None:
                return written
    # SQLite has one write lock per file: short transactions let the bench in between. On
    # PostgreSQL a scan never waits for the run's write (it takes rows the run does not), so
    # the moves go in one transaction (`CENTRAL_CHUNK`): 85,000 orders in one HOT update,
    # not hundreds of commits each with its triggers' statements.
    size = FIRST_CHUNK if store.is_sqlite else CENTRAL_CHUNK
    trace = Trace()
    try:
        if decided is None:
            decided = _decide(store, None, on_step, in_child, stop, ready=ready)
        trace = decided.trace
        more = True
        while more:
            if stop.requested:
                raise _Stopped
            taken: list[Candidate] = []
            needs: list[dict[str, int]] = []
            try:
                with store.write(durable=False, bulk=True, background=True) as conn:
                    began = time.perf_counter()
                    while True:
                        chunk, versions = decided.take(size)
                        if not chunk:
                            more = False
                            break
                        cpu = time.thread_time()
                        need = decided.reserved(chunk) or reserved_by(chunk)
                        chunks.move_orders(conn, chunk, versions, run_id=run_id, need=need)
                        needs.append(need)
                        # Sized by this thread's own time: on a busy machine the wall clock
                        # also counts the time others had the processor.
                        if store.is_sqlite:
                            size = _next_size(size, time.thread_time() - cpu)
                        taken.extend(chunk)
                        if store.writers_waiting or time.perf_counter() - began >= HOLD_S:
                            break
                    chunks.record_moves(
                        conn, [move[0] for move in taken], station=station, run_id=run_id
                    )
            except chunks.MovesChanged as why:
                changed += 1
                log.info("pack script run %d: %s; deciding again from there", run_id, why)
                decided.close()
                if changed >= MAX_CHANGED:
                    trace, rest, need = _write_rest_at_once(store, station, run_id, trace, last)
                    moves.extend(rest)
                    _add(reserved, need)
                    ids.extend(move[0] for move in rest)
                    break
                decided = _decide(store, last, None, in_child, stop)
                trace = _joined(trace, last, decided.trace)
                more = True
                continue
            if taken:
                last = taken[-1]
                ids.extend(move[0] for move in taken)
                if not in_child:
                    moves.extend(taken)
                    for need in needs:
                        _add(reserved, need)
                # On disk now, outside the write lock: else the next writer's commit (a
                # scan's) would wait for the disk to take this transaction's pages too.
                store.sync_log()
    except (_Stopped, DecideFailed) as err:
        if not stop.requested:  # the child died, or the pipe broke: the run failed
            raise
        log.info("pack script run %d stopped from Tools after %d moves (%s)", run_id, len(ids), err)
        trace = stopped_by_hand(trace, last, on_step)
    finally:
        if decided is not None:
            decided.close()
    if in_child:
        return PackResult(trace=trace, ids=ids), None
    return PackResult(moves, reserved, trace), None


def _write_as_decided(
    store: Store, station: str, run_id: int, on_step: StepListener | None, stop: RunStop
) -> tuple[PackResult, bytes | None] | None:
    """PostgreSQL, decided in this process: read, then decide while a thread writes the moves
    in one transaction as they are decided (`CentralWriter`): the server moves the oldest
    orders while the rest are decided. Raises MovesChanged, nothing written, if an order or
    the stock changed since the read. None, nothing decided nor written, if the moves might
    be more than one transaction writes (`CENTRAL_CHUNK`): the run writes chunk by chunk."""
    read = read_snapshot(store)
    if len(read[0]) > CENTRAL_CHUNK:
        return None
    result, writer = decide_while_writing(store, station, run_id, read, on_step)
    del read
    if not stop.let_commit():  # a Stop before the commit: nothing of it is written
        writer.abandon()
        return _stopped_before_writing(run_id, result.trace, on_step, "decided")
    writer.finish(result.reserved)
    try:
        trace = pack_store.encode_trace(result.trace)  # while the server writes
    finally:
        writer.wait()
    store.sync_log()
    return result, trace


def _written_by_child(
    decided: _DecidedHere | DecideInChild,
    stop: RunStop,
    run_id: int,
    on_step: StepListener | None,
) -> tuple[PackResult, bytes | None] | None:
    """PostgreSQL, decided in a child that writes the moves itself (`DecideInChild.writes`):
    commit unless a Stop came, and the run as written. None if the child sends the moves
    instead (more than one transaction writes): the run writes them chunk by chunk. Raises
    MovesChanged, nothing written, if an order or the stock changed since the child read."""
    if not isinstance(decided, DecideInChild) or not decided.writes:
        return None
    try:
        ids = decided.commit(stop.let_commit)
    except (Declined, DecideFailed) as err:
        decided.close()
        # Once told to commit, the child may have: a Stop since then changes nothing, and
        # the run fails, its row keeping the moves the child's transaction counted on it.
        if not stop.requested or decided.commit_sent:  # the child died, or failed
            raise
        return _stopped_before_writing(run_id, decided.trace, on_step, err)
    decided.close()
    return PackResult(trace=decided.trace, ids=ids), None


def _stopped_before_writing(
    run_id: int, trace: Trace, on_step: StepListener | None, how: object
) -> tuple[PackResult, None]:
    """A run that a Stop from Tools ended before it wrote anything (its one transaction on
    PostgreSQL rolled back): no move, its trace ended by the Stop."""
    log.info("pack script run %d stopped from Tools before it wrote its moves (%s)", run_id, how)
    return PackResult(trace=stopped_by_hand(trace, None, on_step), ids=[]), None


def _add(total: dict[str, int], need: dict[str, int]) -> None:
    """Add `need` (stock per SKU) into `total`."""
    if not total:
        total.update(need)
        return
    get = total.get
    for sku, qty in need.items():
        total[sku] = get(sku, 0) + qty


def _next_size(size: int, took: float) -> int:
    # Aimed at the target, changing by at most half or double at a time.
    aimed = size * CHUNK_TARGET_S / max(took, 1e-4)
    return int(min(LARGEST_CHUNK, max(SMALLEST_CHUNK, size / 2, min(aimed, 2 * size))))


def _write_rest_at_once(
    store: Store, station: str, run_id: int, trace: Trace, last: Candidate | None
) -> tuple[Trace, list[Candidate], dict[str, int]]:
    # The way a run wrote before issue 10: this holds the database (on SQLite the bench too)
    # until it is written, and only runs when short transactions kept meeting changes.
    log.warning("pack script run %d: writing the rest in one transaction", run_id)
    with store.write(bulk=True) as conn:
        fresh = pack_store.load_candidates(conn)
        available = pack_store.load_available(conn)
        if last is not None:
            after = (last[1], last[0])
            fresh = [c for c in fresh if (c[1], c[0]) > after]
        again = run_pack_script(fresh, available)
        pack_store.write_result(conn, again, station=station, run_id=run_id)
    return _joined(trace, last, again.trace), again.moves, again.reserved


def _joined(trace: Trace, last: Candidate | None, again: Trace) -> Trace:
    """`trace` up to `last` (the last move written), then `again`: the decisions on the orders
    after it (oldest first: placed_at, then id), decided anew."""
    kept = trace_kept(trace, last)
    reasons = {n: r for n, r in trace.reasons.items() if n < kept}
    reasons.update({kept + n: r for n, r in again.reasons.items()})
    return Trace(
        [*trace.order_ids[:kept], *again.order_ids],
        trace.outcomes[:kept] + again.outcomes,
        reasons,
        again.stopped,
    )


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
