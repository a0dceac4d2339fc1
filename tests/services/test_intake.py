"""Orders, products and stock in from the shop (issue 13 §1), on SQLite and PostgreSQL: the
README's own examples go in, show in the queue and the search like any order, the same file
twice changes nothing, and a changed order is taken in only as far as R1/R2 allow."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from stationd.core.intake_formats import FileFormatError, read_records
from stationd.core.search import parse_query
from stationd.services.intake import import_orders, import_products, import_stock
from stationd.services.packscript_run import run_once
from stationd.services.report_in import ship
from stationd.store.database import Store
from stationd.store.orders import outbound_queue
from stationd.store.search import search_orders
from stationd.store.tables import order_lines, orders, stock

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(language: str, after: str) -> list[str]:
    """The first ```language block of the README after the heading `after`."""
    text = README.read_text(encoding="utf-8")
    rest = text[text.index(after) :]
    found = re.search(rf"```{language}\n(.*?)```", rest, re.S)
    assert found, f"no {language} block after {after!r}"
    return found.group(1).splitlines(keepends=True)


def orders_in(store: Store, lines: list[str], fmt: str = "jsonl", **kw):  # type: ignore[no-untyped-def]
    return import_orders(store, "webshop", read_records("orders", fmt, lines), **kw)


def readme_shop(store: Store) -> None:
    products = [
        '{"sku": "SKU-00001", "name": "Ullsockor blå S", "ean": "7300001000003", '
        '"location": "A-01-1", "weight_g": 120, "price": "149.00"}\n',
        '{"sku": "SKU-00002", "name": "Termos blå S", "price": 299}\n',
        '{"sku": "SKU-00003", "name": "Kaffemugg blå S", "price": "89.50"}\n',
    ]
    assert import_products(store, read_records("products", "jsonl", products)).new == 3
    counts = ["sku,on_hand\n", "SKU-00001,40\n", "SKU-00002,5\n", "SKU-00003,1\n"]
    assert import_stock(store, read_records("stock", "csv", counts)).new == 0  # rows existed
    with store.read() as conn:
        assert dict(conn.execute(select(stock.c.sku, stock.c.on_hand)).all()) == {
            "SKU-00001": 40,
            "SKU-00002": 5,
            "SKU-00003": 1,
        }


def order_row(store: Store, ref: str):  # type: ignore[no-untyped-def]
    with store.read() as conn:
        row = conn.execute(select(orders).where(orders.c.shop_ref == ref)).mappings().one()
        lines = conn.execute(
            select(order_lines.c.sku, order_lines.c.quantity, order_lines.c.vat_rate_bp)
            .where(order_lines.c.order_id == row["id"])
            .order_by(order_lines.c.position)
        ).all()
    return row, [tuple(line) for line in lines]


def test_r1_r4_the_readme_example_goes_in_and_shows_in_the_queue_and_the_search(store):
    readme_shop(store)
    summary = orders_in(store, readme_block("json", "### Orders (JSON Lines)"))
    assert (summary.new, summary.refused) == (2, [])
    row, lines = order_row(store, "WEB-10023")
    assert (row["status"], row["customer_name"], row["language"], row["value_minor"]) == (
        "order",
        "Anna Andersson",
        "sv",
        2 * 14900 + 29900,
    )
    assert lines == [("SKU-00001", 2, 2500), ("SKU-00002", 1, 2500)]
    assert row["placed_at"] == datetime(2026, 12, 1, 8, 14, tzinfo=UTC)
    assert row["paid"] is True and row["waiting"] is False
    assert order_row(store, "WEB-10024")[0]["status"] == "preorder"
    # R4: found by a piece of the customer's name, through the order-text index.
    with store.read() as conn:
        page = search_orders(conn, parse_query({"text": "andersso"}))
        on_the_day = search_orders(conn, parse_query({"from": "2026-12-01", "to": "2026-12-01"}))
    assert [r.id for r in page.rows] == [row["id"]]
    assert len(on_the_day.rows) == 2
    # R6/R9: paid and in stock, the pack script moves it; it is in the outbound queue.
    run_once(store, station="bench-1", trigger="cli")
    with store.read() as conn:
        assert [q.id for q in outbound_queue(conn)] == [row["id"]]


def test_r1_the_readme_csv_is_the_same_orders_as_its_json_lines(store):
    readme_shop(store)
    assert orders_in(store, readme_block("json", "### Orders (JSON Lines)")).new == 2
    again = orders_in(store, readme_block("csv", "### Orders (CSV)"), "csv")
    assert (again.new, again.updated, again.unchanged, again.refused) == (0, 0, 2, [])


def test_r2_the_same_file_twice_changes_nothing_and_a_changed_order_is_updated(store):
    readme_shop(store)
    first = readme_block("json", "### Orders (JSON Lines)")
    orders_in(store, first)
    before = order_row(store, "WEB-10023")
    again = orders_in(store, first)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)
    assert order_row(store, "WEB-10023") == before
    changed = [first[0].replace('"quantity": 2', '"quantity": 3'), first[1]]
    summary = orders_in(store, changed)
    assert (summary.updated, summary.unchanged) == (1, 1)
    row, lines = order_row(store, "WEB-10023")
    assert lines[0] == ("SKU-00001", 3, 2500)
    assert row["value_minor"] == 3 * 14900 + 29900


def test_r2_a_shipped_order_is_refused_with_the_reason_and_the_rest_goes_in(store):
    readme_shop(store)
    first = readme_block("json", "### Orders (JSON Lines)")
    orders_in(store, first)
    run_once(store, station="bench-1", trigger="cli")
    order_id = order_row(store, "WEB-10023")[0]["id"]
    ship(store, order_id, ["00373000010000000011"], station="bench-1")
    new_line = first[1].replace("WEB-10024", "WEB-10025")
    changed = [first[0].replace('"comment": "', '"comment": "Ny: '), new_line]
    summary = orders_in(store, changed)
    assert (summary.new, summary.updated) == (1, 0)
    [refused] = summary.refused
    assert (refused.at, refused.key) == (1, "WEB-10023")
    assert "is shipped" in refused.reasons[0]
    assert order_row(store, "WEB-10023")[0]["comment"] == "Lämna vid dörren, tack."


def test_r2_a_packing_order_takes_no_new_line_but_gives_back_stock_it_no_longer_needs(store):
    readme_shop(store)
    first = readme_block("json", "### Orders (JSON Lines)")
    orders_in(store, first)
    run_once(store, station="bench-1", trigger="cli")
    with store.read() as conn:
        reserved = dict(conn.execute(select(stock.c.sku, stock.c.reserved)).all())
    assert reserved["SKU-00001"] == 2
    added = first[0].replace(
        '"lines": [',
        '"lines": [{"sku": "SKU-00003", "name": "Kaffemugg", "quantity": 1, "price": 1}, ',
    )
    refused = orders_in(store, [added]).refused
    assert len(refused) == 1 and "already packing" in refused[0].reasons[0]
    fewer = first[0].replace('"quantity": 2', '"quantity": 1')
    assert orders_in(store, [fewer]).updated == 1
    with store.read() as conn:
        reserved = dict(conn.execute(select(stock.c.sku, stock.c.reserved)).all())
    assert reserved["SKU-00001"] == 1
    assert order_row(store, "WEB-10023")[0]["status"] == "packing"


def test_r1_a_preorder_becomes_an_order_and_never_goes_back(store):
    readme_shop(store)
    first = readme_block("json", "### Orders (JSON Lines)")
    orders_in(store, first)
    completed = (
        first[1]
        .replace('"status": "preorder"', '"status": "order"')
        .replace(
            '"country": "NO"',
            '"customer_name": "Ola Nordmann", "street": "Storgata 1", "postcode": "0155", '
            '"city": "Oslo", "country": "NO"',
        )
    )
    assert orders_in(store, [completed]).updated == 1
    assert order_row(store, "WEB-10024")[0]["status"] == "order"
    refused = orders_in(store, [first[1]]).refused
    assert "cannot become preorder" in refused[0].reasons[0]


def test_bad_records_are_refused_field_by_field_and_never_stop_the_rest(store):
    readme_shop(store)
    good = readme_block("json", "### Orders (JSON Lines)")[0]
    lines = [
        "not json at all\n",
        '{"ref": "WEB-1", "placed_at": "2026-12-01T09:14:00", "country": "SE", '
        '"lines": [{"sku": "A", "name": "x", "quantity": 0, "price": "1.234"}]}\n',
        "[1, 2]\n",
        good,
    ]
    summary = orders_in(store, lines)
    assert summary.new == 1
    assert [r.at for r in summary.refused] == [1, 2, 3]
    fields = {e.field for e in summary.refused[1].fields}
    assert {"placed_at", "currency", "lines[0].quantity", "lines[0].price"} <= fields
    assert "not a JSON object" in summary.refused[0].reasons[0]


def test_a_csv_with_a_header_of_another_kind_says_where():
    with pytest.raises(FileFormatError, match=r"line 1: .*'quantity'"):
        list(read_records("orders", "csv", ["sku,quantity\n", "A,1\n"]))


def test_r7_stock_below_what_packing_orders_hold_is_refused(store):
    readme_shop(store)
    orders_in(store, readme_block("json", "### Orders (JSON Lines)"))
    run_once(store, station="bench-1", trigger="cli")
    counts = ["sku,on_hand\n", "SKU-00001,1\n", "SKU-00002,7\n", "SKU-99999,1\n"]
    summary = import_stock(store, read_records("stock", "csv", counts))
    assert summary.updated == 1
    assert [(r.at, r.key) for r in summary.refused] == [(2, "SKU-00001"), (4, "SKU-99999")]
    assert "2 of SKU-00001 are reserved" in summary.refused[0].reasons[0]
