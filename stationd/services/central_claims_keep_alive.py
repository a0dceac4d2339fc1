"""The keep-alive of a synced bench's claims at central (`services.central_claims`, docs/sync.md).

One pass (`keep_alive`) renews the leases of the open order and of the orders claimed ahead in
queue order, tops those up, releases at central what the bench no longer wants once central has
every op written under it, and finds the claims taken over: dropped, the bench's open order
closed, the packer told (`taken_over`). `start` runs a pass every `interval_s` on a thread of
its own, and between passes a top-up (`top_up`) after each open.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stationd.core.text import Text, sentence
from stationd.store import central_claims
from stationd.store.central_link import CentralAway
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

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)

#: A claim won at central is counted as wanted this long before the bench's transaction that
#: asked for it must have committed (so the keep-alive never releases it under the bench).
PENDING_S = 30.0
#: While central is known to be away, how often the keep-alive looks for its return (seconds).
AWAY_RETRY_S = 2.0


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


class KeepAlivePasses:
    """The keep-alive's passes and thread, mixed into `CentralClaims`: they work on its state
    (its link, copy, locks and the claims it tracks) and call its `ahead_wanted`, `top_up`,
    `_answered` and `_went_away`."""

    def keep_alive(self) -> KeepAlive:
        """One pass: renew, top up the claims ahead, release, find the claims taken over."""
        self._last_pass = time.monotonic()
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
        want = self.ahead_wanted()
        ahead = sorted((held_ids & packing) - closed - {open_id})[:want]
        wanted = set(ahead) | pending | unsent | ({open_id} if open_id is not None else set())
        with self._lock:
            # what the packer opened since the copy was read is wanted; what it opens from
            # now on waits for the release (`_not_while_released`)
            to_release = held_ids - wanted - self._opened
            self._releasing = set(to_release)
        epoch_at_central = {c.order_id: c.epoch for c in held}
        more = want - len(ahead)
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

    def start(self) -> None:
        """Run the keep-alive every `interval_s` on a thread of its own."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="claims-keep-alive", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.link.timeout_s * 3)
            self._thread = None
        self.link.dispose()

    def _pass_in(self) -> float:
        """Seconds until the next full pass is due (0: now)."""
        if self._last_pass is None or self._full.is_set():
            return 0.0
        period = self.interval_s if self.away is None else AWAY_RETRY_S
        return max(0.0, self._last_pass + period - time.monotonic())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._pass_in() == 0:
                    self._full.clear()
                    self._refill.clear()
                    self.keep_alive()
                elif self._refill.is_set() and self.away is None:
                    # (central away: the passes every AWAY_RETRY_S claim when it is back)
                    self._refill.clear()
                    self.top_up()
            except Exception:  # the keep-alive must outlive any one bad pass
                log.exception("claims keep-alive failed")
            # (a wake between the wait and the clear is not lost: the flags are looked at
            # again before the next wait)
            self._wake.wait(self._pass_in())
            self._wake.clear()


__all__ = ["AWAY_RETRY_S", "PENDING_S", "KeepAlive", "KeepAlivePasses", "taken_over"]
