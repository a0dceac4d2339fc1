"""Outgoing things (issue 13 section 4): written with the change they tell about, sent by a
worker with a lane per receiver, each try recorded.

- `OutgoingQueue` writes the rows, in the caller's transaction: the customer's shipping notice
  (R14) and the `delivery.reported` / `order.shipped` webhooks at report-in, `order.packed`
  when the bench closes an order packed — only the kinds a sender is configured for.
- `OutgoingWorker` runs one lane — a thread, started by the station like a printer's worker —
  per kind (`Senders`: kind → sender; the invoice record's accounting send registers its own),
  so a slow or failing receiver holds up only its own rows. A lane claims its kind's due rows
  (`sending`, committed, before anything goes), hands each to the kind's sender and records
  the try: sent, or failed with its reason and a jittered back-off, or `failed` for good after
  `max_attempts` tries, left for a person on the Tools page.

At least once, with one id: a row the station was sending when it was killed goes again at the
next start (`release_interrupted`) with the same event id — the mail's Message-ID, the
webhook's event id — so the receiver can drop the repeat. Never a second id for one event.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from stationd.clock import utcnow
from stationd.core.orders import OrderStatus
from stationd.core.outgoing import (
    INVOICE_KIND,
    NOTICE_KIND,
    WEBHOOK_KIND,
    events_at_report_in,
    events_when_packed,
    gives_up,
    retry_delay_s,
    webhook_body,
)
from stationd.core.shipping_notice import NoticeLine, shipping_notice
from stationd.core.text import sentence
from stationd.store import outgoing as rows
from stationd.store.availability import DatabaseAvailability
from stationd.store.commit_hooks import AfterCommit
from stationd.store.database import Store
from stationd.store.deliveries import pending_parcel_ids
from stationd.store.invoices import invoice_reference
from stationd.store.outgoing import OutgoingItem

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from stationd.config.outgoing import OutgoingSettings
    from stationd.core.deliveries import Delivery
    from stationd.core.orders import Order

log = logging.getLogger(__name__)

#: Why a row is sent again after the station stopped while sending it.
INTERRUPTED = sentence("The station stopped while sending this; it is sent again with the same id.")
#: How often the worker looks at the table when nothing woke it (rows written by another
#: station on the same central database, a person's resend from another process).
IDLE_RECHECK_S = 2.0


class SendFailed(Exception):
    """A try that did not reach its receiver, or that the receiver refused; `reason` is kept
    on the row (never a credential) — a core sentence, so the Tools page says it in the
    reader's language. `wait_s`: how long the receiver asked the station to wait before the
    next try (Retry-After), else 0. `final`: another try can't help (the receiver can't do
    it at all): the row is `failed` for a person at once."""

    def __init__(self, reason: str, wait_s: float = 0.0, *, final: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait_s = wait_s
        self.final = final


class Sender(Protocol):
    """Sends one kind of outgoing row. Raises `SendFailed` with the reason when it could not;
    returns when the receiver took it."""

    def send(self, item: OutgoingItem) -> None: ...


class Senders:
    """The registry: which sender sends which kind."""

    def __init__(self) -> None:
        self._by_kind: dict[str, Sender] = {}

    def register(self, kind: str, sender: Sender) -> None:
        """Have `sender` send the rows of `kind` (one sender a kind)."""
        if kind in self._by_kind:
            raise ValueError(f"outgoing kind {kind!r} has a sender already")
        self._by_kind[kind] = sender

    def get(self, kind: str) -> Sender | None:
        return self._by_kind.get(kind)

    def __contains__(self, kind: object) -> bool:
        return kind in self._by_kind

    @property
    def kinds(self) -> list[str]:
        return sorted(self._by_kind)

    def close(self) -> None:
        """Close the senders that hold connections."""
        for sender in self._by_kind.values():
            close = getattr(sender, "close", None)
            if close is not None:
                close()


@dataclass(frozen=True)
class Backoff:
    """`[outgoing]`: the wait after a failed try and when to give up."""

    first_s: float = 10.0
    max_s: float = 3600.0
    max_attempts: int = 12

    @classmethod
    def from_settings(cls, settings: OutgoingSettings) -> Backoff:
        return cls(settings.first_backoff_s, settings.max_backoff_s, settings.max_attempts)


class OutgoingQueue:
    """Writes a change's outgoing rows in the change's own transaction."""

    def __init__(self, store: Store, senders: Senders, *, tracking_url: str = "") -> None:
        self.senders = senders
        self.tracking_url = tracking_url
        #: Called after a commit that wrote rows (the station wakes the worker).
        self.wake: Callable[[], None] = lambda: None
        self._after_commit = AfterCommit(store.engine, lambda _noted: self.wake())

    def at_report_in(self, conn: Connection, order: Order, delivery: Delivery) -> list[str]:
        """The rows of a reported delivery (R14, R16): the customer's shipping notice (when
        the order has an e-mail address), the shop's webhooks, and the send of its invoice
        record to the accounting system (written with the delivery, services/report_in.py).
        Returns their event ids."""
        assert delivery.id is not None, "the delivery is saved before its rows are written"
        at = delivery.reported_at or utcnow()
        written = []
        if INVOICE_KIND in self.senders:
            reference = invoice_reference(conn, delivery.id)
            if reference is not None:
                written.append(
                    self.add(
                        conn, INVOICE_KIND, {"reference": reference}, at=at,
                        order_id=order.id, delivery_id=delivery.id,
                    )
                )  # fmt: skip
        if NOTICE_KIND in self.senders:
            to = rows.customer_email(conn, order.id)
            if to:
                by_id = {line.id: line for line in order.lines}
                notice = shipping_notice(
                    order_id=order.id,
                    delivery_id=delivery.id,
                    to=to,
                    customer_name=order.customer_name,
                    country=order.country,
                    parcel_ids=tuple(delivery.parcel_ids),
                    delivered=tuple(
                        NoticeLine(by_id[line_id].name, qty)
                        for line_id, qty in delivery.quantities.items()
                        if line_id in by_id
                    ),
                    later=tuple(NoticeLine(line.name, line.undelivered) for line in order.lines),
                    tracking_url=self.tracking_url,
                )
                written.append(
                    self.add(
                        conn, NOTICE_KIND, notice.data(), at=at, order_id=order.id,
                        delivery_id=delivery.id,
                    )
                )  # fmt: skip
        written += self._webhooks(
            conn,
            # R15 decided it in this transaction: the delivery that completed the order.
            events_at_report_in(order_shipped=order.status is OrderStatus.SHIPPED),
            at,
            order_id=order.id,
            delivery_id=delivery.id,
            parcel_ids=tuple(delivery.parcel_ids),
        )
        return written

    def add(
        self,
        conn: Connection,
        kind: str,
        payload: dict,
        *,
        at: datetime,
        order_id: int | None = None,
        delivery_id: int | None = None,
        event_id: str | None = None,
    ) -> str:
        """Write one row of `kind` in the caller's transaction (the worker wakes after its
        commit); its event id. The way in for a kind of its own (the invoice record's send):
        write it here, register its sender in `Senders`."""
        written = rows.add(
            conn, kind, payload, at=at, order_id=order_id, delivery_id=delivery_id,
            event_id=event_id,
        )  # fmt: skip
        self._after_commit.note(conn, "outgoing")
        return written

    def when_packed(self, conn: Connection, order_id: int) -> list[str]:
        """The rows of an order the bench closed packed: `order.packed` with the parcel ids
        kept for its next delivery so far."""
        if WEBHOOK_KIND not in self.senders:
            return []
        parcels = tuple(pending_parcel_ids(conn, [order_id])[order_id])
        return self._webhooks(
            conn, events_when_packed(), utcnow(), order_id=order_id, parcel_ids=parcels
        )

    def _webhooks(
        self,
        conn: Connection,
        events: Iterable,
        at: datetime,
        *,
        order_id: int,
        parcel_ids: tuple[str, ...],
        delivery_id: int | None = None,
    ) -> list[str]:
        if WEBHOOK_KIND not in self.senders:
            return []
        written = []
        for event in events:
            event_id = rows.new_event_id()
            body = webhook_body(
                event,
                event_id,
                at,
                order_id=order_id,
                delivery_id=delivery_id,
                parcel_ids=parcel_ids,
            )
            written.append(
                self.add(
                    conn,
                    WEBHOOK_KIND,
                    body,
                    at=at,
                    order_id=order_id,
                    delivery_id=delivery_id,
                    event_id=event_id,
                )
            )
        return written


@dataclass
class _Lane:
    """One receiver's share of the worker: its thread, its wake-up and the tries of its kind
    whose record did not commit yet."""

    kind: str
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    #: Whether this lane's rows a stop left `sending` were put back since it (re)started.
    released: bool = False
    #: Tries whose record did not commit (the database went away): recorded first.
    unrecorded: list[tuple[OutgoingItem, str | None, float, bool]] = field(default_factory=list)


class OutgoingWorker:
    """Sends the due outgoing rows, one lane (thread) per kind; `start()` / `stop()` /
    `notify()`, or `step()` to send what is due now in the caller's thread.

    A lane per kind because each kind has its own receiver: a Fiken that stalls (its timeout,
    the adapter's look-up and pause before the next try) holds up only the invoice rows, never
    the customer's notice nor the shop's webhooks. Within a lane rows go one at a time, oldest
    due first (Fiken allows one request at a time)."""

    def __init__(
        self,
        store: Store,
        senders: Senders,
        station: str,
        *,
        backoff: Backoff | None = None,
        availability: DatabaseAvailability | None = None,
        idle_recheck_s: float = IDLE_RECHECK_S,
        spread: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.senders = senders
        self.station = station
        self.backoff = backoff or Backoff()
        self.availability = availability or DatabaseAvailability()
        self.idle_recheck_s = idle_recheck_s
        self.spread = spread
        self._stopping = threading.Event()
        self._lanes: dict[str, _Lane] = {}
        self._running = False

    def start(self) -> None:
        if self._running or not self.senders.kinds:
            return
        self._stopping.clear()
        self._running = True
        for lane in self._all_lanes():
            lane.thread = threading.Thread(
                target=self._run, args=(lane,), name=f"outgoing-{lane.kind}", daemon=True
            )
            lane.thread.start()

    def stop(self, timeout_s: float = 10) -> None:
        self._stopping.set()
        self.notify()
        # One deadline for all lanes: a stop waits for the slowest send, not their sum.
        deadline = time.monotonic() + timeout_s
        for lane in list(self._lanes.values()):
            if lane.thread is not None:
                lane.thread.join(timeout=max(0.0, deadline - time.monotonic()))
                lane.thread = None
        self._running = False
        self.senders.close()

    def notify(self) -> None:
        """New rows are committed (or a person asked for a resend): look now."""
        for lane in list(self._lanes.values()):
            lane.wake.set()

    def step(self) -> float:
        """Send what is due now, kind after kind, in the caller's thread; return how long to
        wait before looking again (0: at once)."""
        return min((self._step(lane) for lane in self._all_lanes()), default=self.idle_recheck_s)

    def _all_lanes(self) -> list[_Lane]:
        for kind in self.senders.kinds:
            self._lanes.setdefault(kind, _Lane(kind))
        return list(self._lanes.values())

    def _run(self, lane: _Lane) -> None:
        log.info("outgoing: %s lane started", lane.kind)
        while not self._stopping.is_set():
            lane.wake.clear()
            try:
                pause = self._step(lane)
            except Exception as err:
                if not self.availability.lost(err, f"outgoing {lane.kind}"):
                    log.exception("outgoing: a %s step failed", lane.kind)
                # Rows this step claimed and never tried are this station's `sending` ones
                # of this kind: the next step puts them back, as a start does.
                lane.released = False
                pause = 1.0
            if pause > 0 and not self._stopping.is_set():
                lane.wake.wait(pause)
        log.info("outgoing: %s lane stopped", lane.kind)

    def _step(self, lane: _Lane) -> float:
        kinds = [lane.kind]
        if not lane.released:
            # This kind only: the other lanes' `sending` rows are being sent right now.
            with self.store.write() as conn:
                again = rows.release_interrupted(
                    conn, self.station, utcnow(), INTERRUPTED, kinds=kinds
                )
            if again:
                log.warning(
                    "outgoing: %d %s send(s) cut off by the last stop go again", again, lane.kind
                )
            lane.released = True
        while lane.unrecorded:
            item, reason, wait_s, final = lane.unrecorded[0]
            self._record(item, reason, wait_s=wait_s, final=final)
            lane.unrecorded.pop(0)
        pause = self._until_due(kinds)
        if pause > 0:
            return pause
        with self.store.write() as conn:
            due = rows.claim_due(conn, self.station, utcnow(), kinds=kinds)
        for item in due:
            if self._stopping.is_set():
                # Claimed and not tried: back to pending, for this or the next start.
                self._record(item, None, retry_now=True)
                continue
            self._send(lane, item)
        return 0.0 if due else self._until_due(kinds)

    def _until_due(self, kinds: list[str]) -> float:
        # Read first: a lane that looks and finds nothing takes no write lock (on SQLite the
        # one the bench's scans wait for), however many lanes poll.
        with self.store.read() as conn:
            next_at = rows.next_due_at(conn, kinds)
        if next_at is None:
            return self.idle_recheck_s
        return max(0.0, min(self.idle_recheck_s, (next_at - utcnow()).total_seconds()))

    def _send(self, lane: _Lane, item: OutgoingItem) -> None:
        sender = self.senders.get(item.kind)
        assert sender is not None, "only registered kinds are claimed"
        reason: str | None = None
        wait_s = 0.0
        final = False
        try:
            sender.send(item)
        except SendFailed as err:
            log.warning("outgoing: %s %s failed: %s", item.kind, item.event_id, err)
            reason, wait_s, final = err.reason or type(err).__name__, err.wait_s, err.final
        except Exception as err:  # a sender's bug must not stop the others
            log.exception("outgoing: %s %s: the sender failed", item.kind, item.event_id)
            reason = sentence(
                "The station's sender failed: {error}", error=f"{type(err).__name__}: {err}"
            )
        else:
            log.info("outgoing: %s %s sent", item.kind, item.event_id)
        try:
            self._record(item, reason, wait_s=wait_s, final=final)
        except Exception:
            # Kept until the database takes it; a stop meanwhile leaves the row `sending`,
            # and the next start sends it again with the same id.
            lane.unrecorded.append((item, reason, wait_s, final))
            raise

    def _record(
        self,
        item: OutgoingItem,
        reason: str | None,
        *,
        retry_now: bool = False,
        wait_s: float = 0.0,
        final: bool = False,
    ) -> None:
        now = utcnow()
        with self.store.write() as conn:
            if reason is None and not retry_now:
                rows.mark_sent(conn, item.id, self.station, now)
                return
            if retry_now:
                rows.release_one(conn, item.id, now)
                return
            tries = item.attempts + 1
            if final or gives_up(tries, self.backoff.max_attempts):
                next_at = None
            else:
                wait = retry_delay_s(
                    tries, self.spread(), first_s=self.backoff.first_s, max_s=self.backoff.max_s
                )
                next_at = now + timedelta(seconds=max(wait, wait_s))
            rows.mark_failed(
                conn, item.id, self.station, now, reason or "", next_attempt_at=next_at
            )


def resend(store: Store, event_id: str, station: str, worker: OutgoingWorker | None) -> bool:
    """A person's "Send again" on the Tools page: a failed or sent row goes again, with its
    own event id (the receiver may drop it as a repeat). False: no such row, or it is pending
    or being sent already."""
    with store.write() as conn:
        done = rows.resend(conn, event_id, station, utcnow())
    if done and worker is not None:
        worker.notify()
    return done
