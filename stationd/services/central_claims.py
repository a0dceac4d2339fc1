"""R17 for a synced bench (docs/sync.md): claims made at central, with fencing epochs, and a
bench that keeps packing the orders it holds when central is out of reach.

`CentralClaims` is the bench's `services.claims.Claims`. Opening an order claims it at central
in one round trip (`store.central_claims.claim`): won, or refused with the bench that holds it.
With central out of reach the bench opens only orders it already holds — claimed ahead — and
says so otherwise. The claims it holds are kept in its own `order_claims`, so each audit event
it writes for such an order carries the claim's epoch (`store.audit`), and central refuses the
ops of a claim that was taken over.

The keep-alive (`keep_alive`, every `interval_s` on a thread of its own; in
`services.central_claims_keep_alive`) renews the leases of the open order and of the orders
claimed ahead in queue order, tops those up, and releases at central what the bench no longer
wants once central has every op written under it. Between its
passes, each open the packer makes tops the queue ahead up at once in the background
(`top_up`: one statement at central claims what is missing), so that the packer's next open
finds its order held and asks no one. How many are held ahead follows the bench's pace
(`ahead_wanted`): at least `claim_ahead`, more while the packer opens orders quickly.
A claim found taken over (a lease that ran out while the bench was cut off, an admin's
take-over) is dropped, the bench's open order closed, and the packer told plainly.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from stationd.core.claims_ahead import AHEAD_COVERS_S, MAX_AHEAD, PACE_WINDOW_S, ahead_wanted
from stationd.core.sync_ops import status_word
from stationd.core.text import Text, sentence
from stationd.services.central_claims_keep_alive import KeepAlivePasses, taken_over
from stationd.store import central_claims
from stationd.store.central_link import CentralAway, CentralLink
from stationd.store.claims import (
    held_claims,
    held_epoch,
    keep_claims,
    open_order_of,
    packing_among,
)
from stationd.store.database import Store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from stationd.config import Settings

log = logging.getLogger(__name__)

#: The keep-alive's period at most (seconds); a shorter lease renews three times per lease.
KEEP_ALIVE_MAX_S = 10.0
#: While central is known to be away, how long an order's open waits for it (seconds): the
#: scan's local transaction waits meanwhile, and an offline bench must open what it holds at
#: once. The keep-alive, every `AWAY_RETRY_S`, notices central's return.
AWAY_WAIT_S = 0.3
#: An order this bench holds opens without asking central while more than this share of its
#: lease is surely left (counted from before central was asked, by this bench's monotonic
#: clock): the keep-alive renews a wanted claim every `interval_s`, so a claim held ahead
#: opens at once — the claim-ahead's point — and one central lost track of is asked again.
FRESH_SHARE = 0.5


def offline_refusal(order_id: int, held: list[int]) -> Text:
    """Why a bench cut off from central can't open `order_id`: it only holds `held`."""
    if not held:
        return sentence(
            "Central is out of reach and this bench holds no orders, so it can't open order "
            "{order} now. Try again when central answers.",
            order=order_id,
        )
    return sentence(
        "Central is out of reach, so this bench can open only the orders it holds: {orders}. "
        "Order {order} must wait until central answers.",
        orders=", ".join(str(held_id) for held_id in held),
        order=order_id,
    )


def not_packing_at_central(order_id: int, status: str) -> Text:
    """Why a bench can't open `order_id`: central has it in `status`, not in packing (it was
    cancelled or shipped there; the bench's copy hears of it with the next pull)."""
    return sentence(
        "Order {order} is {status} at central, not packing, so it can't be packed here. Set "
        "its pick list aside.",
        order=order_id,
        status=status_word(status),
    )


class CentralClaims(KeepAlivePasses):
    """`services.claims.Claims` at central for the bench of `station`, its copy `store`."""

    def __init__(
        self,
        link: CentralLink,
        store: Store,
        station: str,
        *,
        lease_s: float = 300,
        claim_ahead: int = 3,
        on_lost: Callable[[int, Text], None] | None = None,
    ) -> None:
        self.link = link
        self.store = store
        self.station = station
        self.lease_s = lease_s
        self.claim_ahead = claim_ahead
        #: Told (order, the sentence for the packer) when a claim of this bench's was taken.
        self.on_lost = on_lost
        self.interval_s = min(KEEP_ALIVE_MAX_S, lease_s / 3)
        #: Claims won at central whose bench transaction may not have committed yet: order →
        #: (claim, monotonic time won).
        self._pending: dict[int, tuple[central_claims.Claim, float]] = {}
        #: Orders the bench closed: released at central once their ops are there.
        self._closed: set[int] = set()
        #: Claims central gave or renewed: order → (epoch, monotonic time before central was
        #: asked — the lease runs at least `lease_s` from then).
        self._fresh: dict[int, tuple[int, float]] = {}
        self._lock = threading.Lock()
        #: Orders the packer opened since the keep-alive's pass read the copy: that pass's
        #: snapshot does not know them, so it must not release them.
        self._opened: set[int] = set()
        #: Orders whose release at central is in flight; an open of one waits for it to end
        #: and then claims anew (a fresh epoch), never under the claim being released.
        self._releasing: set[int] = set()
        self._released = threading.Condition(self._lock)
        #: Why central was last out of reach (None: it answered last time).
        self.away: str | None = None
        #: Called whenever central answered a claim or a keep-alive (sync.answers: the push
        #: and the pull are told); None: nobody listens.
        self.on_answer: Callable[[], None] | None = None
        #: Monotonic times of the packer's recent opens: the bench's pace (`ahead_wanted`).
        self._opens: deque[float] = deque(
            maxlen=math.ceil(MAX_AHEAD * PACE_WINDOW_S / AHEAD_COVERS_S)
        )
        #: The monotonic time the last full keep-alive pass began (None: none yet).
        self._last_pass: float | None = None
        #: Set by an open: the thread tops the queue ahead up (`top_up`) if no pass is due.
        self._refill = threading.Event()
        #: Set by what needs a full pass now (a close, central's return).
        self._full = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the Claims protocol (inside the bench's scan transaction) --------------------------
    def holder(self, conn: Connection, order_id: int, *, besides: str) -> str | None:
        """Claim `order_id` at central for `besides` (this bench): None when won, else the
        bench holding it — or, central out of reach, a sentence unless this bench holds it.
        An order this bench holds with most of its lease left (claimed ahead, renewed by the
        keep-alive) opens without asking central: the copy holds its claim already."""
        if besides == self.station:
            self._not_while_released(order_id)
            if self._fresh_here(conn, order_id):
                self._opening()
                return None
        asked = time.monotonic()
        try:
            answer = self.link.run(
                lambda central: central_claims.claim(
                    central, order_id, besides, lease_s=self.lease_s
                ),
                autocommit=True,  # one statement (see store.central_claims.claim)
                timeout_s=AWAY_WAIT_S if self.away is not None else None,
            )
        except CentralAway as err:
            self._went_away(err)
            held = sorted(held_claims(conn, besides))
            return None if order_id in held else offline_refusal(order_id, held)
        self._answered()
        if answer.not_packing:
            return not_packing_at_central(order_id, answer.status)  # type: ignore[arg-type]
        if answer.claim is None:
            return sentence(
                "Order {order} is not in the central database, so it can't be packed now.",
                order=order_id,
            )
        if not answer.won:
            return answer.claim.station or taken_over(order_id, central_claims.NOBODY)
        with self._lock:
            self._pending[order_id] = (answer.claim, time.monotonic())
            self._closed.discard(order_id)
            self._fresh[order_id] = (answer.claim.epoch, asked)
        self._opening()
        return None

    def _opening(self) -> None:
        """The packer opens an order: noted for the pace, and the queue ahead topped up."""
        with self._lock:  # (the keep-alive's thread reads them)
            self._opens.append(time.monotonic())
        if self.claim_ahead:
            self._refill.set()
            self._wake.set()

    def ahead_wanted(self) -> int:
        """How many orders the bench holds ahead now (`core.claims_ahead.ahead_wanted`)."""
        with self._lock:
            opens = list(self._opens)
        return ahead_wanted(self.claim_ahead, opens, time.monotonic())

    def _not_while_released(self, order_id: int) -> None:
        """Note that the packer opens `order_id` (the keep-alive's pass in flight keeps it);
        if its release at central is in flight already, wait until it is done: the claim then
        is gone at central and the open claims anew. Ops written under the claim being
        released would be refused ("released before this change reached central"), and the
        bench would go on packing the order without any claim (issue 11's "duplicated: 1")."""
        with self._released:
            self._opened.add(order_id)
            self._released.notify_all()  # the state changed: whoever waits on it looks again
            if not self._released.wait_for(
                lambda: order_id not in self._releasing, timeout=self.link.timeout_s * 3
            ):
                self._fresh.pop(order_id, None)  # still in flight: ask central, not the copy

    def _fresh_here(self, conn: Connection, order_id: int) -> bool:
        with self._lock:
            fresh = self._fresh.get(order_id)
        if fresh is None or time.monotonic() - fresh[1] > self.lease_s * (1 - FRESH_SHARE):
            return False
        # the copy's claim is the one central gave (not dropped as taken over meanwhile)
        return held_epoch(conn, self.station, order_id) == fresh[0]

    def claim(self, conn: Connection, order_id: int, station: str) -> None:
        """The bench opened `order_id`: the claim won for it goes into the copy (opened
        offline, the copy has it already)."""
        with self._lock:
            won = self._pending.get(order_id)
            self._closed.discard(order_id)
        if won is not None:
            keep_claims(conn, station, [(order_id, won[0].epoch, won[0].lease_until)])

    def renew(self, conn: Connection, station: str) -> None:
        """Nothing per scan: the keep-alive renews the claims the bench holds."""

    def release(self, conn: Connection, station: str) -> None:
        """The bench closes its order: released at central by the keep-alive, once central
        has every op the bench wrote under the claim (woken now to see to it)."""
        order_id = open_order_of(conn, station)
        if order_id is not None:
            with self._lock:
                self._closed.add(order_id)
            self._full.set()
            self._wake.set()

    def top_up(self) -> list[int]:
        """Between passes: claim at central, in one statement, what the queue ahead lacks of
        `ahead_wanted` (the oldest free packing orders); the orders claimed. Nothing is
        renewed or released here (the pass does), and central out of reach claims nothing."""
        want = self.ahead_wanted()
        with self.store.read() as conn:
            open_id = open_order_of(conn, self.station)
            local = held_claims(conn, self.station)
            # central claims ahead only orders packing there; right after its pack script
            # moved them the copy may still have them as 'order': they count (counting only
            # what the copy has as packing, each open's top-up claimed `want` more), what the
            # bench shipped and the pass has not released yet does not
            ahead = packing_among(conn, set(local), or_not_yet=True)
        with self._lock:
            closed = set(self._closed) | self._opened
            skip = set(local) | set(self._pending)
        more = want - len(ahead - closed - {open_id})
        if more <= 0:
            return []
        asked = time.monotonic()
        try:
            claimed = self.link.run(
                lambda central: central_claims.claim_ahead(
                    central, self.station, more, lease_s=self.lease_s, skip=skip
                ),
                autocommit=True,  # one statement
            )
        except CentralAway as err:
            self._went_away(err)
            return []
        self._answered()
        if claimed:
            with self.store.write(durable=False, background=True) as conn:
                keep_claims(
                    conn, self.station, [(c.order_id, c.epoch, c.lease_until) for c in claimed]
                )
            with self._lock:
                for c in claimed:
                    self._fresh[c.order_id] = (c.epoch, asked)
        return [c.order_id for c in claimed]

    def held(self) -> dict[int, int]:
        """The orders this bench holds, as its copy says → their epochs (`sync status`)."""
        with self.store.read() as conn:
            return held_claims(conn, self.station)

    def central_answers(self) -> None:
        """Central just answered another part of sync: a keep-alive waiting out an outage
        runs now (renewing what the bench holds, opens wait the full timeout again)."""
        if self.away is not None:
            self._full.set()
            self._wake.set()

    def _answered(self) -> None:
        self.away = None
        if self.on_answer is not None:
            self.on_answer()

    def _went_away(self, err: CentralAway) -> None:
        if self.away is None:
            log.warning("central out of reach for claims: %s", err)
        self.away = str(err) or "central did not answer"


def central_claims_for(settings: Settings, store: Store) -> CentralClaims | None:
    """The bench's claims at central when `[sync] central_url` is set (the lease is
    `[database] claim_lease_s`); None on a single bench, which keeps `LocalClaims`."""
    sync = settings.sync
    if not sync.central_url:
        return None
    return CentralClaims(
        CentralLink(sync.central_url, timeout_s=sync.timeout_s),
        store,
        settings.station.name,
        lease_s=settings.database.claim_lease_s,
        claim_ahead=sync.claim_ahead,
    )


__all__ = [
    "CentralClaims",
    "central_claims_for",
    "not_packing_at_central",
    "offline_refusal",
]
