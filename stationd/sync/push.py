"""The push (docs/sync.md "Ops out"): the station's unsent audit events to central, in order.

A round reads a batch of the outbox in `id` order and sends it over one connection, for at most
`timeout_s`. Each op is applied atomically with its inbox row; `group` consecutive ops share one
central transaction (store.central_op_groups.apply_group; group=1: a transaction per op). Central's
answers go back on the event rows in one local transaction. A refusal is an answer like any
other: it is stored with its reason and the queue goes on. Only a network or server error stops
a round; the worker then tries again after a jittered back-off that grows while the error
lasts. An op whose answer was lost (the connection cut after central committed, the station
killed before it wrote the answer) is sent again and gets central's stored answer: each op
counts once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from stationd import switching
from stationd.clock import utcnow
from stationd.core.sync_ops import REFUSED, Op
from stationd.store.audit import payload_of
from stationd.store.central_link import central_engine, guarded_connection
from stationd.store.central_op_groups import apply_group
from stationd.store.central_ops import OpOutcome
from stationd.store.database import Store
from stationd.store.outbox import (
    Answer,
    OutboxRow,
    backlog,
    start_pushing,
    unsent,
    write_answers,
    write_notes,
)
from stationd.store.unavailable import database_unavailable, first_line

log = logging.getLogger(__name__)

#: Ops a round reads from the outbox at most.
BATCH = 200
#: Consecutive ops applied in one central transaction at most (store.central_op_groups.apply_group):
#: each op stays atomic with its inbox row; the commit's fsync is shared. 1: one op each.
GROUP = 20
#: The longest wait between tries while central stays away, s. Short enough that a bench whose
#: network came back without the pull or the claims noticing first (they wake the push:
#: `PushWorker.central_answers`) sends its backlog within seconds, not a minute; long enough
#: that a try costs central nothing (a refused connect). Was 60 s: a run of
#: bench/sync_chaos.py waited that out after its faults ended.
MAX_BACKOFF_S = 15.0


@dataclass(frozen=True, slots=True)
class PushRound:
    """What one round sent: ops answered, of them refused and answered before (duplicates)."""

    sent: int = 0
    refused: int = 0
    duplicates: int = 0
    left: bool = False  # more ops waited than this round sent


@dataclass(frozen=True, slots=True)
class PushState:
    """The push as a person sees it: since when central has not answered (None: it answers),
    how many changes wait, and the last error."""

    offline_since: datetime | None
    waiting: int
    last_error: str | None


def as_op(row: OutboxRow) -> Op:
    """An outbox row as the op central decides on."""
    return Op(row.key, row.station, row.kind, row.order_id, row.epoch, payload_of(row.payload))


class Pusher:
    """Sends the outbox of `store` to the central database at `central_url`."""

    def __init__(
        self,
        store: Store,
        central_url: str,
        *,
        timeout_s: float = 5.0,
        batch: int = BATCH,
        group: int = GROUP,
    ) -> None:
        self.store = store
        # No pool pre-ping: it would wait unguarded on a stalled pooled connection
        # (`_connected` pings under the round's guard).
        self.central = central_engine(central_url, timeout_s=timeout_s, pool_size=2)
        self.timeout_s = timeout_s
        self.batch = batch
        self.group = max(1, group)
        self._started = False

    def push_round(self) -> PushRound:
        """Send one batch; raises on a network or server error (the answers got so far are
        written first, so nothing central answered is sent again needlessly)."""
        self.begin()
        with self.store.read() as conn:
            rows = unsent(conn, limit=self.batch)
        if not rows:
            return PushRound()
        answers: list[OpOutcome] = []
        deadline = time.monotonic() + self.timeout_s
        try:
            with self._connected() as conn:
                for start in range(0, len(rows), self.group):
                    group = rows[start : start + self.group]
                    answers += apply_group(conn, [(as_op(row), row.at) for row in group])
                    if time.monotonic() > deadline:
                        break
        finally:
            if answers:
                self._write(answers)
        return PushRound(
            sent=len(answers),
            refused=sum(a.outcome == REFUSED for a in answers),
            duplicates=sum(a.duplicate for a in answers),
            left=len(answers) < len(rows) or len(rows) == self.batch,
        )

    def _connected(self) -> AbstractContextManager[Connection]:
        # A link that stalls (open, no answer, no reset) is cut when a statement has had no
        # answer for 2 × `timeout_s` — central's own statement timeout answers a slow one
        # before. The ping is the pool's pre-ping, under the guard.
        return guarded_connection(self.central, 2 * self.timeout_s)

    def begin(self) -> None:
        """Note, at this station's first push, where the push starts: a bench's history from
        before sync stays home (store.outbox.start_pushing). Local only; once."""
        if not self._started:
            with self.store.write() as conn:
                start_pushing(conn)
            self._started = True

    def _write(self, answers: list[OpOutcome]) -> None:
        at = utcnow()
        # Behind the packer's writes (background), and no wait for the disk: an answer lost
        # in a power cut is asked again and central gives its stored one (the key).
        with self.store.write(durable=False, background=True) as conn:
            write_answers(conn, (Answer(a.key, a.outcome, a.reason) for a in answers), at=at)
            write_notes(conn, {"last_ok_at": at.isoformat()})

    def push_all(self, *, max_rounds: int = 1_000_000) -> PushRound:
        """Rounds until the outbox is empty (or an error raises); the totals."""
        sent = refused = duplicates = 0
        for _ in range(max_rounds):
            done = self.push_round()
            sent, refused = sent + done.sent, refused + done.refused
            duplicates += done.duplicates
            if not done.left:
                return PushRound(sent, refused, duplicates)
        return PushRound(sent, refused, duplicates, left=True)

    def note_error(self, err: BaseException) -> None:
        """Keep the error for `stationd sync status` (best effort: the local store may be what
        failed)."""
        try:
            with self.store.write() as conn:
                write_notes(
                    conn, {"last_error": first_line(err), "last_error_at": utcnow().isoformat()}
                )
        except Exception:
            log.debug("the push's error could not be noted", exc_info=True)

    def dispose(self) -> None:
        self.central.dispose()


def backoff_s(failures: int, base_s: float, *, rng: random.Random | None = None) -> float:
    """The wait before the next try after `failures` in a row: doubling from `base_s` up to
    `MAX_BACKOFF_S`, each drawn at random from half to all of it, so that benches cut off
    together do not all come back at the same instant."""
    top = max(base_s, min(MAX_BACKOFF_S, base_s * 2 ** max(0, failures - 1)))
    return (rng or random).uniform(top / 2, top)


class PushWorker:
    """A thread that pushes whenever there is something to push: every `interval_s`, at once
    when woken (`stationd sync now`, a new event), and after a back-off while central is away —
    cut short when another part of sync hears central answer (`central_answers`)."""

    def __init__(self, pusher: Pusher, *, interval_s: float = 1.0) -> None:
        self.pusher = pusher
        self.interval_s = interval_s
        self.failures = 0
        self.last_error: str | None = None
        self.offline_since: datetime | None = None
        #: Called after a round that central answered (sync.answers: the pull and the claims
        #: are told); None: nobody listens.
        self.on_answer: Callable[[], None] | None = None
        self._answered = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Note where the push starts (before the bench writes anything new), then push in a
        thread of its own."""
        if self._thread is not None:
            return
        self.pusher.begin()
        self._stop.clear()
        switching.hold()  # the bench's threads get the interpreter back at once
        self._thread = threading.Thread(target=self._run, name="sync-push", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def central_answers(self) -> None:
        """Central just answered another part of sync (the pull, the claims' keep-alive): if
        the push is backing off, it tries at once, and a try that still fails starts the
        back-off anew (central was there a moment ago). Cheap when the push is fine."""
        if self.failures:
            self._answered.set()
            self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.pusher.timeout_s + 5)
            self._thread = None
            switching.let_go()
        self.pusher.dispose()

    def waiting(self) -> int:
        """Ops not yet answered by central."""
        with self.pusher.store.read() as conn:
            return backlog(conn).count

    def state(self) -> PushState:
        """What the kiosk shows: offline since when (None: central answers), the changes
        waiting, the last error."""
        return PushState(self.offline_since, self.waiting(), self.last_error)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait_s = self.interval_s
            try:
                done = self.pusher.push_round()
                if self.failures:
                    log.info("central answers again: the push goes on")
                self.failures, self.last_error, self.offline_since = 0, None, None
                self._answered.clear()
                if done.left:
                    wait_s = 0
                if done.sent and self.on_answer is not None:
                    self.on_answer()
            except Exception as err:
                unreachable = database_unavailable(err)
                if not unreachable:
                    log.exception("push failed")
                elif not self.failures:
                    log.warning("central can't be reached: %s", first_line(err))
                if self._answered.is_set():
                    self._answered.clear()
                    if unreachable:  # a new outage (central answered since): no long wait
                        self.failures = 0
                self.failures += 1
                self.last_error = first_line(err)
                self.offline_since = self.offline_since or utcnow()
                self.pusher.note_error(err)
                wait_s = backoff_s(self.failures, self.interval_s)
            if wait_s and self._wake.wait(wait_s):
                self._wake.clear()


__all__ = [
    "BATCH",
    "GROUP",
    "PushRound",
    "PushState",
    "PushWorker",
    "Pusher",
    "as_op",
    "backoff_s",
]
