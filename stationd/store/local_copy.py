"""A station's side of pull (docs/sync.md): central's images written into the local copy, and
what the pull keeps between runs in `sync_state`.

Each batch of images is one local transaction. An order this station still has ops for that
central may not have applied yet (an event not sent when the pull began) is skipped whole —
order, lines, claim: central's apply of those ops makes a newer image, which a later pull
brings; the skipped orders are kept (`pull.skipped`) and asked for again by the next pull, so
one whose op central refused comes back too. The local order-text index (SQLite's FTS5 table)
follows by the triggers migration 0001 put on `orders`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    Text,
    any_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from stationd.clock import utcnow
from stationd.store.change_feed import Images
from stationd.store.database import Store
from stationd.store.outbox import START_NOTE, start_pushing
from stationd.store.tables import (
    delivery_lines,
    events,
    order_lines,
    orders,
    own_statuses,
    products,
    stations,
    stock,
    sync_state,
)

#: `sync_state` names this part keeps (docs/sync.md, "pull").
CENTRAL = "pull.central"  # central's system identifier the copy follows
CURSOR = "pull.cursor"  # the xid8 below which every change is in the copy
SKIPPED = "pull.skipped"  # orders a pull skipped (unsent ops): the next one asks again
#: Orders with an op central refused: central changed nothing, so its feed will not name
#: them, and the copy still shows the refused op's effect — the next pull asks for them.
REFUSED = "pull.refused"
LAST_PULL = "pull.last_at"  # when the last pull finished (this station's clock, shown only)
LAST_ERROR = "pull.last_error"  # the last pull's error, "" once one succeeds


@dataclass(frozen=True)
class PullState:
    """What the copy follows: central's identifier and the cursor (None: never pulled)."""

    central: str | None = None
    cursor: int | None = None
    skipped: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    last_at: str | None = None
    last_error: str = ""


def read_state(conn: Connection) -> PullState:
    """The pull's state as the copy keeps it."""
    rows = conn.execute(select(sync_state.c.name, sync_state.c.value))
    kept = {name: value for name, value in rows}
    cursor = kept.get(CURSOR)
    return PullState(
        central=kept.get(CENTRAL),
        cursor=int(cursor) if cursor else None,
        skipped=json.loads(kept.get(SKIPPED) or "[]"),
        refused=json.loads(kept.get(REFUSED) or "[]"),
        last_at=kept.get(LAST_PULL),
        last_error=kept.get(LAST_ERROR, ""),
    )


@dataclass(frozen=True)
class Reached:
    """Where a pull got to: the copy holds central `central` up to `cursor`, but for the
    orders `skipped`. `asked_again`: the refused orders (`PullState.refused`) the pull read
    at its start, asked for and so done with."""

    central: str
    cursor: int
    skipped: list[int] = field(default_factory=list)
    asked_again: list[int] = field(default_factory=list)


def save_state(
    store: Store, reached: Reached, *, at: datetime | None = None, durable: bool = True
) -> None:
    """A pull finished (with no batch to write the state with)."""
    with store.write(durable=durable) as conn:
        start_pushing(conn)  # as in write_images: a central with nothing in it is followed too
        _save_reached(conn, reached, at)


def ask_again(conn: Connection, order_ids: list[int]) -> None:
    """The next pull asks central for these orders whatever its feed says (an op of theirs
    was refused: the copy shows what central never took)."""
    if order_ids:
        _put(conn, {REFUSED: json.dumps(sorted(set(_refused(conn)) | set(order_ids)))})


def _refused(conn: Connection) -> list[int]:
    kept = conn.execute(select(sync_state.c.value).where(sync_state.c.name == REFUSED))
    return json.loads(kept.scalar() or "[]")


def _save_reached(conn: Connection, reached: Reached, at: datetime | None = None) -> None:
    if reached.asked_again:
        # read here, in the transaction that saves: a refusal noted during the pull stays
        left = set(_refused(conn)) - set(reached.asked_again)
        _put(conn, {REFUSED: json.dumps(sorted(left))})
    _put(
        conn,
        {
            CENTRAL: reached.central,
            CURSOR: str(reached.cursor),
            SKIPPED: json.dumps(sorted(set(reached.skipped))),
            LAST_PULL: (at or utcnow()).isoformat(),
            LAST_ERROR: "",
        },
    )


def save_error(store: Store, error: str) -> None:
    """A pull failed: why, for `stationd sync status` and the Tools page."""
    with store.write(durable=False) as conn:
        _put(conn, {LAST_ERROR: error})


def unsent_from(store: Store) -> int:
    """The first audit event not yet sent (or the next one to be written): an order with an
    event from here on may have ops central has not applied in the snapshot a pull reads."""
    with store.read() as conn:
        first = conn.execute(select(func.min(events.c.id)).where(events.c.sent_at.is_(None)))
        found = first.scalar()
        if found is None:
            found = (conn.execute(select(func.max(events.c.id))).scalar() or 0) + 1
    return int(found)


def send_again_to_another_central(store: Store) -> int:
    """The copy is to follow another central (a restored one): the ops the old central
    accepted since this station's push began are sent again, since a central restored from a
    backup lacks those made after it. Their keys make each count once where central still
    has it (the stored answer comes back); a refused one stays refused (it changed nothing).
    Done in the local transaction before the resync reads what is unsent, so the resync
    skips those orders until central has the ops. Returns how many will be sent again."""
    with store.write() as conn:
        start = conn.execute(
            select(sync_state.c.value).where(sync_state.c.name == START_NOTE)
        ).scalar()
        return conn.execute(
            update(events)
            .where(
                events.c.id > int(start or 0),
                events.c.sent_at.is_not(None),
                events.c.outcome == "accepted",
            )
            .values(sent_at=None, outcome=None, outcome_reason=None, outcome_reason_data=None)
        ).rowcount


def write_images(
    store: Store,
    images: Images,
    *,
    unsent_from: int,
    bulk: bool = False,
    reached: Reached | None = None,
) -> list[int]:
    """Write one batch of central's images into the copy, in one local transaction; returns
    the orders skipped because they have ops of this station central may lack. `bulk`: one
    of many batches of a full resync (`Store.write(bulk=True)`). `reached`: the pull's last
    batch — where the pull got to is saved in the same transaction (one commit, not two)."""
    # What differs from the copy is found before the write lock is taken, in a read of its
    # own: the lock is then held for the writes alone (the packer waits for it). A bench
    # changes an order only with an event in the same transaction (the outbox), so an order
    # the bench changed since that read is among those skipped below, never written stale.
    seen = _differences(store, images) if images.kind == "order" else None
    # An incremental pull's batch goes behind the packer's writes (background) and does not
    # wait for the disk: lost in a power cut, its cursor is lost with it and the next pull
    # writes the same images again. A full resync's batches are durable and bulk.
    with store.write(bulk=bulk, durable=bulk, background=not bulk) as conn:
        # The copy follows central from its first image on: every event from here is sync's,
        # so the push's start is noted now if it is not yet (a bench's edit between this pull
        # and the first push would otherwise count as history from before sync, never sent).
        start_pushing(conn)
        skipped = _write(conn, images, unsent_from, seen)
        if reached is not None:
            _save_reached(conn, Reached(reached.central, reached.cursor, reached.skipped + skipped))
    return skipped


def _write(
    conn: Connection, images: Images, unsent_from: int, seen: _Differences | None
) -> list[int]:
    if images.kind == "own_status":
        _upsert(conn, own_statuses, images.rows["own_statuses"])
        _delete_own_statuses(conn, _gone(images, "own_statuses", "id"))
        return []
    if images.kind == "product":
        _upsert(conn, products, images.rows["products"])
        _upsert(conn, stock, images.rows["stock"])
        gone = _gone(images, "products", "sku")
        kept_stock = {row["sku"] for row in images.rows["stock"]}
        lost_stock = [sku for sku in images.keys if sku not in kept_stock]
        conn.execute(delete(stock).where(_among(conn, stock.c.sku, lost_stock)))
        conn.execute(delete(products).where(_among(conn, products.c.sku, gone)))
        return []
    assert seen is not None
    return _write_orders(conn, images, unsent_from, seen)


def drop_missing(store: Store, kind: str, present: list[Any], *, unsent_from: int) -> list[int]:
    """A full resync: delete what the copy holds of `kind` and central does not (`present`);
    returns orders kept because they have ops of this station central may lack."""
    table, key = {"own_status": (own_statuses, "id"), "product": (products, "sku")}.get(
        kind, (orders, "id")
    )
    with store.read() as conn:
        local = set(conn.execute(select(table.c[key])).scalars())
    missing = sorted(local - set(present))
    if not missing:
        return []
    return write_images(store, Images(kind, missing, _no_rows(kind)), unsent_from=unsent_from)


def _write_orders(
    conn: Connection, images: Images, unsent_from: int, seen: _Differences
) -> list[int]:
    asked = list(images.keys)
    skipped = set(
        conn.execute(
            select(events.c.order_id)
            .where(events.c.id >= unsent_from, _among(conn, events.c.order_id, asked))
            .distinct()
        ).scalars()
    )
    present = {r["id"] for r in images.rows["orders"]}
    gone = [key for key in asked if key not in present and key not in skipped]
    if gone:
        # An order central deleted stays whole while a bench of this copy has it open (and is
        # asked for again) until the bench lets it go.
        skipped |= set(
            conn.execute(
                select(stations.c.current_order_id).where(
                    _among(conn, stations.c.current_order_id, gone)
                )
            ).scalars()
        )
    taken = [key for key in asked if key not in skipped]
    if not taken:
        return sorted(skipped)
    # Only what differs from the copy is written: most images a bench pulls are of its own
    # ops (central's apply made them), and a big order's one changed line must not rewrite
    # the others. Each write holds the bench's write lock, and the packer's next durable
    # commit puts it on the disk (bench/sync.py at 8 benches, bench/sync_outage.py).
    for table, of in _ORDER_TABLES:
        seen.write(conn, table, of, skipped)
    gone_lines = [line for order_id, line in seen.gone_lines if order_id not in skipped]
    if gone_lines:
        # Lines central no longer has (an edited order), unless a delivery here names one.
        conn.execute(
            delete(order_lines).where(
                _among(conn, order_lines.c.id, gone_lines),
                order_lines.c.id.not_in(select(delivery_lines.c.line_id)),
            )
        )
    # Central's claims are not copied: a station's `order_claims` holds only its own, written by
    # services.central_claims (docs/sync.md, Claims) — a take-over copied in would take the
    # epoch off this bench's late events and let them past central's fence.
    gone = [k for k in taken if k not in present]
    if gone:
        conn.execute(delete(orders).where(_among(conn, orders.c.id, gone)))
    return sorted(skipped)


#: The tables an order's image fills, each with the column that names a row's order.
_ORDER_TABLES = ((orders, "id"), (order_lines, "order_id"))


def _key(table: Table) -> str:
    return table.primary_key.columns.values()[0].name


@dataclass
class _Differences:
    """How central's images of some orders differ from the copy: per table, the rows the copy
    lacks and, by the columns that differ, the rows to update; the lines central no longer
    has (order id, line id)."""

    new: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    changed: dict[str, dict[tuple[str, ...], list[dict[str, Any]]]] = field(default_factory=dict)
    gone_lines: list[tuple[int, int]] = field(default_factory=list)

    def write(self, conn: Connection, table: Table, of: str, skipped: set[int]) -> None:
        """Write the table's differences, but for the orders `skipped` (`of`: the column
        naming a row's order)."""
        # (an upsert: a line of another order in the copy — one central moved — is taken over)
        _upsert(conn, table, [r for r in self.new[table.name] if r[of] not in skipped])
        key = _key(table)
        for columns, rows in self.changed[table.name].items():
            taken = [r for r in rows if r[of] not in skipped]
            if not taken:
                continue
            # Only the changed columns are named: the order-text index's trigger fires only
            # when its columns are.
            conn.execute(
                update(table)
                .where(table.c[key] == bindparam("key_"))
                .values({c: bindparam(f"{c}_") for c in columns}),
                [{"key_": r[key], **{f"{c}_": r[c] for c in columns}} for r in taken],
            )


def _differences(store: Store, images: Images) -> _Differences:
    found = _Differences()
    with store.read() as conn:
        for table, of in _ORDER_TABLES:
            key = _key(table)
            held = {
                row[key]: row
                for row in conn.execute(
                    select(table).where(_among(conn, table.c[of], list(images.keys)))
                ).mappings()
            }
            new = found.new[table.name] = []
            changed = found.changed[table.name] = {}
            for row in images.rows[table.name]:
                mine = held.pop(row[key], None)
                if mine is None:
                    new.append(row)
                    continue
                columns = tuple(c for c, value in row.items() if c != key and mine[c] != value)
                if columns:
                    changed.setdefault(columns, []).append(row)
            if table is order_lines:
                # what is left of the copy's lines of these orders, central no longer has
                found.gone_lines = [(row[of], line) for line, row in held.items()]
    return found


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    statement = insert(table)
    keys = [c.name for c in table.primary_key.columns]
    columns = [c.name for c in table.columns if c.name not in keys and c.name in rows[0]]
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in columns}
        ),
        rows,
    )


def _among(conn: Connection, column: Any, values: list[Any]) -> Any:
    # `column` is one of `values`, the list as one parameter (a JSON array on SQLite, an
    # array on PostgreSQL) instead of a bind each: a batch holds thousands.
    if conn.dialect.name == "sqlite":
        each = func.json_each(bindparam(None, json.dumps(values), type_=Text)).table_valued("value")
        return column.in_(select(each.c.value))
    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))


def _gone(images: Images, table: str, key: str) -> list[Any]:
    present = {row[key] for row in images.rows[table]}
    return [k for k in images.keys if k not in present]


def _delete_own_statuses(conn: Connection, gone: list[int]) -> None:
    if not gone:
        return
    # Central let go of the status only after its orders did; this copy's may lag a pull.
    conn.execute(
        update(orders).where(_among(conn, orders.c.own_status_id, gone)).values(own_status_id=None)
    )
    conn.execute(delete(own_statuses).where(_among(conn, own_statuses.c.id, gone)))


def _no_rows(kind: str) -> dict[str, list[dict[str, Any]]]:
    tables = {
        "own_status": ("own_statuses",),
        "product": ("products", "stock"),
        "order": ("orders", "order_lines", "order_claims"),
    }[kind]
    return {name: [] for name in tables}


def _put(conn: Connection, values: dict[str, str]) -> None:
    _upsert(conn, sync_state, [{"name": k, "value": v} for k, v in values.items()])


__all__ = [
    "CENTRAL",
    "CURSOR",
    "LAST_ERROR",
    "LAST_PULL",
    "REFUSED",
    "SKIPPED",
    "PullState",
    "Reached",
    "ask_again",
    "drop_missing",
    "read_state",
    "save_error",
    "save_state",
    "send_again_to_another_central",
    "unsent_from",
    "write_images",
]
