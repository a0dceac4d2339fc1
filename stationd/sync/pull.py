"""Pull (docs/sync.md): the station follows central's change feed into its local copy.

`pull_once` is one pull — the worker, `stationd sync now` and the tests call it. `PullWorker`
is the thread: it LISTENs on a connection of its own (`stationd_changes`, sent by the feed's
triggers at each commit), pulls when woken and every `poll_interval_s` in any case (a NOTIFY
is lost with its connection), and on an error closes its connections and tries again with a
jittered back-off. Its log has one line per change of state (following, central away, back).
"""

from __future__ import annotations

import fcntl
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from stationd import switching
from stationd.clock import utcnow
from stationd.store import change_feed, local_copy
from stationd.store.central_link import (
    answered_within,
    central_engine,
    guarded_connection,
    open_session,
    session_options,
)
from stationd.store.database import Store
from stationd.store.unavailable import first_line

log = logging.getLogger(__name__)

#: Entities fetched and written per local transaction (a full resync).
BATCH = 2000
#: The same for an incremental pull: its transactions go between the packer's, who waits for
#: one that is under way — a few orders' images, not thousands (bench/sync.py at 8 benches).
STEP = 50
#: The back-off after a failed pull: from FIRST_RETRY_S, doubling, at most MAX_RETRY_S.
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 30.0
#: A read of central's with no answer this long is cut (seconds); central's statement timeout
#: for the pull's reads is half of it, so a slow read is answered (ended) by central first.
STALL_S = 120.0
#: How often a station prunes central's feed (seconds): any may, one suffices.
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class PullResult:
    """What one pull did."""

    full: bool  # a full resync (first pull, another central, or a cursor older than the feed)
    why: str  # why a full resync ("" for an incremental pull)
    written: int  # entities whose images were written (or deleted) in the copy
    skipped: list[int]  # orders left as they are here: this station has ops central may lack
    cursor: int  # the new cursor (central's snapshot xmin)


def pull_once(
    store: Store,
    central: Engine,
    *,
    batch: int = BATCH,
    after_batch: Callable[[int], None] | None = None,
    stall_s: float = STALL_S,
) -> PullResult:
    """One pull: central's changes since the copy's cursor, or everything when the copy
    follows no central, another one, or a cursor older than what the feed keeps.

    Central is read in one REPEATABLE READ snapshot; the copy is written a batch per local
    transaction, and the cursor saved after the last one: a pull that dies half-way is done
    again from the old cursor (writing an image twice changes nothing). `after_batch(n)` is
    called after each batch is committed (a test stops central there).

    A read of central that has no answer for `stall_s` (a stalled link: open, no answer, no
    reset) is cut and the pull fails as any lost connection does; the time the pull spends
    writing its copy between two reads does not count, so a long full resync is not cut.
    """
    with _one_pull_at_a_time(store), guarded_connection(central, stall_s) as conn:
        return _pull(store, conn, batch, after_batch, statement_s=stall_s / 2)


def _pull(
    store: Store,
    central: Connection,
    batch: int,
    after_batch: Callable[[int], None] | None,
    *,
    statement_s: float,
) -> PullResult:
    with store.read() as conn:
        state = local_copy.read_state(conn)
    since = local_copy.unsent_from(store)
    written = 0
    skipped: set[int] = set()
    with change_feed.snapshot(central, timeout_s=statement_s) as snap:
        why = _full_resync_reason(state, snap)
        step = batch if why else min(batch, STEP)
        if state.central is not None and state.central != snap.identifier:
            # A restored central lacks what the old one accepted after its backup: those ops
            # go again (their keys dedupe), and their orders wait for them in this resync.
            again = local_copy.send_again_to_another_central(store)
            log.warning("sync pull: another central; %d accepted changes will be sent again", again)
            since = local_copy.unsent_from(store)
        if why:
            wanted = snap.everything()
        else:
            assert state.cursor is not None
            wanted = snap.changed(state.cursor)
            wanted["order"] = sorted(set(wanted["order"]) | set(state.skipped) | set(state.refused))
        chunks = [
            (kind, wanted[kind][start : start + step])
            for kind in change_feed.KINDS
            for start in range(0, len(wanted[kind]), step)
        ]
        for n, (kind, keys) in enumerate(chunks, 1):
            images = snap.images(kind, keys)
            # An incremental pull saves where it got to with its last batch: one commit.
            last = n == len(chunks) and not why
            reached = local_copy.Reached(snap.identifier, snap.xmin, sorted(skipped), state.refused)
            skipped.update(
                local_copy.write_images(
                    store,
                    images,
                    unsent_from=since,
                    bulk=bool(why),
                    reached=reached if last else None,
                )
            )
            written += len(keys)
            if after_batch is not None:
                after_batch(written)
        if why:
            for kind in change_feed.KINDS:
                kept = local_copy.drop_missing(store, kind, wanted[kind], unsent_from=since)
                skipped.update(kept)
        reached = local_copy.Reached(snap.identifier, snap.xmin, sorted(skipped), state.refused)
        if why:
            local_copy.save_state(store, reached)
        elif not chunks and (snap.xmin != state.cursor or state.skipped or state.last_error):
            # Nothing to write but a cursor that moved: not worth a wait for the disk (lost
            # in a power cut, the next pull reads the same empty window again). An idle
            # central's polls write nothing at all (but clear an error noted before).
            local_copy.save_state(store, reached, durable=False)
        return PullResult(bool(why), why, written, sorted(skipped), snap.xmin)


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@contextmanager
def _one_pull_at_a_time(store: Store) -> Iterator[None]:
    # Two pulls into one copy (the worker and `stationd sync now` in another process) could
    # write an older image after a newer one and then save the newer cursor: the older image
    # would stay. They take turns: a lock in this process, and a file lock beside the copy.
    with _locks_guard:
        in_process = _locks.setdefault(store.url, threading.Lock())
    with in_process:
        database = make_url(store.url).database if store.is_sqlite else None
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.pull-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def pull_now(store: Store, central_url: str, *, timeout_s: float = 5.0) -> PullResult:
    """One pull from the central at `central_url` (`stationd sync now`)."""
    # No pool pre-ping: it would wait unguarded on a stalled link (`pull_once` pings).
    engine = central_engine(central_url, timeout_s=timeout_s, server_timeouts=False)
    try:
        return pull_once(store, engine)
    finally:
        engine.dispose()


def _full_resync_reason(state: local_copy.PullState, snap: change_feed.Snapshot) -> str:
    if state.central is None or state.cursor is None:
        return "first pull"
    if state.central != snap.identifier:
        return f"another central (system identifier {snap.identifier}, was {state.central})"
    if state.cursor <= snap.pruned_through:
        return "the copy is older than central's change feed keeps"
    return ""


class PullWorker:
    """The pull thread: woken by NOTIFY, polling as a fallback, retrying with back-off."""

    def __init__(
        self,
        store: Store,
        central_url: str,
        *,
        poll_interval_s: float = 5.0,
        timeout_s: float = 5.0,
        prune_every_s: float = PRUNE_EVERY_S,
        stall_s: float = STALL_S,
    ) -> None:
        self.store = store
        self.central_url = central_url
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.prune_every_s = prune_every_s
        self.stall_s = stall_s
        # No pool pre-ping: it would wait unguarded on a stalled link (`pull_once` pings).
        self._central = central_engine(central_url, timeout_s=timeout_s, server_timeouts=False)
        self._listener: Any = None
        #: Central is behind a connection pooler: no LISTEN, a pull every `poll_interval_s`.
        self._polling_only = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._answered = False
        self._thread: threading.Thread | None = None
        self._state = ""
        self._pruned_at = 0.0
        #: The last pull's result (None before the first), for status and tests.
        self.last: PullResult | None = None
        #: How many pulls finished; a test waits for it to move.
        self.pulls = 0
        #: When the pull first failed to read central (None: the last pull worked).
        self.away_since: datetime | None = None
        #: Called after each pull that read central (sync.answers: the push and the claims
        #: are told); None: nobody listens.
        self.on_answer: Callable[[], None] | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        switching.hold()  # the bench's threads get the interpreter back at once
        self._thread = threading.Thread(target=self._run, name="sync-pull", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
            switching.let_go()
        self._close()
        self._central.dispose()

    def wake(self) -> None:
        """Pull now (`stationd sync now`)."""
        self._wake.set()

    def central_answers(self) -> None:
        """Central just answered another part of sync: a pull backing off tries at once."""
        if self.away_since is not None:
            self._answered = True
            self._wake.set()

    def _run(self) -> None:
        retry = FIRST_RETRY_S
        while not self._stop.is_set():
            try:
                self._listen()
                self.last = pull_once(self.store, self._central, stall_s=self.stall_s)
                self.pulls += 1
                self.away_since = None
                if self.on_answer is not None:
                    self.on_answer()
                self._prune()
                self._became(
                    "following",
                    "sync pull: following central (%s)",
                    "full resync: " + self.last.why if self.last.full else "changes",
                )
                retry = FIRST_RETRY_S
                self._wait_for_change()
            except Exception as err:
                self._close()
                reason = first_line(err)
                self.away_since = self.away_since or utcnow()
                self._became("away", "sync pull: central can't be read, trying again: %s", reason)
                log.debug("sync pull failed", exc_info=True)
                try:
                    local_copy.save_error(self.store, reason)
                except Exception:
                    log.debug("sync pull: the error could not be kept", exc_info=True)
                # Jittered: benches that lost central together don't come back together. Cut
                # short by `wake` and `central_answers` (then the back-off starts anew).
                if self._wake.wait(retry * random.uniform(0.5, 1.5)):
                    self._wake.clear()
                answered, self._answered = self._answered, False
                retry = FIRST_RETRY_S if answered else min(retry * 2, MAX_RETRY_S)

    def _became(self, state: str, message: str, detail: str) -> None:
        if state != self._state:
            self._state = state
            log.info(message, detail)

    def _listen(self) -> None:
        # LISTEN before the pull: a commit after the pull's snapshot is then always heard.
        if self._listener is not None or self._polling_only:
            return
        import psycopg

        listener, own = open_session(
            lambda **params: psycopg.connect(change_feed.libpq_url(self.central_url), **params),
            {
                "autocommit": True,
                "connect_timeout": max(1, round(self.timeout_s)),
                "tcp_user_timeout": int(self.timeout_s * 1000),
                "keepalives_idle": max(1, round(self.timeout_s)),
                "keepalives_interval": 1,
                "keepalives_count": 3,
                "options": session_options({}),
            },
        )
        if not own:
            # A pooler in transaction mode lends a session per transaction: a LISTEN there
            # would hear nothing (or another client's wake-ups). Polling alone, then.
            listener.close()
            self._polling_only = True
            log.info(
                "sync pull: central is behind a connection pooler (no LISTEN there): "
                "polling every %g s",
                self.poll_interval_s,
            )
            return
        try:
            with answered_within(listener, self.timeout_s):
                listener.execute(f"LISTEN {change_feed.CHANNEL}")
        except BaseException:
            listener.close()
            raise
        self._listener = listener

    def _wait_for_change(self) -> None:
        deadline = time.monotonic() + self.poll_interval_s
        while not self._stop.is_set() and not self._wake.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._listener is None:  # behind a pooler: no NOTIFY comes, the poll's wait
                if self._wake.wait(left):
                    break
                return
            # In short slices, so that `wake()` and `stop()` are heard within one.
            heard = list(self._listener.notifies(timeout=min(left, 0.5), stop_after=1))
            if heard:
                # The rest of a burst (a NOTIFY per commit) is read by this one pull.
                list(self._listener.notifies(timeout=0.0))
                return
        self._wake.clear()

    def _prune(self) -> None:
        if time.monotonic() - self._pruned_at < self.prune_every_s:
            return
        self._pruned_at = time.monotonic()
        with guarded_connection(self._central, self.stall_s) as conn:
            gone = change_feed.prune(conn)
        if gone:
            log.info(
                "sync pull: pruned %d rows older than %s from central's feed",
                gone,
                change_feed.FEED_KEEPS,
            )

    def _close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.close()
            except Exception:
                log.debug("sync pull: closing the LISTEN connection failed", exc_info=True)


__all__ = ["BATCH", "PullResult", "PullWorker", "pull_now", "pull_once"]
