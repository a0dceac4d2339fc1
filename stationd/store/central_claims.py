"""Claims at central (R17, docs/sync.md): which bench packs which order, each claim with a
fencing epoch and a lease judged by central's clock only.

Every function here runs on a connection to the central PostgreSQL, in the caller's
transaction. A claim is one statement on `order_claims`: an insert, or — on the locked row of
an existing claim — a take-over when that claim is this station's own or its lease has run out
by central's `now()`. A station's clock never decides (a Pi has no clock battery). A new
holder's epoch comes from the sequence `order_claim_epochs` (migration 0007), which only grows:
no two claims ever share an epoch, not even after a claim row was released and made anew, so an
op stamped with an old epoch can always be told from the current claim's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text


@dataclass(frozen=True, slots=True)
class Claim:
    """One claim at central: `station` holds `order_id` under `epoch` until `lease_until`
    (central's clock)."""

    order_id: int
    station: str
    epoch: int
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class ClaimAnswer:
    """What a claim got: `won` the claim (then `claim` is the caller's), or the live claim of
    another station that stopped it; `claim` None and `status` None: central has no such
    order. `status` is the order's at central: one not in packing is never claimed."""

    won: bool
    claim: Claim | None
    status: str | None = None

    @property
    def not_packing(self) -> bool:
        """Central has the order, in another status than packing (cancelled, shipped …)."""
        return self.status is not None and self.status != "packing"


# Claim-ahead's upsert: the take-over test sits in ON CONFLICT … DO UPDATE … WHERE, which
# PostgreSQL evaluates on the conflicting row after locking it (waiting for a concurrent claimer
# to commit), so two benches racing see each other's claim there, never a stale read. The
# holder keeps its epoch when it claims again; another station gets the sequence's next value.
# nextval is drawn for every try (gaps do not matter: an epoch only has to grow).
_UPSERT = """
INSERT INTO order_claims AS c (order_id, station, epoch, lease_until)
{rows}
ON CONFLICT (order_id) DO UPDATE SET
    station = EXCLUDED.station,
    epoch = CASE WHEN c.station = EXCLUDED.station THEN c.epoch ELSE EXCLUDED.epoch END,
    lease_until = EXCLUDED.lease_until
WHERE c.station = EXCLUDED.station OR c.lease_until < now()
RETURNING c.order_id, c.station, c.epoch, c.lease_until
"""

_NEW_CLAIM = "nextval('order_claim_epochs'), now() + make_interval(secs => :lease_s)"

# One statement, one round trip. A new claim row is inserted (the unique key lets one of two
# racing benches in); an existing one is taken by an UPDATE whose test — this station's own
# claim, or a lease run out by central's now() — PostgreSQL re-checks on the row once it has
# locked it, so of two benches taking over one run-out claim only the first gets it. A claim
# another station holds alive is not even locked: a bench that loses costs central no write.
# Only an order in packing at central is claimed: one cancelled or shipped there (the bench's
# copy may not have heard yet) is answered with its status. The order's row is read, not
# locked: a claim must not wait behind a push's group that holds it, and an op that meets an
# order changed under its claim is ruled on by core.sync_ops all the same.
# When neither won, the claim that stopped it is read — from the statement's snapshot, which
# misses a claim committed while the insert waited for it; `claim` then reads it anew.
_CLAIM = text(
    f"""
WITH o AS MATERIALIZED (
    SELECT id, status FROM orders WHERE id = :order_id
), ins AS (
    INSERT INTO order_claims AS c (order_id, station, epoch, lease_until)
    SELECT o.id, :station, {_NEW_CLAIM} FROM o WHERE o.status = 'packing'
    ON CONFLICT (order_id) DO NOTHING
    RETURNING c.order_id, c.station, c.epoch, c.lease_until
), upd AS (
    UPDATE order_claims AS c SET
        epoch = CASE WHEN c.station = :station THEN c.epoch
                     ELSE nextval('order_claim_epochs') END,
        station = :station,
        lease_until = now() + make_interval(secs => :lease_s)
    FROM o
    WHERE c.order_id = o.id AND o.status = 'packing'
      AND (c.station = :station OR c.lease_until < now())
    RETURNING c.order_id, c.station, c.epoch, c.lease_until
), won AS (
    SELECT * FROM ins UNION ALL SELECT * FROM upd
)
SELECT o.status, w.order_id IS NOT NULL AS won,
       coalesce(w.station, h.station) AS station, coalesce(w.epoch, h.epoch) AS epoch,
       coalesce(w.lease_until, h.lease_until) AS lease_until
FROM o
LEFT JOIN won w ON true
LEFT JOIN order_claims h ON w.order_id IS NULL AND h.order_id = o.id
"""
)

_CURRENT = text(
    "SELECT order_id, station, epoch, lease_until FROM order_claims WHERE order_id = :order_id"
)

# Claim-ahead: the oldest packing orders of the queue (its own order: placed_at, id) that no
# live claim holds; orders another bench's transaction has locked are skipped, not waited for.
# An order an admin took over to nobody (station '') is not claimed ahead: its goods may lie on
# the bench it was taken from, and that bench's keep-alive would take it straight back; a
# person opening it claims it.
_CLAIM_AHEAD = text(
    """
WITH wanted AS (
    SELECT o.id FROM orders o
    WHERE o.status = 'packing' AND NOT o.waiting
      AND o.id <> ALL(CAST(:skip AS bigint[]))
      AND NOT EXISTS (
          SELECT FROM order_claims h
          WHERE h.order_id = o.id AND (h.lease_until >= now() OR h.station = '')
      )
    ORDER BY o.placed_at, o.id
    LIMIT :n
    FOR UPDATE OF o SKIP LOCKED
)"""
    + _UPSERT.format(rows=f"SELECT id, :station, {_NEW_CLAIM} FROM wanted")
)

# A claim row another transaction has locked is not waited for: it is this bench's own push
# (a group of ops locks its orders' claims until it commits) or a take-over. Waiting made a
# lock cycle with the push — the group holds B's claim and wants A's, the renewal holds A's
# and wants B's — that PostgreSQL broke only after deadlock_timeout (a second), with the
# group's order and stock rows held meanwhile (bench/sync.py, 8 benches). Such a claim is
# returned as the committed row says (this station's, not renewed now: the next pass does).
_RENEW = text(
    """
WITH free AS (
    SELECT order_id FROM order_claims
    WHERE station = :station AND order_id = ANY(CAST(:ids AS bigint[]))
    ORDER BY order_id
    FOR UPDATE SKIP LOCKED
), renewed AS (
    UPDATE order_claims c SET lease_until = now() + make_interval(secs => :lease_s)
    FROM free WHERE c.order_id = free.order_id
    RETURNING c.order_id, c.station, c.epoch, c.lease_until
)
SELECT order_id, station, epoch, lease_until, true AS renewed FROM renewed
UNION ALL
SELECT order_id, station, epoch, lease_until, false FROM order_claims
WHERE station = :station AND order_id = ANY(CAST(:ids AS bigint[]))
  AND order_id NOT IN (SELECT order_id FROM free)
"""
)

_RELEASE = text(
    """
DELETE FROM order_claims
WHERE station = :station AND order_id = ANY(CAST(:ids AS bigint[]))
RETURNING order_id
"""
)

_HOLDERS = text(
    """
SELECT order_id, station, epoch, lease_until FROM order_claims
WHERE order_id = ANY(CAST(:ids AS bigint[]))
"""
)

_HELD_BY = text(
    """
SELECT order_id, station, epoch, lease_until FROM order_claims
WHERE station = :station ORDER BY order_id
"""
)

_EVERY = text(
    """
SELECT order_id, station, epoch, lease_until, lease_until >= now() AS live
FROM order_claims ORDER BY order_id
"""
)

# The admin's take-over: a new epoch whoever held it, so the old holder's late ops are refused.
# To nobody (station ''), the lease ends now and the next bench to claim it gets another epoch.
_TAKE_OVER = text(
    """
INSERT INTO order_claims AS c (order_id, station, epoch, lease_until)
SELECT o.id, :station, nextval('order_claim_epochs'),
       now() + make_interval(secs => :lease_s)
FROM orders o WHERE o.id = :order_id
ON CONFLICT (order_id) DO UPDATE SET
    station = EXCLUDED.station, epoch = EXCLUDED.epoch, lease_until = EXCLUDED.lease_until
RETURNING c.order_id, c.station, c.epoch, c.lease_until
"""
)

#: The station a take-over to nobody leaves an order's claim with.
NOBODY = ""


def _claim(row: object) -> Claim:
    return Claim(row.order_id, row.station, row.epoch, row.lease_until)  # type: ignore[attr-defined]


def claim(conn: Connection, order_id: int, station: str, *, lease_s: float) -> ClaimAnswer:
    """R17: `station` claims `order_id` for `lease_s` seconds of central's clock — won if the
    order is in packing at central and had no claim, or this station's own, or one whose lease
    has run out; else the claim that is alive (or none, with the order's status, for an order
    not in packing). An answer with neither claim nor status: central has no such order."""
    params = {"order_id": order_id, "station": station, "lease_s": lease_s}
    for _ in range(3):
        row = conn.execute(_CLAIM, params).first()
        if row is None:
            return ClaimAnswer(False, None)
        if row.status != "packing":
            return ClaimAnswer(False, None, row.status)
        if row.won or row.station is not None:
            claim = Claim(order_id, row.station, row.epoch, row.lease_until)
            return ClaimAnswer(bool(row.won), claim, row.status)
        # Lost to a claim committed while this one waited (see _CLAIM): read it anew.
        current = conn.execute(_CURRENT, params).first()
        if current is not None:
            return ClaimAnswer(False, _claim(current), row.status)
        # the stopping claim was released meanwhile: try again
    return ClaimAnswer(False, None)


def claim_ahead(
    conn: Connection, station: str, n: int, *, lease_s: float, skip: Iterable[int] = ()
) -> list[Claim]:
    """Claim up to `n` more packing orders for `station`, oldest of the queue first, none in
    `skip` (what it holds already) and none another station's live claim holds."""
    if n <= 0:
        return []
    params = {"station": station, "n": n, "lease_s": lease_s, "skip": sorted(set(skip))}
    return [_claim(row) for row in conn.execute(_CLAIM_AHEAD, params)]


def renew(
    conn: Connection,
    station: str,
    order_ids: Iterable[int],
    *,
    lease_s: float,
    busy: list[Claim] | None = None,
) -> list[Claim]:
    """Extend `station`'s claims on `order_ids` by `lease_s` from central's now; returns those
    still its own (a claim taken over meanwhile is not among them, and stays taken). One that
    another transaction holds locked just now (this bench's push) is returned unrenewed, and
    also added to `busy` when given."""
    ids = sorted(set(order_ids))
    if not ids:
        return []
    params = {"station": station, "ids": ids, "lease_s": lease_s}
    rows = conn.execute(_RENEW, params).all()
    if busy is not None:
        busy += [_claim(row) for row in rows if not row.renewed]
    return [_claim(row) for row in rows]


def release(conn: Connection, station: str, order_ids: Iterable[int]) -> list[int]:
    """`station` gives up its claims on `order_ids` (another station's claim is left alone);
    returns the orders it released."""
    ids = sorted(set(order_ids))
    if not ids:
        return []
    return [row.order_id for row in conn.execute(_RELEASE, {"station": station, "ids": ids})]


def holders(conn: Connection, order_ids: Iterable[int]) -> dict[int, Claim]:
    """The claims central has on these orders (an order without one is not in the dict)."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    return {row.order_id: _claim(row) for row in conn.execute(_HOLDERS, {"ids": ids})}


def held_by(conn: Connection, station: str) -> list[Claim]:
    """Every claim central has for `station`, live or run out, by order id."""
    return [_claim(row) for row in conn.execute(_HELD_BY, {"station": station})]


def every_claim(conn: Connection) -> list[tuple[Claim, bool]]:
    """Every claim at central by order, each with whether its lease is alive (central's clock)."""
    rows = conn.execute(_EVERY)
    return [(_claim(row), bool(row.live)) for row in rows]


def take_over(
    conn: Connection, order_id: int, *, to_station: str = NOBODY, lease_s: float = 0
) -> Claim | None:
    """The admin takes `order_id` over from whichever bench held it (a dead one): a new epoch,
    held by `to_station` for `lease_s` — or by nobody, its lease ended, free for the next bench
    to claim. None: central has no such order."""
    params = {"order_id": order_id, "station": to_station, "lease_s": lease_s}
    row = conn.execute(_TAKE_OVER, params).first()
    return _claim(row) if row is not None else None


__all__ = [
    "NOBODY",
    "Claim",
    "ClaimAnswer",
    "claim",
    "claim_ahead",
    "every_claim",
    "held_by",
    "holders",
    "release",
    "renew",
    "take_over",
]
