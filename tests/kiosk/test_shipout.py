"""The ship-out page (R13–R15) through Flask's test client: what the packer sees, the rows in
the database, and the label bytes at the simulated label printer."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from stationd.carriers import ParcelBooking
from stationd.carriers.simulated import SimulatedCarrier
from stationd.config import settings_from_dict
from stationd.core.barcodes import s10_check_digit
from stationd.core.documents import Address
from stationd.events import ScanRead
from stationd.station import Station
from stationd.store.tables import deliveries, events, order_lines, orders, parcel_ids, print_jobs

HTMX = {"HX-Request": "true"}
GOOD_S10 = "RR473124829SE"
BAD_S10 = "RR473124828SE"  # the check digit should be 9


@pytest.fixture
def station(tmp_path: Path, make_shop):
    """Orders 1042 (fully packed), 1043 (half packed), 1044 (packed) ship; 1045 (nothing packed
    yet) and 1046 (waiting) don't. A simulated label printer, scale and carrier."""
    settings = settings_from_dict(
        {
            "station": {"name": "shipout-test", "state_dir": str(tmp_path), "language": "en"},
            "packscript": {"interval_min": 0},
            "kiosk": {"sse_heartbeat_s": 1},
            "printers": [{"name": "labels", "kind": "simulated"}],
            "print": {"label": "labels"},
            "scale": {
                "kind": "simulated",
                "tolerance_g": 50,
                "tolerance_pct": 5,
                "box_tare_g": 150,
            },
            "shipping": {"carrier": "simulated"},
        }
    )
    station = Station(settings)
    station.store.upgrade()
    shop = make_shop(station.store)
    shop.product("A", on_hand=20, name="Termos <b>blå</b>", number=1)
    shop.product("B", on_hand=20, name="Vantar röd", number=2)
    xss = "<script>alert('x')</script> Öberg"
    shop.order([("A", 2), ("B", 1)], status="packing", reserve=True, order_id=1042, customer=xss)
    shop.order([("A", 2)], status="packing", reserve=True, order_id=1043)
    shop.order([("B", 1)], status="packing", reserve=True, order_id=1044)
    shop.order([("A", 1)], status="packing", reserve=True, order_id=1045)
    shop.order([("A", 1)], status="packing", reserve=True, order_id=1046, waiting=True)
    with station.store.write() as conn:
        conn.execute(update(order_lines).values(packed=order_lines.c.quantity))
        conn.execute(update(order_lines).where(order_lines.c.order_id == 1043).values(packed=1))
        conn.execute(update(order_lines).where(order_lines.c.order_id == 1045).values(packed=0))
    station.printing.start()
    station.scale.start()
    yield station
    station.scale.stop()
    station.printing.stop()
    station.store.dispose()


def lines_of(station: Station, order_id: int) -> dict[str, int]:
    """Line id by SKU, for the form's field names."""
    with station.store.read() as conn:
        rows = conn.execute(
            select(order_lines.c.sku, order_lines.c.id).where(order_lines.c.order_id == order_id)
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def row(station: Station, order_id: int, parcels=(), qty=None, weight="", confirm=False) -> dict:
    """The fields of one order's row as the page posts them (four parcel fields)."""
    ids = lines_of(station, order_id)
    with station.store.read() as conn:
        packed = dict(
            conn.execute(
                select(order_lines.c.sku, order_lines.c.packed).where(
                    order_lines.c.order_id == order_id
                )
            ).all()
        )
    fields = {
        "order": [str(order_id)],
        f"parcel-{order_id}": (list(parcels) + [""] * 4)[: max(4, len(parcels))],
        f"weight-{order_id}": [weight],
    }
    for sku, line_id in ids.items():
        fields[f"qty-{order_id}-{line_id}"] = [str((qty or {}).get(sku, packed[sku]))]
    if confirm:
        fields[f"confirm-{order_id}"] = ["1"]
    return fields


def form(*rows: dict) -> dict:
    merged: dict[str, list[str]] = {"page": ["1"]}
    for fields in rows:
        for key, values in fields.items():
            merged.setdefault(key, []).extend(values)
    return merged


def status_of(station: Station, order_id: int) -> str:
    with station.store.read() as conn:
        return conn.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar_one()


def count(station: Station, table) -> int:
    with station.store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def labels(station: Station, n: int) -> list[bytes]:
    printer = station.printers["labels"]
    assert printer.wait_for(n, timeout=5), f"{len(printer.printed)} of {n} labels printed"
    return printer.printed


def outcome(page: str, order_id: int) -> str:
    """The text of the outcome report-in shows for one order, as the packer reads it."""
    found = re.search(
        rf'<div class="outcome [a-z]+" id="outcome-{order_id}">(.*?)</div>', page, re.S
    )
    assert found, f"no outcome for order {order_id}"
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split()))


def nothing_changed(station: Station) -> None:
    assert count(station, deliveries) == 0
    assert count(station, parcel_ids) == 0
    assert count(station, print_jobs) == 0
    assert [status_of(station, i) for i in (1042, 1043, 1044)] == ["packing"] * 3


# --- the list ----------------------------------------------------------------------------------


def test_r13_lists_packed_orders_oldest_first_with_four_parcel_fields(client):
    page = client.get("/shipout").get_data(as_text=True)
    assert (
        page.index('id="order-1042"')
        < page.index('id="order-1043"')
        < page.index('id="order-1044"')
    )
    assert 'id="order-1045"' not in page  # nothing packed yet
    assert 'id="order-1046"' not in page  # waiting (R3)
    assert "3 packed orders" in page
    assert page.count('name="parcel-1042"') == 4
    assert page.count('class="parcel-slot" hidden') == 9  # one field on show per order
    assert "Fetch from carrier" in page


def test_r14_delivery_form_proposes_what_is_packed_and_allows_no_more_than_is_left(client, station):
    page = client.get("/shipout").get_data(as_text=True)
    line = lines_of(station, 1043)["A"]
    field = re.search(rf'<input class="qty"[^>]*name="qty-1043-{line}"[^>]*>', page).group()
    # Order 1043: 2 ordered, 1 packed → 1 proposed, at most 2.
    assert 'value="1"' in field and 'min="0"' in field and 'max="2"' in field


def test_the_bench_link_selects_the_order_it_packed(client):
    assert 'data-selected="1043"' in client.get("/shipout?order=1043").get_data(as_text=True)
    for garbage in ("x", "<b>", "-1", "9" * 40):
        page = client.get("/shipout", query_string={"order": garbage}).get_data(as_text=True)
        assert 'data-selected=""' in page


def test_customer_and_product_text_is_escaped(client):
    page = client.get("/shipout").get_data(as_text=True)
    assert "<script>alert" not in page and "<b>blå" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Öberg" in page


def test_htmx_gets_the_list_fragment_a_plain_request_the_page(client):
    fragment = client.get("/shipout", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and 'id="order-1042"' in fragment
    assert "<html" in client.get("/shipout").get_data(as_text=True)


def test_the_list_is_paginated(client, station, make_shop):
    shop = make_shop(station.store)
    for order_id in range(2000, 2012):
        shop.order([("A", 1)], status="packing", order_id=order_id)
    with station.store.write() as conn:
        conn.execute(update(order_lines).where(order_lines.c.order_id >= 2000).values(packed=1))
    first = client.get("/shipout").get_data(as_text=True)
    second = client.get("/shipout?page=2").get_data(as_text=True)
    assert "Page 1 of 2" in first and 'id="order-1042"' in first
    assert 'id="order-2011"' in second and 'id="order-1042"' not in second
    assert 'id="order-1042"' in client.get("/shipout?page=abc").get_data(as_text=True)


# --- report in ---------------------------------------------------------------------------------


def test_r15_full_delivery_ships_the_order_and_prints_a_label_per_parcel(client, station):
    response = client.post(
        "/shipout/report", data=form(row(station, 1042, [GOOD_S10, "1Z999AA10123456784"]))
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert outcome(page, 1042) == (
        # Issue 12: "shipped — Shipped with …" said it twice.
        f"Order 1042: Shipped with 2 parcel(s). {GOOD_S10}, 1Z999AA10123456784"
    )
    assert 'id="order-1042"' not in page  # shipped orders leave the list
    assert status_of(station, 1042) == "shipped"
    with station.store.read() as conn:
        ids = conn.execute(select(parcel_ids.c.parcel_id).order_by(parcel_ids.c.position))
        assert ids.scalars().all() == [GOOD_S10, "1Z999AA10123456784"]
    printed = labels(station, 2)
    assert GOOD_S10.encode() in printed[0] and b"1Z999AA10123456784" in printed[1]
    assert all(job.count(b"^XA") == 1 for job in printed)  # one ZPL label each


def test_r14_partial_delivery_keeps_the_order_packing_with_what_is_left(client, station):
    response = client.post(
        "/shipout/report", data=form(row(station, 1042, [GOOD_S10], qty={"A": 1, "B": 0}))
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert outcome(page, 1042) == (
        "Order 1042: still packing — 1 item(s) delivered; the order stays packing with 2 "
        f"item(s) left. {GOOD_S10} Left: 1 × Termos <b>blå</b>, 1 × Vantar röd"
    )
    assert status_of(station, 1042) == "packing"
    with station.store.read() as conn:
        counts = conn.execute(
            select(order_lines.c.sku, order_lines.c.packed, order_lines.c.delivered)
            .where(order_lines.c.order_id == 1042)
            .order_by(order_lines.c.sku)
        ).all()
    assert [tuple(c) for c in counts] == [("A", 1, 1), ("B", 1, 0)]
    assert 'id="order-1042"' in page  # still packed items to ship
    assert len(labels(station, 1)) == 1


def test_r14_r15_half_packed_order_ships_its_packed_part_and_stays_packing(client, station):
    client.post("/shipout/report", data=form(row(station, 1043, ["PKG-0001"])))
    assert status_of(station, 1043) == "packing"
    page = client.get("/shipout").get_data(as_text=True)
    assert 'id="order-1043"' not in page  # nothing packed is left to ship


def test_r13_a_fifth_parcel_id_is_refused_and_nothing_changes(client, station):
    five = ["PKG-0001", "PKG-0002", "PKG-0003", "PKG-0004", "PKG-0005"]
    response = client.post("/shipout/report", data=form(row(station, 1042, five)))
    assert response.status_code == 422
    assert "A delivery carries at most 4 parcel ids." in response.get_data(as_text=True)
    nothing_changed(station)


def test_r13_the_same_parcel_id_on_two_orders_is_refused_with_a_sentence(client, station):
    response = client.post(
        "/shipout/report",
        data=form(row(station, 1042, [GOOD_S10]), row(station, 1044, [GOOD_S10.lower()])),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert status_of(station, 1042) == "shipped" and status_of(station, 1044) == "packing"
    assert f"Parcel id {GOOD_S10} is already used on another order." in page
    assert count(station, parcel_ids) == 1


def test_r13_a_parcel_id_taken_meanwhile_is_a_sentence_not_a_database_error(
    client, station, monkeypatch
):
    client.post("/shipout/report", data=form(row(station, 1044, [GOOD_S10])))
    # Another station reports the same id between the check and the insert: the unique
    # constraint is what catches it.
    monkeypatch.setattr(
        "stationd.services.report_in.parcel_ids_in_use", lambda conn, ids, **_: set()
    )
    response = client.post("/shipout/report", data=form(row(station, 1042, [GOOD_S10])))
    assert response.status_code == 422
    assert f"({GOOD_S10}) is already used on another order" in response.get_data(as_text=True)
    assert status_of(station, 1042) == "packing" and count(station, parcel_ids) == 1


def test_r13_a_wrong_s10_check_digit_is_refused_and_the_field_keeps_it(client, station):
    response = client.post("/shipout/report", data=form(row(station, 1042, [BAD_S10])))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"Postal parcel id {BAD_S10} has a wrong check digit (the last digit should be 9)" in (
        page
    )
    assert f'value="{BAD_S10}"' in page  # what the packer typed stays
    nothing_changed(station)


def test_mixed_batch_a_bad_row_never_blocks_the_good_ones(client, station):
    response = client.post(
        "/shipout/report",
        data=form(
            row(station, 1042, [GOOD_S10]),
            row(station, 1043),  # not filled: not reported
            row(station, 1044, ["373500000000000018"], weight="480"),  # SSCC check digit wrong
        ),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert outcome(page, 1042).startswith("Order 1042: Shipped with 1 parcel(s).")
    assert outcome(page, 1044) == (
        "Order 1044: not reported — SSCC 373500000000000018 has a wrong check digit (it should "
        "end in 7)."
    )
    assert 'id="outcome-1043"' not in page
    assert [status_of(station, i) for i in (1042, 1043, 1044)] == [
        "shipped",
        "packing",
        "packing",
    ]
    # The refused row keeps what was typed.
    assert 'value="373500000000000018"' in page and 'value="480"' in page
    assert len(labels(station, 1)) == 1


def test_r14_a_quantity_above_what_is_left_is_refused(client, station):
    response = client.post(
        "/shipout/report", data=form(row(station, 1042, [GOOD_S10], qty={"A": 3}))
    )
    assert response.status_code == 422
    assert "A: 3 is more than the 2 left to deliver." in response.get_data(as_text=True)
    nothing_changed(station)


def test_r14_a_delivery_of_nothing_is_refused(client, station):
    response = client.post(
        "/shipout/report", data=form(row(station, 1042, [GOOD_S10], qty={"A": 0, "B": 0}))
    )
    assert response.status_code == 422
    assert "the delivery holds no items" in response.get_data(as_text=True)
    nothing_changed(station)


def _without(prefix: str):  # type: ignore[no-untyped-def]
    return lambda f: {k: v for k, v in f.items() if not k.startswith(prefix)}


def _every(prefix: str, value: str):  # type: ignore[no-untyped-def]
    return lambda f: {k: ([value] if k.startswith(prefix) else v) for k, v in f.items()}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (_without("order"), "The form lists no orders"),
        (_every("order", "abc"), "“abc” is not an order number"),
        (_without("qty-"), "The form has no quantities for order 1042"),
        (_every("qty-", "x"), "must be a whole number of 0 or more, not “x”"),
        (_every("qty-", "-1"), "must be a whole number of 0 or more, not “-1”"),
        (_every("qty-", ""), "Give every line of order 1042 a quantity"),
        (_every("weight-", "1.5kg"), "The weight of order 1042 in grams"),
        (_every("weight-", "0"), "can&#39;t be 0 g"),
        (lambda f: {**f, "qty-1042-x": ["1"]}, "A line number must be a whole number"),
    ],
)
def test_malformed_report_in_is_a_400_with_a_sentence_and_changes_nothing(
    client, station, change, says
):
    response = client.post("/shipout/report", data=change(form(row(station, 1042, [GOOD_S10]))))
    assert response.status_code == 400
    assert says in response.get_data(as_text=True)
    nothing_changed(station)


def test_report_in_without_any_parcel_id_is_a_400(client, station):
    response = client.post("/shipout/report", data=form(row(station, 1042), row(station, 1044)))
    assert response.status_code == 400
    assert "Type, scan or fetch a parcel id" in response.get_data(as_text=True)
    nothing_changed(station)


def test_report_in_for_htmx_is_the_list_fragment_with_a_sound(client, station):
    response = client.post(
        "/shipout/report", data=form(row(station, 1042, [GOOD_S10])), headers=HTMX
    )
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="shipout-form"' in html
    assert 'data-sound="done"' in html


def test_report_in_without_csrf_token_is_refused(station):
    station.app.testing = True
    response = station.app.test_client().post(
        "/shipout/report", data=form(row(station, 1042, [GOOD_S10]))
    )
    assert response.status_code == 403
    nothing_changed(station)


# --- the weight --------------------------------------------------------------------------------


def test_scale_weight_off_must_be_confirmed_before_the_label(client, station):
    # Order 1042 holds 3 × 250 g; with the 150 g box it should weigh 900 g (± 50 g).
    station.scale.put(1400)
    field = client.get("/shipout/scale?order=1042", headers=HTMX).get_data(as_text=True)
    assert 'name="weight-1042" value="1400"' in field
    first = client.post("/shipout/report", data=form(row(station, 1042, [GOOD_S10], weight="1400")))
    page = first.get_data(as_text=True)
    assert first.status_code == 422
    assert "Parcel weighs 1.40 kg, expected 0.90 kg ± 0.05 kg" in page
    assert 'name="confirm-1042"' in page and 'value="1400"' in page
    nothing_changed(station)
    again = client.post(
        "/shipout/report", data=form(row(station, 1042, [GOOD_S10], weight="1400", confirm=True))
    )
    assert again.status_code == 200 and status_of(station, 1042) == "shipped"
    with station.store.read() as conn:
        assert conn.execute(select(deliveries.c.weight_g)).scalar_one() == 1400
    assert b"1.40 kg" in labels(station, 1)[0] or b"1,40 kg" in labels(station, 1)[0]


def test_scale_weight_within_tolerance_ships_without_asking(client, station):
    response = client.post(
        "/shipout/report", data=form(row(station, 1042, [GOOD_S10], weight="920"))
    )
    assert response.status_code == 200 and status_of(station, 1042) == "shipped"


def test_a_net_reading_counts_the_box_back_in(client, station):
    station.scale.put(750, net=True)  # tared with the empty box
    field = client.get("/shipout/scale?order=1042", headers=HTMX).get_data(as_text=True)
    assert 'value="900"' in field


def test_no_steady_weight_on_the_scale_is_a_409(client, station):
    station.scale.put(500, stable=False)
    response = client.get("/shipout/scale?order=1042", headers=HTMX)
    assert response.status_code == 409
    assert "no steady weight" in response.get_data(as_text=True)
    assert client.get("/shipout/scale?order=x").status_code == 400


# --- the check when a field is left ------------------------------------------------------------


def check(client, order_id: int, slot: int, values: list[str]):  # type: ignore[no-untyped-def]
    data = {"check_order": str(order_id), "check_slot": str(slot), f"parcel-{order_id}": values}
    return client.post("/shipout/check", data=data, headers=HTMX)


def test_r13_check_says_the_id_is_good_as_it_will_be_kept(client):
    html = check(client, 1042, 1, ["(00) 3 7350000 000000001 7", "", "", ""]).get_data(as_text=True)
    assert "✓ 373500000000000017" in html


@pytest.mark.parametrize(
    ("values", "slot", "says"),
    [
        ([BAD_S10, "", "", ""], 1, "wrong check digit (the last digit should be 9)"),
        ([GOOD_S10, "rr473124829se", "", ""], 2, f"Parcel id {GOOD_S10} is already on this"),
        (["7300000000011", "", "", ""], 1, "is a product barcode (EAN-13), not a parcel id"),
        (["ORD-1042", "", "", ""], 1, "one of the station&#39;s barcodes"),
        (["AB", "", "", ""], 1, "too short"),
    ],
)
def test_r13_check_says_why_an_id_is_refused(client, values, slot, says):
    response = check(client, 1042, slot, values)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert says in html and 'data-sound="error"' in html


def test_r13_check_refuses_an_id_already_on_another_order(client, station):
    client.post("/shipout/report", data=form(row(station, 1044, [GOOD_S10])))
    html = check(client, 1042, 1, [GOOD_S10, "", "", ""]).get_data(as_text=True)
    assert f"Parcel id {GOOD_S10} is already used on another order." in html


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"check_order": "1042"},
        {"check_order": "1042", "check_slot": "5", "parcel-1042": ["a", "b", "c", "d"]},
        {"check_order": "x", "check_slot": "1"},
    ],
)
def test_malformed_check_is_a_400(client, data):
    response = client.post("/shipout/check", data=data)
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)


# --- parcel ids kept until report-in --------------------------------------------------------


def kept(station: Station, order_id: int) -> list[str]:
    """The parcel ids on the order's pending (not yet reported) delivery."""
    with station.store.read() as conn:
        return list(
            conn.execute(
                select(parcel_ids.c.parcel_id)
                .join(deliveries, deliveries.c.id == parcel_ids.c.delivery_id)
                .where(deliveries.c.order_id == order_id, deliveries.c.reported_at.is_(None))
                .order_by(parcel_ids.c.position)
            ).scalars()
        )


def keep(client, order_id: int, slot: int, values: list[str], saved=()):  # type: ignore[no-untyped-def]
    """Leave parcel field `slot` of an order, as the page posts it (with the kept ids)."""
    data = {
        "check_order": str(order_id),
        "check_slot": str(slot),
        f"parcel-{order_id}": values,
        f"saved-{order_id}": (list(saved) + [""] * 4)[:4],
    }
    return client.post("/shipout/check", data=data, headers=HTMX)


def test_r13_a_checked_parcel_id_is_kept_and_prefilled_when_the_page_loads(client, station):
    html = keep(client, 1042, 1, [GOOD_S10.lower(), "", "", ""]).get_data(as_text=True)
    assert f"✓ {GOOD_S10} · kept" in html and 'data-sound="ok"' in html
    assert f'id="saved-1042-1" value="{GOOD_S10}" hx-swap-oob="true"' in html
    assert kept(station, 1042) == [GOOD_S10]
    page = client.get("/shipout").get_data(as_text=True)
    assert f'id="parcel-1042-1" value="{GOOD_S10}"' in page
    assert f'id="saved-1042-1" value="{GOOD_S10}"' in page
    assert count(station, deliveries) == 1 and status_of(station, 1042) == "packing"


def test_r13_kept_parcel_ids_survive_a_restart_of_the_station(station, tmp_path, make_shop):
    from kiosk.conftest import kiosk_client

    client = kiosk_client(station)
    keep(client, 1042, 1, [GOOD_S10, "", "", ""])
    keep(client, 1042, 2, [GOOD_S10, "PKG-0002", "", ""], saved=[GOOD_S10])
    station.scale.stop()
    station.printing.stop()
    station.store.dispose()
    again = Station(station.settings)  # the same database, a new process
    try:
        page = kiosk_client(again).get("/shipout").get_data(as_text=True)
        assert f'id="parcel-1042-1" value="{GOOD_S10}"' in page
        assert 'id="parcel-1042-2" value="PKG-0002"' in page
        assert page.count('class="parcel-slot" hidden') == 8  # 1042 shows its two
    finally:
        again.store.dispose()
        station.scale.start()
        station.printing.start()


def test_r13_the_fields_x_takes_a_kept_id_off_and_typing_over_replaces_it(client, station):
    keep(client, 1042, 1, [GOOD_S10, "", "", ""])
    keep(client, 1042, 2, [GOOD_S10, "PKG-0002", "", ""], saved=[GOOD_S10])
    assert kept(station, 1042) == [GOOD_S10, "PKG-0002"]
    # Typed over: the new id takes the old one's place.
    keep(client, 1042, 2, [GOOD_S10, "PKG-0003", "", ""], saved=[GOOD_S10, "PKG-0002"])
    assert kept(station, 1042) == [GOOD_S10, "PKG-0003"]
    # × empties the field: leaving it empty takes the id off.
    html = keep(client, 1042, 1, ["", "PKG-0003", "", ""], saved=[GOOD_S10, "PKG-0003"])
    assert 'id="saved-1042-1" value=""' in html.get_data(as_text=True)
    assert kept(station, 1042) == ["PKG-0003"]
    keep(client, 1042, 2, ["", "", "", ""], saved=["", "PKG-0003"])
    assert kept(station, 1042) == [] and count(station, deliveries) == 0
    with station.store.read() as conn:
        kinds = conn.execute(select(events.c.kind)).scalars().all()
    assert kinds.count("order.parcel_id_added") == 3
    assert kinds.count("order.parcel_id_removed") == 3


def test_r13_typing_over_with_a_bad_id_keeps_the_old_one(client, station):
    keep(client, 1042, 1, [GOOD_S10, "", "", ""])
    html = keep(client, 1042, 1, [BAD_S10, "", "", ""], saved=[GOOD_S10]).get_data(as_text=True)
    assert "wrong check digit" in html and f'id="saved-1042-1" value="{GOOD_S10}"' in html
    assert kept(station, 1042) == [GOOD_S10]


def test_r13_the_same_kept_parcel_id_on_two_orders_is_refused_with_a_sentence(client, station):
    keep(client, 1042, 1, [GOOD_S10, "", "", ""])
    html = keep(client, 1044, 1, [GOOD_S10, "", "", ""]).get_data(as_text=True)
    assert f"Parcel id {GOOD_S10} is already used on another order." in html
    assert 'data-sound="error"' in html
    assert kept(station, 1042) == [GOOD_S10] and kept(station, 1044) == []


def test_r13_a_kept_id_taken_meanwhile_is_caught_by_the_unique_constraint(
    client, station, monkeypatch
):
    keep(client, 1042, 1, [GOOD_S10, "", "", ""])
    # Another station keeps the id between the check and the insert.
    monkeypatch.setattr(
        "stationd.services.parcel_ids.parcel_ids_in_use", lambda conn, ids, **_: set()
    )
    monkeypatch.setattr("stationd.services.shipout.parcel_ids_in_use", lambda conn, ids, **_: set())
    html = keep(client, 1044, 1, [GOOD_S10, "", "", ""]).get_data(as_text=True)
    assert f"Parcel id {GOOD_S10} is already used on another order." in html
    assert kept(station, 1044) == [] and count(station, deliveries) == 1


def test_r13_a_fifth_kept_id_is_refused(client, station):
    ids = ["PKG-0001", "PKG-0002", "PKG-0003", "PKG-0004"]
    for n in range(1, 5):
        keep(client, 1042, n, ids[:n] + [""] * (4 - n), saved=ids[: n - 1])
    assert kept(station, 1042) == ids
    # A fifth from another screen (the bench) finds the delivery full.
    scanned(station, "ORD-1042")
    outcome = scanned(station, "CC000000059SE")  # R13: a scanned id is a carrier's format
    assert not outcome.ok and "at most 4 parcel ids" in outcome.message
    assert kept(station, 1042) == ids


def test_r15_report_in_completes_the_delivery_that_kept_the_ids(client, station):
    keep(client, 1042, 1, [GOOD_S10, "", "", ""])
    response = client.post("/shipout/report", data=form(row(station, 1042, [GOOD_S10])))
    assert response.status_code == 200 and status_of(station, 1042) == "shipped"
    with station.store.read() as conn:
        rows = conn.execute(select(deliveries.c.id, deliveries.c.reported_at)).all()
    assert len(rows) == 1 and rows[0].reported_at is not None
    assert kept(station, 1042) == [] and count(station, parcel_ids) == 1
    assert len(labels(station, 1)) == 1


def test_r15_report_in_without_an_id_kept_meanwhile_is_refused_and_shows_it(client, station):
    page_ids = [GOOD_S10]
    keep(client, 1042, 1, [GOOD_S10, "", "", ""])
    scanned(station, "ORD-1042")
    scanned(station, "CC000000028SE")  # at the bench, after the ship-out page was drawn
    response = client.post("/shipout/report", data=form(row(station, 1042, page_ids)))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert (
        "Order 1042 also has parcel id CC000000028SE, which this report-in did not name: check the "
        "parcel ids and report in again." in html.unescape(page)
    )
    assert 'id="parcel-1042-2" value="CC000000028SE"' in page  # now on the screen
    assert status_of(station, 1042) == "packing" and kept(station, 1042) == [
        GOOD_S10,
        "CC000000028SE",
    ]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"check_order": "1042", "check_slot": "1", "parcel-1044": ["X"]}, "no parcel field 1"),
        ({"check_order": "-3", "check_slot": "1"}, "is not an order number"),
    ],
)
def test_malformed_keep_is_a_400_and_keeps_nothing(client, station, data, says):
    response = client.post("/shipout/check", data=data, headers=HTMX)
    assert response.status_code == 400 and says in response.get_data(as_text=True)
    assert count(station, parcel_ids) == 0


def test_keeping_an_id_for_an_order_that_does_not_ship_says_why(client, station):
    html = keep(client, 4242, 1, [GOOD_S10, "", "", ""]).get_data(as_text=True)
    assert "There is no order 4242." in html
    client.post("/shipout/report", data=form(row(station, 1044, ["PKG-0001"])))
    html = keep(client, 1044, 1, ["PKG-0009", "", "", ""]).get_data(as_text=True)
    assert "Order 1044 is shipped; only packing orders ship." in html
    assert kept(station, 1044) == [] and count(station, parcel_ids) == 1


# --- the carrier --------------------------------------------------------------------------------


def s10(station_name: str, sequence: int, country: str = "SE") -> str:
    prefix = SimulatedCarrier(Path("/nonexistent"), station=station_name, country=country).prefix
    serial = f"{sequence:08d}"
    return f"{prefix}{serial}{s10_check_digit(serial)}{country}"


def test_r13_fetch_puts_a_carrier_id_in_the_next_empty_field(client, station):
    data = {"parcel-1042": [GOOD_S10, "", "", ""], "weight-1042": [""]}
    response = client.post("/shipout/1042/fetch", data=data, headers=HTMX)
    html = response.get_data(as_text=True)
    expected = s10("shipout-test", 1)
    assert response.status_code == 200
    assert f'id="parcel-1042-1" value="{GOOD_S10}"' in html
    assert f'id="parcel-1042-2" value="{expected}"' in html
    assert "from the carrier" in html
    with station.store.read() as conn:
        booked = conn.execute(select(events.c.kind, events.c.payload)).one()
    assert booked[0] == "order.parcel_booked" and json.loads(booked[1])["parcel_id"] == expected
    assert kept(station, 1042) == [expected]  # fetched is kept: a reload shows it
    assert f'id="parcel-1042-1" value="{expected}"' in client.get("/shipout").get_data(as_text=True)
    # The id is a real one for the rules: it reports in.
    client.post("/shipout/report", data=form(row(station, 1042, [GOOD_S10, expected])))
    assert status_of(station, 1042) == "shipped"


def test_fetch_keeps_the_other_fields_and_what_the_check_said_of_them(client):
    data = {"parcel-1042": [BAD_S10, "", "", ""]}
    html = client.post("/shipout/1042/fetch", data=data, headers=HTMX).get_data(as_text=True)
    assert f'value="{BAD_S10}"' in html and "the last digit should be 9" in html
    assert f'id="parcel-1042-2" value="{s10("shipout-test", 1)}"' in html


def test_carrier_ids_are_never_handed_out_twice_across_a_restart(station, tmp_path):
    booking = ParcelBooking(1042, Address("Anna"))
    first = station.carrier.book_parcel(booking)
    again = SimulatedCarrier(
        tmp_path / "broker-simulated.seq", station="shipout-test", country="SE"
    )
    assert [first, again.book_parcel(booking)] == [s10("shipout-test", 1), s10("shipout-test", 2)]


def test_a_carrier_that_fails_is_a_502_with_its_sentence_and_nothing_is_handed_out(
    client, station, tmp_path
):
    (tmp_path / "broker-simulated.seq").write_text("garbage\n")
    response = client.post("/shipout/1042/fetch", data={}, headers=HTMX)
    assert response.status_code == 502
    assert "sequence file" in response.get_data(as_text=True)
    assert count(station, events) == 0


def test_r13_fetch_with_four_ids_already_is_a_409(client):
    data = {"parcel-1042": ["PKG-0001", "PKG-0002", "PKG-0003", "PKG-0004"]}
    response = client.post("/shipout/1042/fetch", data=data, headers=HTMX)
    assert response.status_code == 409
    assert "at most 4 parcel ids" in response.get_data(as_text=True)


def test_fetch_for_an_order_number_no_database_holds_is_a_404(client):
    response = client.post(f"/shipout/{10**30}/fetch", data={}, headers=HTMX)
    assert response.status_code == 404  # as for every <int:…> in a URL (kiosk.numbers)
    assert "Something went wrong" not in response.get_data(as_text=True)


@pytest.mark.parametrize(("order_id", "says"), [(1044, ""), (4242, "There is no order 4242")])
def test_fetch_for_an_order_that_cannot_ship_is_a_409(client, station, order_id, says):
    if order_id == 1044:
        client.post("/shipout/report", data=form(row(station, 1044, [GOOD_S10])))
        says = "Order 1044 is shipped; only packing orders ship."
    response = client.post(f"/shipout/{order_id}/fetch", data={}, headers=HTMX)
    assert response.status_code == 409 and says in response.get_data(as_text=True)


def test_fetch_without_a_carrier_is_a_409_and_the_page_offers_none(tmp_path, make_shop):
    from kiosk.conftest import kiosk_client

    plain = Station(settings_from_dict({"station": {"state_dir": str(tmp_path), "language": "en"}}))
    plain.store.upgrade()
    make_shop(plain.store).product("A")
    client = kiosk_client(plain)
    response = client.post("/shipout/1042/fetch", data={}, headers=HTMX)
    assert response.status_code == 409
    assert "no carrier: type or scan the parcel id" in response.get_data(as_text=True)
    assert "Fetch from carrier" not in client.get("/shipout").get_data(as_text=True)
    plain.store.dispose()


# --- scans from a station scanner ----------------------------------------------------------------


def next_message(stream) -> str:  # type: ignore[no-untyped-def]
    """The next event of an SSE stream; a few keep-alives (1 s apart here) without one fail."""
    for _, chunk in zip(range(5), stream, strict=False):
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        if text.startswith("event:"):
            return text
    raise AssertionError("no event came")


def data_of(message: str) -> dict:
    return json.loads(message.split("data: ", 1)[1])


def scanned(station: Station, code: str):  # type: ignore[no-untyped-def]
    """A station scanner's scan, as the bench (which hears every scan) decides it."""
    return station.bench.handle_scan(ScanRead(code, None, "serial:test"))


def test_r13_a_parcel_id_scanned_with_no_order_open_goes_to_the_page(client, station):
    response = client.get("/events/shipout")
    stream = iter(response.response)
    assert next(stream)  # connected: the page listens now
    scanned(station, "7300000000011")  # an item: the bench's, not the page's
    scanned(station, BAD_S10)
    scanned(station, "]C1" + "00373500000000000017")
    bad, good = next_message(stream), next_message(stream)
    station.stopping.set()
    response.close()
    assert bad.startswith("event: parcel") and "wrong check digit" in data_of(bad)["message"]
    assert data_of(good) == {"ok": True, "parcel": "373500000000000017"}
    assert count(station, parcel_ids) == 0  # the page keeps it once its field takes it


def test_r13_a_parcel_id_scanned_at_the_bench_lands_on_the_open_order_and_the_list_redraws(
    client, station
):
    scanned(station, "ORD-1042")
    response = client.get("/events/shipout")
    stream = iter(response.response)
    assert next(stream)
    outcome = scanned(station, GOOD_S10)
    said, redraw = next_message(stream), next_message(stream)
    station.stopping.set()
    response.close()
    assert outcome.ok and outcome.message == f"Parcel id {GOOD_S10} added to order 1042 (1 of 4)."
    assert data_of(said) == {"ok": True, "message": outcome.message}
    assert redraw.startswith("event: orders")
    page = client.get("/shipout").get_data(as_text=True)
    assert f'id="parcel-1042-1" value="{GOOD_S10}"' in page
    assert f'id="saved-1042-1" value="{GOOD_S10}"' in page


def test_r13_the_list_redraws_when_an_order_is_packed_or_shipped_elsewhere(client, station):
    response = client.get("/events/shipout")
    stream = iter(response.response)
    assert next(stream)
    station.report_in.ship(1044, [GOOD_S10], use_scale=False)  # reported at another screen
    shipped = next_message(stream)
    # Another bench packs order 1045 in the central database: no event reaches this process;
    # the stream's recheck finds it.
    with station.store.write() as conn:
        conn.execute(update(order_lines).where(order_lines.c.order_id == 1045).values(packed=1))
    packed = next_message(stream)
    station.stopping.set()
    response.close()
    assert shipped.startswith("event: orders") and packed.startswith("event: orders")
    page = client.get("/shipout", headers=HTMX).get_data(as_text=True)
    assert 'id="order-1045"' in page and 'id="order-1044"' not in page


def test_a_steady_weight_is_streamed_to_the_page(client, station):
    response = client.get("/events/shipout")
    stream = iter(response.response)
    assert next(stream)
    station.scale.put(1234)
    message = next_message(stream)
    station.stopping.set()
    response.close()
    assert message.startswith("event: weight")
    assert json.loads(message.split("data: ", 1)[1]) == {"grams": 1234, "shown": "1.23 kg"}
