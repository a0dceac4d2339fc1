"""Central's stock moved by a transaction of pushed ops (docs/sync.md "Ops out"): summed per
SKU while the ops are applied, written at the end with the rows locked in SKU order."""

from __future__ import annotations

from sqlalchemy import Connection, text


class StockMoves:
    """The stock a transaction's ops move (items out, reservations released), per SKU, written
    at its end in one statement that locks the rows in SKU order (`write`).

    Every bench reports the same few products: when each op of a group updated its stock rows
    as it went, a group held them while it applied the rest of its ops, and two benches'
    groups — each in its own ops' order — waited on each other until PostgreSQL broke the
    cycle a second later (bench/sync.py at 8 benches: deadlocks every few seconds, the other
    benches' pushes queued behind them). Written last and sorted, a group holds a stock row
    only for its commit and takes them all in one order. Each move is ≥ 0, and every write
    clamps at zero, so the sum of a group's moves clamped once is what one clamp per op gave.
    """

    def __init__(self) -> None:
        self._out: dict[str, int] = {}
        self._released: dict[str, int] = {}

    def take_out(self, sku: str, quantity: int, *, released: int = 0) -> None:
        """`quantity` items of `sku` left the warehouse, `released` of them were reserved."""
        self._add(self._out, sku, quantity)
        self._add(self._released, sku, released)

    def release(self, sku: str, quantity: int) -> None:
        """`quantity` reserved items of `sku` are no longer held (a line cut or removed)."""
        self._add(self._released, sku, quantity)

    def _add(self, into: dict[str, int], sku: str, quantity: int) -> None:
        if quantity < 0:
            raise ValueError(f"a stock move is never negative ({sku}: {quantity})")
        if quantity:
            into[sku] = into.get(sku, 0) + quantity

    def write(self, conn: Connection) -> None:
        """Lock the rows in SKU order, then move them all in one statement (never below 0)."""
        skus = sorted(set(self._out) | set(self._released))
        if not skus:
            return
        conn.execute(_LOCK_STOCK, {"skus": skus})
        conn.execute(
            _MOVE_STOCK,
            {
                "skus": skus,
                "out": [self._out.get(sku, 0) for sku in skus],
                "released": [self._released.get(sku, 0) for sku in skus],
            },
        )
        self._out.clear()
        self._released.clear()


# ORDER BY under FOR UPDATE: the rows are locked as the sort hands them out, in SKU order.
_LOCK_STOCK = text(
    "SELECT sku FROM stock WHERE sku = ANY(CAST(:skus AS text[])) ORDER BY sku FOR UPDATE"
)
_MOVE_STOCK = text(
    """
    UPDATE stock s
       SET on_hand = greatest(s.on_hand - m.out_qty, 0),
           reserved = greatest(s.reserved - m.released_qty, 0)
      FROM unnest(CAST(:skus AS text[]), CAST(:out AS bigint[]), CAST(:released AS bigint[]))
           AS m(sku, out_qty, released_qty)
     WHERE s.sku = m.sku
    """
)


__all__ = ["StockMoves"]
