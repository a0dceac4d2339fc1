"""core.intake: one record checked field by field, the same order hashed alike however it was
written, and what can't be stored (a lone surrogate, a control character) refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stationd.core.intake import FieldError, IncomingOrder, parse_order, parse_product
from stationd.core.intake_formats import read_records

ORDER = {
    "ref": "WEB-1",
    "placed_at": "2026-12-01T09:14:00+01:00",
    "customer_name": "Anna",
    "street": "Storgatan 5",
    "postcode": "111 22",
    "city": "Stockholm",
    "country": "SE",
    "currency": "SEK",
    "payment_method": "card",
    "paid": True,
    "lines": [{"sku": "A", "name": "Termos", "quantity": 2, "price": "149.50", "vat_rate": "12"}],
}


def fields(result: object) -> set[str]:
    assert isinstance(result, list), result
    return {e.field for e in result if isinstance(e, FieldError)}


def test_r1_an_order_is_typed_money_in_minor_units_vat_in_basis_points():
    order = parse_order(ORDER)
    assert isinstance(order, IncomingOrder)
    assert order.placed_at.astimezone(UTC) == datetime(2026, 12, 1, 8, 14, tzinfo=UTC)
    assert (order.lines[0].unit_price_minor, order.lines[0].vat_rate_bp) == (14950, 1200)
    assert order.language == "sv"  # from the country
    assert order.value_minor == 29900


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ref": " WEB-1"}, "ref"),
        ({"placed_at": "2026-12-01T09:14:00"}, "placed_at"),
        ({"placed_at": "2026-02-30T09:14:00Z"}, "placed_at"),
        ({"customer_name": "Anna\udc80"}, "customer_name"),
        ({"city": "Stock\x9cholm"}, "city"),
        ({"customer_name": "   "}, "customer_name"),
        ({"customer_name": None}, "customer_name"),
        ({"comment": None}, "comment"),
        ({"paid": "true"}, "paid"),
        ({"status": "packing"}, "status"),
        ({"payment_method": "vipps"}, "payment_method"),
        ({"colour": "blue"}, "colour"),
        ({"lines": []}, "lines"),
        ({"lines": [{**ORDER["lines"][0], "price": "1.234"}]}, "lines[0].price"),
        ({"lines": [{**ORDER["lines"][0], "quantity": 1.5}]}, "lines[0].quantity"),
        ({"lines": [{**ORDER["lines"][0], "ean": "7300001000004"}]}, "lines[0].ean"),
        ({"lines": [{**ORDER["lines"][0], "vat_rate": "101"}]}, "lines[0].vat_rate"),
    ],
)
def test_r1_each_wrong_field_is_named(change, field):
    assert field in fields(parse_order({**ORDER, **change}))


def test_r1_a_preorder_needs_no_customer_but_an_order_does():
    bare = {k: v for k, v in ORDER.items() if k not in ("customer_name", "street", "city")}
    assert isinstance(parse_order({**bare, "status": "preorder"}), IncomingOrder)
    assert fields(parse_order(bare)) == {"customer_name", "street", "city"}


def test_the_same_order_hashes_alike_from_json_and_csv_and_differs_when_changed():
    csv = [
        "ref,placed_at,customer_name,street,postcode,city,country,currency,payment_method,paid,"
        "line_sku,line_name,line_quantity,line_price,line_vat_rate\n",
        "WEB-1,2026-12-01T09:14:00+01:00,Anna,Storgatan 5,111 22,Stockholm,SE,SEK,card,yes,"
        "A,Termos,2,149.5,12.00\n",
    ]
    [record] = list(read_records("orders", "csv", csv))
    from_csv, from_json = parse_order(record.data), parse_order(ORDER)
    assert isinstance(from_csv, IncomingOrder) and isinstance(from_json, IncomingOrder)
    assert from_csv.content_hash == from_json.content_hash
    changed = parse_order({**ORDER, "comment": "Ring först"})
    assert isinstance(changed, IncomingOrder)
    assert changed.content_hash != from_json.content_hash


def test_a_product_keeps_its_ean_as_sent_and_as_a_14_digit_gtin():
    product = parse_product({"sku": "A", "name": "Termos", "ean": "7300001000003"})
    assert not isinstance(product, list)
    assert (product.ean, product.gtin) == ("7300001000003", "07300001000003")
