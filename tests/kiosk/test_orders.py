"""The orders pages (R2–R5) through Flask's test client: the list and its search, one order
with everything about it, and the changes made there — asserted on the page text and the rows
in the database, with a 4xx sentence for every bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from sqlalchemy import func, insert, select, update

from stationd.demo import ean13
from stationd.events import OrderChanged
from stationd.services.report_in import ship
from stationd.store.tables import events, order_lines, orders, own_statuses, stock

HX = {"HX-Request": "true"}
RESULTS = {"HX-Request": "true", "HX-Target": "orders-results"}
ORDER = {"HX-Request": "true", "HX-Target": "order"}


@pytest.fixture
def station(station_on_each_engine):
    """The order pages read orders by status and text, indexed differently on each engine."""
    return station_on_each_engine


def text_of(response) -> str:
    """What a person reads: the page without tags, whitespace folded."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def value(store, table, column, *where):
    with store.read() as conn:
        return conn.execute(select(column).where(*where)).scalar_one()


def reserved(store, sku: str) -> int:
    return value(store, stock, stock.c.reserved, stock.c.sku == sku)


def kinds(store, order_id: int) -> list[str]:
    with store.read() as conn:
        return list(
            conn.execute(
                select(events.c.kind).where(events.c.order_id == order_id).order_by(events.c.id)
            ).scalars()
        )


def add_own_status(store, status_id: int, code: str, name: str) -> None:
    with store.write() as conn:
        conn.execute(insert(own_statuses).values(id=status_id, code=code, name=name))


# --- the list (R4) ---------------------------------------------------------------------------


def test_r4_order_list_shows_id_date_customer_status_value_and_comment(client, station):
    add_own_status(station.store, 3, "GIFT", "Present <i>wrap</i>")
    with station.store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == 1042).values(own_status_id=3))
    response = client.get("/orders")
    page = text_of(response)
    assert response.status_code == 200
    assert "1044" in page and "1043" in page and "1042" in page
    assert page.index("1044") < page.index("1043") < page.index("1042")  # newest first
    assert "01/11/2026, 18:22" in page  # order 1042, placed 17:22 UTC, in Stockholm time
    assert "SEK198.00" in page and "Ring & fråga" in page
    assert "Packing" in page and "Waiting" in page and "Present <i>wrap</i>" in page
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<i>wrap</i>" not in html
    assert "3 orders match" in page


def test_r4_search_box_finds_by_name_and_htmx_gets_only_the_results(client):
    response = client.get("/orders?q=öberg", headers=RESULTS)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and 'id="orders-search"' not in html
    assert 'id="order-1042"' in html and 'id="order-1043"' not in html
    assert "1 order matches" in text_of(response)


def test_r4_search_by_order_number_and_nothing_found(client):
    assert 'id="order-1043"' in client.get("/orders?q=1043").get_data(as_text=True)
    page = text_of(client.get("/orders?q=Zlatan"))
    assert "No order matches the search." in page and "0 orders match" in page


def test_r4_scanning_a_pick_list_into_the_search_opens_the_order(client):
    response = client.get("/orders?q=ORD-1042")
    assert response.status_code == 303 and response.location.endswith("/orders/1042")
    htmx = client.get("/orders?q=ORD-1042", headers=RESULTS)
    assert htmx.headers["HX-Redirect"] == "/orders/1042"
    # An order that isn't there: the list says so instead.
    assert "No order matches" in text_of(client.get("/orders?q=ORD-999"))


def test_r4_extended_search_toggle_reveals_every_criterion(client):
    plain = client.get("/orders").get_data(as_text=True)
    names = ("from", "to", "status", "own", "payment", "min", "max", "comment", "waiting")
    assert not any(f'name="{n}"' in plain for n in names)
    assert 'href="/orders?extended=1"' in plain
    extended = client.get("/orders?extended=1").get_data(as_text=True)
    for name in (*names, "item", "parcel"):
        assert f'name="{name}"' in extended, name
    assert 'href="/orders"' in extended  # the toggle closes it again
    # A shared link with extended criteria opens the form with them in it.
    shared = client.get("/orders?waiting=yes").get_data(as_text=True)
    assert '<option value="yes" selected>' in shared and 'id="order-1043"' in shared


def test_r4_extended_criteria_narrow_the_list(client, station):
    add_own_status(station.store, 5, "VIP", "Stamkund")
    with station.store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == 1044).values(own_status_id=5))
    found = {
        "waiting=yes": ["1043"],
        "status=order": ["1044"],
        "status=packing&waiting=no": ["1042"],
        "own=5": ["1044"],
        "comment=yes": ["1042"],
        "min=100&max=198": ["1042"],
        "max=99": ["1044", "1043"],
        "from=2026-11-01&to=2026-11-01": ["1044", "1043", "1042"],
        "from=2026-11-02": [],
        "payment=own_invoice": [],
        "item=A": ["1044", "1043", "1042"],
        "q=öberg&status=order": [],
    }
    for query, expected in found.items():
        html = client.get(f"/orders?extended=1&{query}").get_data(as_text=True)
        assert re.findall(r'id="order-(\d+)"', html) == expected, query


def test_r4_tracking_id_and_ean_find_the_shipped_order(client, station):
    ship(station.store, 1042, ["RR473124829SE"], station="kiosk-test")
    html = client.get("/orders?extended=1&parcel=rr473124829se").get_data(as_text=True)
    assert re.findall(r'id="order-(\d+)"', html) == ["1042"]
    ean = ean13(1)  # product A's EAN-13
    html = client.get(f"/orders?extended=1&item={ean}&status=shipped").get_data(as_text=True)
    assert re.findall(r'id="order-(\d+)"', html) == ["1042"]


def test_r4_query_lives_in_the_url_and_paging_keeps_it(client, station, make_shop):
    shop = make_shop(station.store)
    for _ in range(30):
        shop.order([("A", 1)], customer="Åsa Ek")
    first = client.get("/orders?q=%C3%85sa+Ek")
    html = first.get_data(as_text=True)
    older = re.search(r'href="(/orders\?[^"]*after=\d+[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "q=%C3%85sa+Ek" in older
    assert 'hx-push-url="true"' in html
    second = client.get(older, headers=RESULTS).get_data(as_text=True)
    shown = re.findall(r'id="order-(\d+)"', html) + re.findall(r'id="order-(\d+)"', second)
    assert len(shown) == 30 and len(set(shown)) == 30
    assert "Newer" in second and "Older" not in second


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        ("from=2026-13-40", "Placed from: a date like 2026-11-01"),
        ("min=500&max=100", "Value to: the highest value is below the lowest"),
        ("min=abc", "Value from: an amount like 199 or 1 234,50"),
        ("from=2026-11-05&to=2026-11-01", "Placed to: the end date is before the start date"),
        ("status=lost", "Status: one of preorder, order, packing, shipped"),
        ("own=x", "Own status: an own status number"),
        ("waiting=perhaps", "Waiting: yes or no"),
        ("q=ab", "Search: an order number, or at least 3 letters"),
        ("after=9x", "Page: an order number"),
        ("item=" + "9" * 41, "SKU or EAN: a SKU or EAN of at most 40 characters"),
    ],
)
def test_r4_bad_criteria_give_the_form_again_with_the_sentence(client, query, sentence):
    plain = client.get(f"/orders?extended=1&{query}")
    assert plain.status_code == 400
    page = text_of(plain)
    assert sentence in page and 'id="orders-search"' in plain.get_data(as_text=True)
    assert "The search can't be made" in page
    htmx = client.get(f"/orders?extended=1&{query}", headers=RESULTS)
    assert htmx.status_code == 400 and sentence in text_of(htmx)
    assert 'role="alert"' in htmx.get_data(as_text=True)


def test_r4_unknown_parameters_and_very_long_values_are_no_500(client):
    assert client.get("/orders?nonsense=1&q=" + "x" * 5000).status_code == 400
    assert client.get("/orders?page_size=100000").status_code == 200


# --- one order -------------------------------------------------------------------------------


def test_order_page_shows_lines_deliveries_parcel_ids_scans_and_history(client, station):
    assert client.post("/bench/scan", data={"code": "ORD-1042"}).status_code == 303
    line_a = value(station.store, order_lines, order_lines.c.id, order_lines.c.order_id == 1042)
    ship(
        station.store,
        1042,
        ["RR473124829SE"],
        station="kiosk-test",
        quantities={line_a: 1},
        weight_g=1250,
    )
    response = client.get("/orders/1042")
    page = text_of(response)
    assert response.status_code == 200
    assert "Order 1042" in page and "Packing" in page
    assert "Storgatan 12" in page and "Göteborg" in page and "Card · paid" in page
    assert "Termos <b>blå</b>" in page and "<b>blå</b>" not in response.get_data(as_text=True)
    assert "RR473124829SE" in page and "1250 g" in page and "1 × A" in page
    assert "ORD-1042" in page  # the scan, from the scan journal
    assert "Partial delivery reported in (RR473124829SE)." in page  # the audit trail
    assert "Ring & fråga" in page


def test_order_page_history_is_newest_first_in_sentences(client, station):
    client.post("/orders/1044/waiting", data={"waiting": "1"})
    client.post("/orders/1044/waiting", data={})
    page = text_of(client.get("/orders/1044"))
    assert page.index("Waiting cleared.") < page.index("Set waiting: kept out of the outbound")


def test_unknown_order_is_a_404_with_a_sentence(client):
    response = client.get("/orders/99999")
    assert response.status_code == 404 and "There is no order 99999." in text_of(response)
    assert client.post("/orders/99999/waiting", data={"waiting": "1"}).status_code == 404
    assert client.get("/orders/abc").status_code == 404


# --- R3: waiting -----------------------------------------------------------------------------


def test_r3_waiting_checkbox_takes_the_order_out_of_the_queue_and_back(client, station):
    assert 'id="order-1042"' in client.get("/queue").get_data(as_text=True)
    with station.bus.queue(OrderChanged) as changes:
        response = client.post("/orders/1042/waiting", data={"waiting": "1"}, headers=ORDER)
        assert changes.get(timeout=1) == OrderChanged(1042, "waiting")
    assert response.status_code == 200
    assert "Order 1042 is waiting: it stays out of the outbound queue." in text_of(response)
    assert 'data-sound="ok"' in response.get_data(as_text=True)
    assert 'id="order-1042"' not in client.get("/queue").get_data(as_text=True)
    assert value(station.store, orders, orders.c.status, orders.c.id == 1042) == "packing"
    client.post("/orders/1042/waiting", data={}, headers=ORDER)
    assert 'id="order-1042"' in client.get("/queue").get_data(as_text=True)
    assert kinds(station.store, 1042) == ["order.waiting", "order.waiting"]


@pytest.mark.parametrize("sent", ["maybe", "2", "waiting"])
def test_r3_a_waiting_value_it_does_not_know_is_refused_and_changes_nothing(client, station, sent):
    client.post("/orders/1042/waiting", data={"waiting": "1"}, headers=ORDER)
    refused = client.post("/orders/1042/waiting", data={"waiting": sent}, headers=ORDER)
    assert refused.status_code == 400 and "reload the page" in text_of(refused)
    assert value(station.store, orders, orders.c.waiting, orders.c.id == 1042) is True
    assert kinds(station.store, 1042) == ["order.waiting"]


def test_r3_setting_the_waiting_flag_it_already_has_writes_no_event(client, station):
    for _ in range(2):
        response = client.post("/orders/1042/waiting", data={"waiting": "true"}, headers=ORDER)
        assert response.status_code == 200
    client.post("/orders/1042/waiting", data={}, headers=ORDER)
    client.post("/orders/1042/waiting", data={"waiting": "0"}, headers=ORDER)
    assert kinds(station.store, 1042) == ["order.waiting", "order.waiting"]


def test_r3_shipped_order_cannot_be_set_waiting_and_the_page_says_why(client, station):
    ship(station.store, 1042, ["RR473124829SE"], station="kiosk-test")
    html = client.get("/orders/1042").get_data(as_text=True)
    assert re.search(r'name="waiting" value="1"\s+disabled', html)
    assert "Order 1042 is shipped; there is nothing to wait for." in text_of(
        client.get("/orders/1042")
    )
    refused = client.post("/orders/1042/waiting", data={"waiting": "1"}, headers=ORDER)
    assert refused.status_code == 409 and "nothing to wait for" in text_of(refused)
    assert value(station.store, orders, orders.c.waiting, orders.c.id == 1042) is False


# --- R2: contents ----------------------------------------------------------------------------


def line_id(store, order_id: int, sku: str) -> int:
    return value(
        store,
        order_lines,
        order_lines.c.id,
        order_lines.c.order_id == order_id,
        order_lines.c.sku == sku,
    )


def test_r2_lowering_a_packing_line_gives_its_stock_back_and_is_audited(client, station):
    store = station.store
    line = line_id(store, 1042, "A")
    assert reserved(store, "A") == 2
    response = client.post(
        f"/orders/1042/lines/{line}/quantity", data={"quantity": "1"}, headers=ORDER
    )
    assert response.status_code == 200 and "A: quantity 1 saved." in text_of(response)
    assert value(store, order_lines, order_lines.c.quantity, order_lines.c.id == line) == 1
    assert reserved(store, "A") == 1
    assert value(store, orders, orders.c.value_minor, orders.c.id == 1042) == 9900
    assert kinds(store, 1042) == ["order.line_quantity"]
    assert "Quantity of A changed from 2 to 1. 1 back in stock." in text_of(
        client.get("/orders/1042")
    )


def test_r2_packing_line_cannot_grow_and_nothing_changes(client, station):
    store = station.store
    line = line_id(store, 1042, "A")
    refused = client.post(
        f"/orders/1042/lines/{line}/quantity", data={"quantity": "3"}, headers=ORDER
    )
    assert refused.status_code == 409
    assert "already packing with stock reserved for 2 of A" in text_of(refused)
    assert value(store, order_lines, order_lines.c.quantity, order_lines.c.id == line) == 2
    assert reserved(store, "A") == 2 and kinds(store, 1042) == []
    page = client.get("/orders/1042").get_data(as_text=True)
    assert 'max="2"' in page and "at most 2 while packing" in text_of(client.get("/orders/1042"))


def test_r2_removing_a_packing_line_gives_its_stock_back(client, station, make_shop):
    store = station.store
    make_shop(store).product("B", on_hand=5, number=2)
    order_id = make_shop(store).order([("A", 1), ("B", 2)], status="packing", reserve=True)
    line = line_id(store, order_id, "B")
    response = client.post(f"/orders/{order_id}/lines/{line}/remove", headers=ORDER)
    assert response.status_code == 200 and "The line was removed." in text_of(response)
    assert reserved(store, "B") == 0
    with store.read() as conn:
        left = conn.execute(
            select(order_lines.c.sku).where(order_lines.c.order_id == order_id)
        ).scalars()
        assert list(left) == ["A"]
    assert kinds(store, order_id) == ["order.line_removed"]


def test_r2_last_line_and_packed_lines_stay_with_the_reason_shown(client, station):
    store = station.store
    page = text_of(client.get("/orders/1044"))
    assert "Line A is the order's last line; it can't be removed." in page
    line = line_id(store, 1044, "A")
    refused = client.post(f"/orders/1044/lines/{line}/remove", headers=ORDER)
    assert refused.status_code == 409 and "last line" in text_of(refused)
    with store.write() as conn:
        conn.execute(update(order_lines).where(order_lines.c.order_id == 1042).values(packed=1))
    assert "Line A has 1 packed or delivered; it can't be removed." in text_of(
        client.get("/orders/1042")
    )


def test_r2_a_line_is_added_by_ean_in_order_state(client, station, make_shop):
    store = station.store
    ean = make_shop(store).product("C", on_hand=5, name="Kaffemugg", number=3)
    response = client.post("/orders/1044/lines", data={"code": ean, "quantity": "2"}, headers=ORDER)
    assert response.status_code == 200 and "C × 2 added." in text_of(response)
    assert value(store, orders, orders.c.value_minor, orders.c.id == 1044) == 9900 * 3
    assert reserved(store, "C") == 0  # not packing: the pack script reserves it when it moves
    assert kinds(store, 1044) == ["order.line_added"]
    unknown = client.post(
        "/orders/1044/lines", data={"code": "NOPE", "quantity": "1"}, headers=ORDER
    )
    assert unknown.status_code == 409 and "No product has the SKU or EAN NOPE." in text_of(unknown)


def test_r2_no_new_line_once_packing_and_the_form_says_why(client, station):
    html = client.get("/orders/1042").get_data(as_text=True)
    assert "<fieldset disabled>" in html
    assert "already packing: change quantities of its lines instead" in text_of(
        client.get("/orders/1042")
    )
    refused = client.post("/orders/1042/lines", data={"code": "A", "quantity": "1"}, headers=ORDER)
    assert refused.status_code == 409
    with station.store.read() as conn:
        count = conn.execute(
            select(func.count()).select_from(order_lines).where(order_lines.c.order_id == 1042)
        ).scalar_one()
    assert count == 1


@pytest.mark.parametrize("status", ["preorder", "shipped"])
def test_r2_contents_are_locked_outside_order_and_packing_with_the_reason(
    client, station, make_shop, status
):
    store = station.store
    order_id = make_shop(store).order([("A", 2)], status=status)
    response = client.get(f"/orders/{order_id}")
    html = response.get_data(as_text=True)
    assert f"Order {order_id} is {status}: its contents can only be changed while it is" in text_of(
        response
    )
    # The controls stand there, disabled, under the reason.
    assert re.search(r'name="quantity" value="2"[^>]*disabled', html)
    assert re.search(r'class="danger" disabled', html) and "<fieldset disabled>" in html
    line = line_id(store, order_id, "A")
    refused = client.post(f"/orders/{order_id}/lines/{line}/quantity", data={"quantity": "1"})
    assert refused.status_code == 409 and f"Order {order_id} is {status}" in text_of(refused)
    assert value(store, order_lines, order_lines.c.quantity, order_lines.c.id == line) == 2
    htmx = client.post(f"/orders/{order_id}/lines/{line}/remove", headers=ORDER)
    assert htmx.status_code == 409 and 'role="alert"' in htmx.get_data(as_text=True)
    assert kinds(store, order_id) == []


@pytest.mark.parametrize("bad", ["", "abc", "-1", "1.5", "1e3", "0", "99999999"])
def test_r2_a_quantity_that_is_no_whole_number_is_a_400_or_409(client, station, bad):
    line = line_id(station.store, 1044, "A")
    response = client.post(f"/orders/1044/lines/{line}/quantity", data={"quantity": bad})
    assert response.status_code in (400, 409)
    assert "quantity" in text_of(response).lower()


def test_bad_own_status_and_missing_code_are_400s(client):
    assert client.post("/orders/1042/own-status", data={"own_status": "x"}).status_code == 400
    missing = client.post("/orders/1042/own-status", data={"own_status": "77"})
    assert missing.status_code == 409 and "There is no own status 77" in text_of(missing)
    assert client.post("/orders/1044/lines", data={"quantity": "1"}).status_code == 400


def test_changes_need_the_csrf_token(station):
    client = station.app.test_client()
    assert client.post("/orders/1042/waiting", data={"waiting": "1"}).status_code == 403
    assert value(station.store, orders, orders.c.waiting, orders.c.id == 1042) is False


# --- R5: own statuses on orders ---------------------------------------------------------------


def test_r5_own_status_on_an_order_and_a_rename_shows_on_old_orders(client, station):
    client.post("/settings/own-statuses", data={"code": "gift", "name": "Presentinslagning"})
    status_id = value(station.store, own_statuses, own_statuses.c.id, own_statuses.c.code == "GIFT")
    response = client.post(
        "/orders/1043/own-status", data={"own_status": str(status_id)}, headers=ORDER
    )
    assert response.status_code == 200 and "GIFT – Presentinslagning" in text_of(response)
    ship(station.store, 1042, ["RR473124829SE"], station="kiosk-test")
    client.post("/orders/1042/own-status", data={"own_status": str(status_id)})
    client.post(f"/settings/own-statuses/{status_id}", data={"code": "GAVA", "name": "Gåva"})
    for order_id in (1042, 1043):  # 1042 shipped: an old order
        assert "GAVA – Gåva" in text_of(client.get(f"/orders/{order_id}"))
    listed = text_of(client.get(f"/orders?own={status_id}"))
    assert listed.count("Gåva") >= 2 and "Presentinslagning" not in listed
    # Taking it off again.
    client.post("/orders/1043/own-status", data={"own_status": ""})
    assert value(station.store, orders, orders.c.own_status_id, orders.c.id == 1043) is None
    assert kinds(station.store, 1043) == ["order.own_status", "order.own_status"]


def test_order_page_works_for_htmx_and_plain_forms(client):
    plain = client.post("/orders/1042/waiting", data={"waiting": "1"})
    assert plain.status_code == 303 and plain.location.endswith("/orders/1042")
    fragment = client.post("/orders/1042/waiting", data={}, headers=ORDER).get_data(as_text=True)
    assert "<html" not in fragment and "Order 1042" in fragment


def test_order_page_times_are_the_station_time(client, station):
    with station.store.write() as conn:
        conn.execute(
            update(orders)
            .where(orders.c.id == 1044)
            .values(placed_at=datetime(2026, 6, 1, 22, 30, tzinfo=UTC))
        )
    assert "02/06/2026, 00:30" in text_of(client.get("/orders/1044"))


def test_order_page_redraws_live_when_the_order_changes_elsewhere(client, station):
    from sse_stream import next_message, open_stream

    assert 'sse-connect="/orders/1042/events"' in client.get("/orders/1042").get_data(as_text=True)
    response, stream = open_stream(client, "/orders/1042/events")
    station.bus.publish(OrderChanged(1044, "packed"))  # another order: nothing to draw
    with station.store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == 1042).values(waiting=True))
    station.bus.publish(OrderChanged(1042, "waiting"))
    body = next_message(stream, "order")
    assert "Order 1042" in body and 'name="waiting" value="1" checked' in body
    station.stopping.set()
    response.close()
    assert client.get("/orders/99999/events").status_code == 404


def test_r4_the_order_page_shows_each_items_ean(client, station):
    """Issue 12, item 11: a demo user could not find an item's EAN on any page (SKU only)."""
    with station.store.read() as conn:
        gtin = conn.execute(
            select(order_lines.c.gtin).where(order_lines.c.order_id == 1042)
        ).scalar_one()
    page = text_of(client.get("/orders/1042"))
    assert gtin.startswith("0") and f"EAN {gtin[1:]}" in page
