"""Claims on this station's database (R17): which bench has an order open, kept on the
`stations` row — its open order and when it was last active, a lease that a crashed bench's
claim runs out of. The local side of `services.claims.Claims`; a central implementation comes
with sync."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, select

from stationd.clock import utcnow
from stationd.store.bench import touch_station
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

    def claim(self, conn: Connection, order_id: int, station: str) -> None:
        """`station` has `order_id` open from now, and its lease starts afresh."""
        touch_station(conn, station, current_order_id=order_id, last_seen_at=utcnow())

    def renew(self, conn: Connection, station: str) -> None:
        """`station` is active: its claim's lease starts afresh."""
        touch_station(conn, station, last_seen_at=utcnow())

    def release(self, conn: Connection, station: str, *, renew: bool = False) -> None:
        """`station` has no order open any more (and, with `renew`, is active)."""
        values: dict[str, object] = {"current_order_id": None}
        if renew:
            values["last_seen_at"] = utcnow()
        touch_station(conn, station, **values)
