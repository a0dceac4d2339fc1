"""A big import on SQLite sets the random-keyed order indexes and the order-text triggers aside
and makes them at its end (store/bulk_indexes.py); one that dies first has them made again by
the next `Store.upgrade`. Either way the search finds every order by name, SKU or EAN."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from stationd.core.intake_formats import read_records
from stationd.core.search import parse_query
from stationd.services.intake import import_orders
from stationd.store import bulk_indexes
from stationd.store.database import Store
from stationd.store.search import search_orders
from stationd.store.tables import orders

KEPT = {
    *bulk_indexes.SET_ASIDE,
    "orders_text_insert",
    "orders_text_delete",
    "orders_text_update",
}


def record(n: int) -> str:
    return (
        json.dumps(
            {
                "ref": f"WEB-{n}",
                "placed_at": f"2026-12-01T{n % 24:02}:14:00+01:00",
                "customer_name": f"Kund Nummer{n:04}",
                "street": "Storgatan 5",
                "postcode": "111 22",
                "city": "Stockholm",
                "country": "SE",
                "currency": "SEK",
                "payment_method": "card",
                "paid": True,
                "lines": [{"sku": f"SKU-{n:05}", "name": "Termos", "quantity": 1, "price": 299}],
            }
        )
        + "\n"
    )


def present(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master")}
    return names & KEPT


def found(store: Store, text: str) -> list[str]:
    with store.read() as conn:
        page = search_orders(conn, parse_query({"text": text}))
    return sorted(str(row.customer_name) for row in page.rows)


def test_r4_a_big_import_sets_the_indexes_aside_and_every_order_is_found_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_indexes, "REMAKE_INDEXES_FROM", 4)  # not 10,000 in a test
    path = tmp_path / "stationd.sqlite"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    seen: dict[int, set[str]] = {}

    def lines() -> Iterator[str]:
        for n in range(1, 21):
            if n == 12:
                # Another writer, mid-import: renames an order the import already wrote.
                seen[n] = present(path)
                with store.write() as conn:
                    conn.execute(
                        update(orders)
                        .where(orders.c.shop_ref == "WEB-3")
                        .values(customer_name="Greta Garbo", customer_key="greta garbo")
                    )
            yield record(n)

    summary = import_orders(
        store, "webshop", read_records("orders", "jsonl", lines()), station="t", batch=2
    )
    assert (summary.new, summary.refused) == (20, [])
    assert seen[12] == set()  # aside while the import ran
    assert present(path) == KEPT
    assert found(store, "nummer0017") == ["Kund Nummer0017"]  # written while aside
    assert found(store, "garbo") == ["Greta Garbo"]
    assert found(store, "nummer0003") == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store.dispose()


def test_r4_indexes_an_import_left_aside_are_made_again_by_the_next_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stationd.sqlite"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    with store.write() as conn:
        bulk_indexes.set_aside(conn)  # as an import does, then dies
    import_orders(store, "webshop", read_records("orders", "jsonl", [record(7)]), station="t")
    assert present(path) == set()
    store.dispose()

    again = Store(f"sqlite:///{path}")
    again.upgrade()  # every start and every import does
    assert present(path) == KEPT
    assert found(again, "nummer0007") == ["Kund Nummer0007"]
    again.dispose()
