"""The kiosk's read side (store/reads): each page's read, on SQLite and PostgreSQL — R4, R5,
R9, R13 — and the store's answer when another station changed the own statuses first (R5)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select, update

from stationd.core.orders import Document, OwnStatus
from stationd.core.search import parse_query
from stationd.store.order_contents import shelf_locations
from stationd.store.order_details import order_address
from stationd.store.own_statuses import OwnStatusConflict, insert_own_status, list_own_statuses
from stationd.store.print_queue import enqueue
from stationd.store.reads.orders import (
    found_orders,
    order_exists,
    order_known,
    order_view,
    own_statuses,
    own_statuses_with_use,
)
from stationd.store.reads.outbound_queue import outbound_queue_changes, outbound_queue_page
from stationd.store.reads.print_jobs import print_job, printer_jobs
from stationd.store.reads.ship_out import (
    ShipOutChanges,
    kept_parcel_ids,
    ship_out_changes,
    ship_out_page,
)
from stationd.store.tables import order_lines
from stationd.store.tables import own_statuses as own_statuses_table


def test_r9_queue_page_lists_packing_orders_with_documents_waiting_at_a_printer(store, shop):
    shop.product("A")
    first = shop.order([("A", 1)], status="packing")
    second = shop.order([("A", 2)], status="packing")
    shop.order([("A", 1)], status="packing", waiting=True)  # R3: kept out of the queue
    shop.order([("A", 1)])  # not packing yet
    with store.write() as conn:
        enqueue(conn, "receipt", Document.PICKLIST.value, b"pick", first)

    page = outbound_queue_page(store, size=1, choose=lambda pages: pages)

    assert (page.total, page.pages, page.page) == (2, 2, 2)
    assert [row.id for row in page.rows] == [second]
    whole = outbound_queue_page(store, size=10, choose=lambda pages: 1)
    assert [row.id for row in whole.rows] == [first, second]
    assert whole.waiting == {first: {Document.PICKLIST}}


def test_r9_queue_changes_when_an_order_joins_it(store, shop):
    shop.product("A")
    before = outbound_queue_changes(store)
    shop.order([("A", 1)], status="packing")
    assert outbound_queue_changes(store) != before


def test_r4_order_view_holds_the_order_its_header_and_the_own_statuses(store, shop):
    shop.product("A")
    order_id = shop.order([("A", 3)], customer="Berit Berg", comment="Ring på")
    with store.write() as conn:
        insert_own_status(conn, OwnStatus(None, "VIP", "Stamkund"))

    view = order_view(store, order_id, history_rows=10)

    assert view is not None
    assert [(line.sku, line.quantity) for line in view.order.lines] == [("A", 3)]
    assert view.header is not None and view.header.customer_name == "Berit Berg"
    assert [s.code for s in view.own_statuses] == ["VIP"]
    assert view.deliveries == [] and view.scans == []
    assert order_view(store, 999_999, history_rows=10) is None
    assert order_exists(store, order_id) and order_known(store, order_id)
    assert not order_exists(store, 999_999) and not order_known(store, 999_999)


def test_r4_search_reads_through_the_read_side(store, shop):
    from datetime import UTC

    shop.product("A")
    shop.order([("A", 1)], customer="Cecilia Ek")
    shop.order([("A", 1)], customer="David Dahl")
    page = found_orders(store, parse_query({"text": "Cecilia"}), UTC)
    assert [row.customer_name for row in page.rows] == ["Cecilia Ek"]


def test_r5_own_statuses_with_how_many_orders_carry_them(store, shop):
    with store.write() as conn:
        insert_own_status(conn, OwnStatus(None, "GIFT", "Presentinslagning"))
    assert [s.code for s in own_statuses(store)] == ["GIFT"]
    assert [(s.status.code, s.orders) for s in own_statuses_with_use(store)] == [("GIFT", 0)]


def test_r5_a_code_taken_meanwhile_is_a_conflict_and_adds_nothing(store):
    with store.write() as conn:
        insert_own_status(conn, OwnStatus(None, "VIP", "Stamkund"))
    with pytest.raises(OwnStatusConflict), store.write() as conn:
        insert_own_status(conn, OwnStatus(None, "VIP", "Someone else's"))
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(own_statuses_table)).scalar() == 1
        assert [s.name for s in list_own_statuses(conn)] == ["Stamkund"]


def test_r20_printer_jobs_show_what_waits_per_printer(store, shop):
    with store.write() as conn:
        job = enqueue(conn, "receipt", "receipt", b"bytes", None)
    jobs = printer_jobs(store, ["receipt", "label"], finished=5)
    assert [j.id for j in jobs["receipt"].waiting] == [job]
    assert jobs["label"].waiting == [] and jobs["receipt"].finished == []
    assert print_job(store, job).payload == b"bytes"
    assert print_job(store, job + 1000) is None


def test_r13_ship_out_page_is_empty_with_nothing_packed(store, shop):
    shop.product("A")
    order_id = shop.order([("A", 1)], status="packing")
    page = ship_out_page(store, size=10, choose=lambda pages: 1)
    assert (page.orders, page.total, page.pages, page.page) == ([], 0, 1, 1)
    assert kept_parcel_ids(store, order_id) == []


def test_r11_shelf_locations_and_the_customer_address_for_paper(store, shop):
    shop.product("A", location="B-02-3")
    shop.product("B", location="A-01-1")
    order_id = shop.order([("A", 1)], customer="Eva Ek")
    with store.read() as conn:
        assert shelf_locations(conn, ["A", "B", "A"]) == {"A": "B-02-3", "B": "A-01-1"}
        assert shelf_locations(conn, []) == {}
        address = order_address(conn, order_id)
    assert (address.name, address.city) == ("Eva Ek", "Göteborg")


def test_r13_open_ship_out_pages_share_one_mark_a_change_asks_for_a_fresh_one(store, shop):
    # issue 10 item 13: N open ship-out pages look for changes with one query, not N.
    shop.product("A", on_hand=5)
    order_id = shop.order([("A", 2)], status="packing")
    made = []

    def counted(s):  # type: ignore[no-untyped-def]
        made.append(ship_out_changes(s))
        return made[-1]

    changes = ShipOutChanges(store, counted)
    first = changes.mark(not_before=time.monotonic())
    for _page in range(10):  # ten pages' rechecks within the interval
        assert changes.mark(not_before=time.monotonic() - 2.0) == first
    assert len(made) == 1
    with store.write() as conn:
        conn.execute(update(order_lines).where(order_lines.c.order_id == order_id).values(packed=1))
    # A page told of the change asks for a mark made from now on: it sees the packed order.
    assert changes.mark(not_before=time.monotonic()) != first
    assert len(made) == 2
