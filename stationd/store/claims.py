"""Claims on this station's database (R17): which bench has an order open, read off the
`stations` rows — each bench's open order and when it was last active, a lease that a crashed
bench's claim runs out of. The local side of `services.claims.Claims`; a central
implementation comes with sync."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, select

from stationd.clock import utcnow
from stationd.store.tables import stations


class LocalClaims:
    """Claims held on the station rows of the database the benches share."""

    def __init__(self, lease_s: float = 300) -> None:
        #: A bench not active for this long no longer holds the order it had open.
        self.lease_s = lease_s

    def holder(self, conn: Connection, order_id: int, *, besides: str) -> str | None:
        """R17: the bench other than `besides` that has `order_id` open, if it was active within
        the lease.

        The caller holds the order's row lock, so two benches opening one order take turns
        here and the second sees the first's claim.
        """
        fresh_since = utcnow() - timedelta(seconds=self.lease_s)
        return conn.execute(
            select(stations.c.name).where(
                stations.c.current_order_id == order_id,
                stations.c.name != besides,
                stations.c.last_seen_at >= fresh_since,
            )
        ).scalar()

    # Locally the claim *is* the station's row: the bench writes its open order and the time
    # it was last active there with every scan (`store.bench.touch_station`), in the scan's
    # transaction. Claiming, renewing and releasing have nothing more to write.
    def claim(self, conn: Connection, order_id: int, station: str) -> None:
        """`station` has `order_id` open from now (its row says so already)."""

    def renew(self, conn: Connection, station: str) -> None:
        """`station` is active (its row's `last_seen_at` says so already)."""

    def release(self, conn: Connection, station: str) -> None:
        """`station` has no order open any more (its row says so already)."""
