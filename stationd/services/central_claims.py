"""R17 for a synced bench (docs/sync.md): claims made at central, with fencing epochs, and a
bench that keeps packing the orders it holds when central is out of reach.

`CentralClaims` is the bench's `services.claims.Claims`. Opening an order claims it at central
in one round trip (`store.central_claims.claim`): won, or refused with the bench that holds it.
With central out of reach the bench opens only orders it already holds — claimed ahead — and
says so otherwise. The claims it holds are kept in its own `order_claims`, so each audit event
it writes for such an order carries the claim's epoch (`store.audit`), and central refuses the
ops of a claim that was taken over.

The keep-alive (`keep_alive`, every `interval_s` on a thread of its own) renews the leases of
the open order and of `claim_ahead` orders claimed ahead in queue order, tops those up, and
releases at central what the bench no longer wants once central has every op written under it.
A claim found taken over (a lease that ran out while the bench was cut off, an admin's
take-over) is dropped, the bench's open order closed, and the packer told plainly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stationd import switching
from stationd.core.text import Text, sentence
from stationd.store import central_claims
from stationd.store.central_link import CentralAway, CentralLink
from stationd.store.claims import (
    close_taken_order,
    drop_claims,
    drop_released,
    held_claims,
    keep_claims,
    open_order_of,
    packing_among,
    with_unsent_ops,
)
from stationd.store.database import Store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from stationd.config import Settings

log = logging.getLogger(__name__)

#: A claim won at central is counted as wanted this long before the bench's transaction that
#: asked for it must have committed (so the keep-alive never releases it under the bench).
PENDING_S = 30.0
#: The keep-alive's period at most (seconds); a shorter lease renews three times per lease.
KEEP_ALIVE_MAX_S = 10.0
#: While central is known to be away, how long an order's open waits for it (seconds): the
#: scan's local transaction waits meanwhile, and an offline bench must open what it holds at
#: once. The keep-alive, every `AWAY_RETRY_S`, notices central's return.
AWAY_WAIT_S = 0.3
AWAY_RETRY_S = 2.0
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


def taken_over(order_id: int, by: str) -> Text:
    """What the packer is told when a claim of the bench's was taken over."""
    if by == central_claims.NOBODY:
        return sentence(
            "Order {order} was taken over by the admin: stop packing it here and set its "
            "goods aside.",
            order=order_id,
        )
    return sentence(
        "Order {order} was taken over by {bench}: stop packing it here and set its goods aside.",
        order=order_id,
        bench=by,
    )


@dataclass
class KeepAlive:
    """What one keep-alive pass did (None fields: central was out of reach)."""

    renewed: list[int] = field(default_factory=list)
    claimed: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    #: Orders taken over from this bench → who holds them now (NOBODY: the admin freed it).
    lost: dict[int, str] = field(default_factory=dict)
    away: str | None = None


class CentralClaims:
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
        return None

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
        return held_claims(conn, self.station).get(order_id) == fresh[0]

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
            self._wake.set()

    # -- the keep-alive ----------------------------------------------------------------------
    def keep_alive(self) -> KeepAlive:
        """One pass: renew, top up the claims ahead, release, find the claims taken over."""
        with self._lock:
            self._opened.clear()  # before the copy is read: an open after this is noted
        with self.store.read() as conn:
            open_id = open_order_of(conn, self.station)
            local = held_claims(conn, self.station)
        now = time.monotonic()
        with self._lock:
            # a won claim is pending until the copy has it (or it was never used)
            self._pending = {
                order_id: (won, at)
                for order_id, (won, at) in self._pending.items()
                if now - at < PENDING_S and local.get(order_id) != won.epoch
            }
            pending = set(self._pending)
            closed = set(self._closed)
        try:
            held = self.link.run(lambda central: central_claims.held_by(central, self.station))
        except CentralAway as err:
            self._went_away(err)
            return KeepAlive(away=self.away)
        held_ids = {c.order_id for c in held}
        with self.store.read() as conn:
            packing = packing_among(conn, held_ids | set(local))
            unsent = with_unsent_ops(conn, self.station, held_ids | set(local))
        ahead = sorted((held_ids & packing) - closed - {open_id})[: self.claim_ahead]
        wanted = set(ahead) | pending | unsent | ({open_id} if open_id is not None else set())
        with self._lock:
            # what the packer opened since the copy was read is wanted; what it opens from
            # now on waits for the release (`_not_while_released`)
            to_release = held_ids - wanted - self._opened
            self._releasing = set(to_release)
        epoch_at_central = {c.order_id: c.epoch for c in held}
        more = self.claim_ahead - len(ahead)
        lost_ids = set(local) - held_ids

        busy: list[central_claims.Claim] = []

        def at_central(central: Connection) -> tuple[list, list, list, dict]:
            busy.clear()  # (a second try of the link's starts anew)
            renewed = central_claims.renew(
                central, self.station, held_ids & wanted, lease_s=self.lease_s, busy=busy
            )
            released = central_claims.release(central, self.station, to_release)
            claimed = central_claims.claim_ahead(
                # not what was just lost either: claimed back in this pass it would be
                # dropped below while central had it as ours, under a new epoch
                central,
                self.station,
                more,
                lease_s=self.lease_s,
                skip=held_ids | wanted | lost_ids,
            )
            holders = central_claims.holders(central, lost_ids)
            return renewed, released, claimed, holders

        asked = time.monotonic()
        try:
            renewed, released, claimed, holders = self.link.run(at_central)
        except CentralAway as err:
            self._went_away(err)
            return KeepAlive(away=self.away)
        finally:
            with self._released:
                for order_id in self._releasing:  # maybe gone at central: an open asks it
                    self._fresh.pop(order_id, None)
                self._releasing = set()
                self._released.notify_all()
        self._answered()
        # a claim renewed is ours; one not renewed among those we held was taken meanwhile
        lost_ids |= (held_ids & wanted) - {c.order_id for c in renewed}
        lost = {
            order_id: holders[order_id].station if order_id in holders else central_claims.NOBODY
            for order_id in lost_ids
            if order_id not in pending
        }
        # Behind the packer's writes, no wait for the disk: what a power cut loses here (a
        # claim's lease, a claim won ahead, a take-over noted) the next pass writes again.
        with self.store.write(durable=False, background=True) as conn:
            keep_claims(
                conn,
                self.station,
                [(c.order_id, c.epoch, c.lease_until) for c in [*renewed, *claimed]],
            )
            drop_released(conn, self.station, [(o, epoch_at_central[o]) for o in released])
            drop_claims(conn, self.station, lost)
            closed_now = [o for o in lost if close_taken_order(conn, self.station, o)]
        with self._lock:
            self._closed -= set(released) | set(lost)
            for order_id in lost:
                self._fresh.pop(order_id, None)
            for order_id in released:  # not a claim the packer's open won meanwhile
                if self._fresh.get(order_id, (None,))[0] == epoch_at_central[order_id]:
                    del self._fresh[order_id]
            for c in [*renewed, *claimed]:
                if c not in busy:  # one returned unrenewed keeps the time it had
                    self._fresh[c.order_id] = (c.epoch, asked)
        for order_id, by in lost.items():
            log.warning("claim on order %s taken over by %r", order_id, by or "the admin")
            if self.on_lost is not None and (order_id in closed_now or order_id == open_id):
                self.on_lost(order_id, taken_over(order_id, by))
        return KeepAlive(
            renewed=sorted(c.order_id for c in renewed),
            claimed=[c.order_id for c in claimed],
            released=sorted(released),
            lost=lost,
        )

    def held(self) -> dict[int, int]:
        """The orders this bench holds, as its copy says → their epochs (`sync status`)."""
        with self.store.read() as conn:
            return held_claims(conn, self.station)

    def central_answers(self) -> None:
        """Central just answered another part of sync: a keep-alive waiting out an outage
        runs now (renewing what the bench holds, opens wait the full timeout again)."""
        if self.away is not None:
            self._wake.set()

    def _answered(self) -> None:
        self.away = None
        if self.on_answer is not None:
            self.on_answer()

    def _went_away(self, err: CentralAway) -> None:
        if self.away is None:
            log.warning("central out of reach for claims: %s", err)
        self.away = str(err) or "central did not answer"

    def start(self) -> None:
        """Run the keep-alive every `interval_s` on a thread of its own."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="claims-keep-alive", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.link.timeout_s * 3)
        self.link.dispose()

    def _run(self) -> None:
        switching.behind_the_packer()  # the packer's scans and report-ins first
        while not self._stop.is_set():
            try:
                self.keep_alive()
            except Exception:  # the keep-alive must outlive any one bad pass
                log.exception("claims keep-alive failed")
            self._wake.wait(self.interval_s if self.away is None else AWAY_RETRY_S)
            self._wake.clear()


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


__all__ = ["CentralClaims", "KeepAlive", "central_claims_for", "offline_refusal", "taken_over"]
