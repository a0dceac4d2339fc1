"""Taking in what the shop sends (issue 13 §1): orders, products and stock, from a file
(`stationd import …`) or the intake API, by the same steps.

Each record is checked by core (`core.intake`); a bad one is refused with its field errors and
the rest goes on. Good ones are written in batches, a transaction each: new orders in bulk;
an order the shop sent before is recognised by its reference and the hash of its content, so
the same order again changes nothing and costs one index lookup; a changed one is updated
only as far as R1/R2 allow (`core.order_import`), else refused with the reason. After each
commit the changed orders are announced (`OrderChanged`), so the queue shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stationd.clock import utcnow
from stationd.core.intake import (
    FieldError,
    IncomingOrder,
    IncomingProduct,
    IncomingStock,
    parse_order,
    parse_product,
    parse_stock,
)
from stationd.core.intake_formats import Record
from stationd.core.order_import import plan_update
from stationd.core.orders import OrderRuleError
from stationd.events import Bus, OrderChanged
from stationd.store.database import Store
from stationd.store.intake import (
    gtin_holders,
    insert_orders,
    known_orders,
    known_products,
    known_stock,
    line_vat,
    product_values,
    write_products,
    write_stock,
    write_update,
)
from stationd.store.orders import load_orders
from stationd.store.packscript import packscript_lock

#: Records a transaction: big enough that a commit's cost is spread, small enough that a
#: bench's scan never waits long behind an import.
BATCH = 2000

NEW, UPDATED, UNCHANGED, REFUSED = "new", "updated", "unchanged", "refused"


@dataclass(frozen=True)
class Outcome:
    """What became of one record: where it was (file line, or index in a request), what it
    names (an order's reference, a SKU), and for a refused one why."""

    at: int
    key: str
    outcome: str
    reasons: tuple[str, ...] = ()
    fields: tuple[FieldError, ...] = ()


@dataclass
class ImportSummary:
    """The counts of one import and every refused record (with all outcomes when asked)."""

    kind: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[Outcome] = field(default_factory=list)
    outcomes: list[Outcome] | None = None

    def note(self, outcome: Outcome) -> None:
        if outcome.outcome == REFUSED:
            self.refused.append(outcome)
        else:
            setattr(self, outcome.outcome, getattr(self, outcome.outcome) + 1)
        if self.outcomes is not None:
            self.outcomes.append(outcome)

    def headline(self) -> str:
        return (
            f"{self.kind}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.refused)} refused"
        )

    def lines(self, where: str = "line") -> list[str]:
        """The summary as the CLI prints it: the counts, then each refusal."""
        said = [self.headline()]
        for refused in self.refused:
            named = f" ({refused.key})" if refused.key else ""
            said.append(f"  {where} {refused.at}{named}: refused: {'; '.join(refused.reasons)}")
        return said


class _Batches:
    """Parsed records gathered until a batch is full, or until a key comes again (the second
    must see what the first wrote)."""

    def __init__(self, write: Callable[[list[tuple[int, Any]]], None], size: int) -> None:
        self.write, self.size = write, size
        self.pending: list[tuple[int, Any]] = []
        self.keys: set[str] = set()

    def add(self, at: int, key: str, value: Any) -> None:
        if key in self.keys:
            self.flush()
        self.pending.append((at, value))
        self.keys.add(key)
        if len(self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.write(self.pending)
        self.pending, self.keys = [], set()


def _key_of(data: object, name: str) -> str:
    value = data.get(name) if isinstance(data, dict) else None
    return value.strip()[:64] if isinstance(value, str) else ""


def _take(
    records: Iterable[Record],
    summary: ImportSummary,
    parse: Callable[[object], Any],
    key: str,
    batches: _Batches,
) -> ImportSummary:
    for record in records:
        if record.error is not None:
            summary.note(Outcome(record.line, "", REFUSED, (record.error,)))
        else:
            parsed = parse(record.data)
            if isinstance(parsed, list):
                summary.note(
                    Outcome(
                        record.line,
                        _key_of(record.data, key),
                        REFUSED,
                        tuple(str(e) for e in parsed),
                        tuple(parsed),
                    )
                )
            else:
                batches.add(record.line, getattr(parsed, key), parsed)
    batches.flush()
    return summary


def import_orders(
    store: Store,
    shop: str,
    records: Iterable[Record],
    *,
    bus: Bus | None = None,
    keep_outcomes: bool = False,
    batch: int = BATCH,
) -> ImportSummary:
    """Take in the shop's orders (R1, R2, R4): new ones added, changed ones updated while R2
    allows, the same ones left as they are."""
    summary = ImportSummary("orders", outcomes=[] if keep_outcomes else None)

    def write(pending: list[tuple[int, IncomingOrder]]) -> None:
        changed_ids: list[int] = []
        outcomes: list[Outcome] = []
        at = utcnow()
        with store.write() as conn:
            # Exclusive against a pack-script run (PostgreSQL): the run never sees an order
            # half changed; SQLite's write lock does this by itself.
            packscript_lock(conn, shared=True)
            known = known_orders(conn, shop, [o.ref for _, o in pending])
            new = [(line, o) for line, o in pending if o.ref not in known]
            again = [(line, o) for line, o in pending if o.ref in known]
            ids = insert_orders(conn, shop, [o for _, o in new], at=at)
            changed_ids += ids
            outcomes += [Outcome(line, o.ref, NEW) for line, o in new]
            differ = [(line, o) for line, o in again if known[o.ref][1] != o.content_hash]
            outcomes += [
                Outcome(line, o.ref, UNCHANGED)
                for line, o in again
                if known[o.ref][1] == o.content_hash
            ]
            if differ:
                loaded = load_orders(conn, [known[o.ref][0] for _, o in differ], for_update=True)
                vat = line_vat(conn, loaded)
                for line, incoming in differ:
                    order = loaded[known[incoming.ref][0]]
                    try:
                        plan = plan_update(order, vat, incoming)
                    except OrderRuleError as err:
                        outcomes.append(Outcome(line, incoming.ref, REFUSED, (str(err),)))
                        continue
                    write_update(conn, shop, order, incoming, plan, at=at)
                    changed_ids.append(order.id)
                    outcomes.append(Outcome(line, incoming.ref, UPDATED))
        for outcome in sorted(outcomes, key=lambda o: o.at):
            summary.note(outcome)
        if bus is not None:
            for order_id in changed_ids:
                bus.publish(OrderChanged(order_id, "import"))

    return _take(records, summary, parse_order, "ref", _Batches(write, batch))


def import_products(
    store: Store,
    records: Iterable[Record],
    *,
    keep_outcomes: bool = False,
    batch: int = BATCH,
) -> ImportSummary:
    """Take in the shop's products: new ones added (with no stock), changed ones updated."""
    summary = ImportSummary("products", outcomes=[] if keep_outcomes else None)

    def write(pending: list[tuple[int, IncomingProduct]]) -> None:
        outcomes: list[Outcome] = []
        with store.write() as conn:
            known = known_products(conn, [p.sku for _, p in pending])
            holders = gtin_holders(conn, [p.gtin for _, p in pending if p.gtin])
            new: list[IncomingProduct] = []
            changed: list[IncomingProduct] = []
            for line, product in pending:
                holder = holders.get(product.gtin) if product.gtin else None
                if holder is not None and holder != product.sku:
                    reason = f"EAN {product.ean} is product {holder}'s already"
                    outcomes.append(Outcome(line, product.sku, REFUSED, (reason,)))
                    continue
                if product.gtin:
                    holders[product.gtin] = product.sku
                if product.sku not in known:
                    new.append(product)
                    outcomes.append(Outcome(line, product.sku, NEW))
                elif known[product.sku] != product_values(product):
                    changed.append(product)
                    outcomes.append(Outcome(line, product.sku, UPDATED))
                else:
                    outcomes.append(Outcome(line, product.sku, UNCHANGED))
            write_products(conn, new, changed)
        for outcome in outcomes:
            summary.note(outcome)

    return _take(records, summary, parse_product, "sku", _Batches(write, batch))


def import_stock(
    store: Store,
    records: Iterable[Record],
    *,
    keep_outcomes: bool = False,
    batch: int = BATCH,
) -> ImportSummary:
    """Take in the shop's stock counts: each product's on-hand count set as given, never below
    what orders being packed hold (R7)."""
    summary = ImportSummary("stock", outcomes=[] if keep_outcomes else None)

    def write(pending: list[tuple[int, IncomingStock]]) -> None:
        outcomes: list[Outcome] = []
        with store.write() as conn:
            # The pack script reads on-hand and reserved together: not while it runs (PG).
            packscript_lock(conn, shared=True)
            known = known_stock(conn, [s.sku for _, s in pending])
            new: list[IncomingStock] = []
            changed: list[IncomingStock] = []
            for line, count in pending:
                if count.sku not in known:
                    reason = f"there is no product {count.sku}: import it first"
                    outcomes.append(Outcome(line, count.sku, REFUSED, (reason,)))
                    continue
                held = known[count.sku]
                if held is None:
                    new.append(count)
                    outcomes.append(Outcome(line, count.sku, NEW))
                elif held[0] == count.on_hand:
                    outcomes.append(Outcome(line, count.sku, UNCHANGED))
                elif count.on_hand < held[1]:
                    reason = (
                        f"{held[1]} of {count.sku} are reserved for orders being packed; "
                        f"on hand can't be less than that, not {count.on_hand}"
                    )
                    outcomes.append(Outcome(line, count.sku, REFUSED, (reason,)))
                else:
                    changed.append(count)
                    outcomes.append(Outcome(line, count.sku, UPDATED))
            write_stock(conn, new, changed)
        for outcome in outcomes:
            summary.note(outcome)

    return _take(records, summary, parse_stock, "sku", _Batches(write, batch))
