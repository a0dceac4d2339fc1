"""The Tools page "Outgoing": what waits to go out, what failed with its reason, what went."""

from __future__ import annotations

from dataclasses import dataclass

from stationd.core.outgoing import OutgoingState
from stationd.store import outgoing as rows
from stationd.store.database import Store
from stationd.store.outgoing import OutgoingItem

#: Rows shown per list.
LISTED = 50


@dataclass(frozen=True)
class OutgoingPage:
    """The page's facts: counts per state and the newest rows of each list."""

    counts: dict[OutgoingState, int]
    waiting: list[OutgoingItem]  # pending or being sent
    failed: list[OutgoingItem]
    sent: list[OutgoingItem]


def outgoing_page(store: Store) -> OutgoingPage:
    """Read the page in one snapshot."""
    with store.read() as conn:
        waiting = rows.listed(conn, OutgoingState.SENDING, limit=LISTED)
        waiting += rows.listed(conn, OutgoingState.PENDING, limit=LISTED)
        return OutgoingPage(
            counts=rows.counts(conn),
            waiting=sorted(waiting, key=lambda r: r.id, reverse=True)[:LISTED],
            failed=rows.listed(conn, OutgoingState.FAILED, limit=LISTED),
            sent=rows.listed(conn, OutgoingState.SENT, limit=LISTED),
        )
