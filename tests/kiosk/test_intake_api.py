"""The intake API (issue 13 §1): a shop pushes orders with its bearer token; the same checks and
idempotency as the import; RFC 9457 errors per field; a capped body; the kiosk's CSRF check
kept for everything else; and schemathesis against the served OpenAPI 3.1 document."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from stationd.store.tables import orders

TOKEN = "webshop-token-0123456789"
OTHER = "othershop-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

ORDER = {
    "ref": "WEB-1",
    "placed_at": "2026-12-01T09:14:00+01:00",
    "customer_name": "Anna Andersson",
    "street": "Storgatan 5",
    "postcode": "111 22",
    "city": "Stockholm",
    "country": "SE",
    "currency": "SEK",
    "payment_method": "card",
    "paid": True,
    "lines": [{"sku": "A", "name": "Termos", "quantity": 2, "price": "99.00", "vat_rate": 25}],
}


@pytest.fixture
def api_station(make_station):  # type: ignore[no-untyped-def]
    station = make_station(
        intake=[{"name": "webshop", "token": TOKEN}, {"name": "othershop", "token": OTHER}]
    )
    station.app.testing = True
    return station


def shop_orders(station) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with station.store.read() as conn:
        return [tuple(r) for r in conn.execute(select(orders.c.shop, orders.c.shop_ref))]


def test_r1_an_order_pushed_with_the_shops_token_goes_in_once(api_station):
    client = api_station.app.test_client()
    first = client.post("/api/v1/orders", json=ORDER, headers=AUTH)
    assert first.status_code == 200, first.text
    assert first.json["results"] == [{"index": 0, "key": "WEB-1", "outcome": "new"}]
    again = client.post("/api/v1/orders", json=[ORDER], headers=AUTH)
    assert (again.json["new"], again.json["unchanged"]) == (0, 1)
    # Another shop's WEB-1 is another order: known by shop and reference.
    other = client.post("/api/v1/orders", json=ORDER, headers={"Authorization": f"Bearer {OTHER}"})
    assert other.json["new"] == 1
    assert sorted(shop_orders(api_station)) == [("othershop", "WEB-1"), ("webshop", "WEB-1")]


def test_no_token_or_a_wrong_one_is_401_and_nothing_is_written(api_station):
    client = api_station.app.test_client()
    for headers in ({}, {"Authorization": "Bearer nope-nope-nope-nope"}, {"Authorization": TOKEN}):
        answer = client.post("/api/v1/orders", json=ORDER, headers=headers)
        assert answer.status_code == 401
        assert answer.content_type == "application/problem+json"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert shop_orders(api_station) == []


def test_invalid_records_are_a_422_field_by_field_and_none_is_written(api_station):
    bad = {**ORDER, "ref": "WEB-2", "paid": "yes", "lines": [{"sku": "A", "quantity": 0}]}
    answer = api_station.app.test_client().post("/api/v1/orders", json=[ORDER, bad], headers=AUTH)
    assert answer.status_code == 422
    assert answer.content_type == "application/problem+json"
    fields = {(e["index"], e["field"]) for e in answer.json["errors"]}
    assert {(1, "paid"), (1, "lines[0].quantity"), (1, "lines[0].name"), (1, "lines[0].price")} <= (
        fields
    )
    assert shop_orders(api_station) == []


def test_a_body_over_the_cap_is_413_and_a_get_changes_nothing(api_station):
    client = api_station.app.test_client()
    # Bigger than a kiosk form may be (64 KB), within the API's cap: taken in.
    many = [{**ORDER, "ref": f"WEB-{n}"} for n in range(300)]
    assert len(json.dumps(many)) > 64 * 1024
    assert client.post("/api/v1/orders", json=many, headers=AUTH).json["new"] == 300
    huge = json.dumps([ORDER] * 20000)
    answer = client.post("/api/v1/orders", data=huge, content_type="application/json", headers=AUTH)
    assert answer.status_code == 413
    assert answer.json["status"] == 413
    got = client.get("/api/v1/orders", headers=AUTH)
    assert got.status_code == 405 and "POST" in got.headers["Allow"]
    assert got.content_type == "application/problem+json"
    assert len(shop_orders(api_station)) == 300


def test_only_the_api_is_exempt_from_the_kiosks_csrf_check(api_station):
    client = api_station.app.test_client()
    foreign = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert client.post("/language", data={"language": "sv"}, headers=foreign).status_code == 403
    assert client.post("/language", data={"language": "sv"}).status_code == 403  # no token
    answer = client.post("/api/v1/orders", json=ORDER, headers={**AUTH, **foreign})
    assert answer.status_code == 200


def test_r2_a_shipped_order_pushed_again_changed_is_refused_with_its_reason(api_station):
    from stationd.services.packscript_run import run_once
    from stationd.services.report_in import ship

    client = api_station.app.test_client()
    client.post("/api/v1/products", json={"sku": "A", "name": "Termos"}, headers=AUTH)
    assert (
        client.post("/api/v1/stock", json={"sku": "A", "on_hand": 9}, headers=AUTH).json["updated"]
        == 1
    )
    client.post("/api/v1/orders", json=ORDER, headers=AUTH)
    run_once(api_station.store, station="test-station", trigger="cli")  # R6: to packing
    with api_station.store.read() as conn:
        order_id = conn.execute(select(func.max(orders.c.id))).scalar_one()
    ship(api_station.store, order_id, ["00373000010000000011"], station="test-station")
    answer = client.post("/api/v1/orders", json={**ORDER, "comment": "Ny"}, headers=AUTH)
    assert answer.status_code == 200
    [result] = answer.json["results"]
    assert result["outcome"] == "refused" and "is shipped" in result["reason"]


def test_the_openapi_document_is_served_and_is_openapi_3_1(api_station):
    document = api_station.app.test_client().get("/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/api/v1/orders", "/api/v1/products", "/api/v1/stock"}
