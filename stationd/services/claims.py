"""The seam of R17: which bench has an order open. Two benches never pack one order at once.

The bench use case asks `Claims` inside the scan's transaction (which holds the order's row
lock), and tells it when it opens an order, closes it, or is active. The bench's own record
of its open order stays on its station row either way. `store.claims.LocalClaims` reads the
claims off the station rows of the database the benches share; `services.central_claims.
CentralClaims` claims at central, for a synced bench (docs/sync.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Connection


class Claims(Protocol):
    """Which bench has which order open, each claim with a lease its bench renews."""

    def holder(self, conn: Connection, order_id: int, *, besides: str) -> str | None:
        """The bench other than `besides` whose claim on `order_id` is alive, if any — or a
        `core.text.Text` saying why `besides` can't open it now (central out of reach)."""
        ...

    def claim(self, conn: Connection, order_id: int, station: str) -> None:
        """`station` opens `order_id`."""
        ...

    def renew(self, conn: Connection, station: str) -> None:
        """`station` is active: its claim lives on."""
        ...

    def release(self, conn: Connection, station: str) -> None:
        """`station` closes its order."""
        ...
