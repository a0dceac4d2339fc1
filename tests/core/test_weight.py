"""The parcel weight check: expected weight from products and box, and the verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stationd.core.deliveries import Delivery
from stationd.core.orders import Order, OrderLine, OrderRuleError, OrderStatus
from stationd.core.weight import (
    WeightCheck,
    WeightUnknownError,
    check_weight,
    delivery_items,
    expected_weight_g,
    format_kg,
)

WEIGHTS_G = {"MUG-1": 350, "TEA-100": 120, "CARD": 5}
BOXES_G = {"S": 150, "M": 260, "L": 480, "bag": 20}


# expected_weight_g ------------------------------------------------------------------------------
def test_expected_weight_is_products_times_quantities_plus_the_box() -> None:
    items = {"MUG-1": 2, "TEA-100": 3, "CARD": 1}
    assert expected_weight_g(items, WEIGHTS_G, box="M", box_tares_g=BOXES_G) == (
        2 * 350 + 3 * 120 + 5 + 260
    )


def test_box_size_picks_its_tare() -> None:
    items = {"MUG-1": 1}
    by_box = {
        box: expected_weight_g(items, WEIGHTS_G, box=box, box_tares_g=BOXES_G) for box in BOXES_G
    }
    assert by_box == {"S": 500, "M": 610, "L": 830, "bag": 370}


def test_no_box_counts_no_packaging() -> None:
    assert expected_weight_g({"MUG-1": 1}, WEIGHTS_G) == 350


def test_pairs_are_accepted_and_a_sku_named_twice_counts_twice() -> None:
    pairs = [("TEA-100", 1), ("MUG-1", 1), ("TEA-100", 2)]
    assert expected_weight_g(pairs, WEIGHTS_G, box="S", box_tares_g=BOXES_G) == 3 * 120 + 350 + 150


def test_zero_quantities_need_no_weight() -> None:
    assert expected_weight_g({"MUG-1": 1, "UNKNOWN": 0}, WEIGHTS_G) == 350


def test_products_without_a_weight_are_named() -> None:
    with pytest.raises(WeightUnknownError) as err:
        expected_weight_g({"MUG-1": 1, "VASE": 1, "LAMP": 2, "CARD": 1}, WEIGHTS_G)
    assert err.value.skus == ("VASE", "LAMP")
    assert (
        str(err.value) == "No weight is known for VASE, LAMP: the parcel weight can't be checked."
    )


def test_an_unknown_box_size_is_named() -> None:
    with pytest.raises(WeightUnknownError) as err:
        expected_weight_g({"MUG-1": 1}, WEIGHTS_G, box="XL", box_tares_g=BOXES_G)
    assert err.value.box == "XL"
    assert str(err.value) == (
        "No empty weight is known for box size 'XL': the parcel weight can't be checked."
    )


@pytest.mark.parametrize(
    ("items", "weights", "tares"),
    [
        ({"MUG-1": -1}, WEIGHTS_G, BOXES_G),
        ({"MUG-1": 1.5}, WEIGHTS_G, BOXES_G),
        ({"MUG-1": True}, WEIGHTS_G, BOXES_G),
        ({"MUG-1": 1}, {"MUG-1": -3}, BOXES_G),
        ({"MUG-1": 1}, {"MUG-1": 0.35}, BOXES_G),
        ({"MUG-1": 1}, WEIGHTS_G, {"M": -1}),
    ],
)
def test_nonsense_numbers_are_refused(items, weights, tares) -> None:
    with pytest.raises(ValueError):
        expected_weight_g(items, weights, box="M", box_tares_g=tares)


def test_delivery_items_maps_line_ids_to_skus() -> None:
    order = Order(
        id=7,
        status=OrderStatus.PACKING,
        placed_at=datetime(2024, 5, 1, tzinfo=UTC),
        customer_name="Kari Nordmann",
        lines=[
            OrderLine("MUG-1", "Mug", 3, 9900, id=1),
            OrderLine("TEA-100", "Tea", 2, 4900, id=2),
            OrderLine("MUG-1", "Mug (gift)", 1, 0, id=3),
        ],
    )
    partial = Delivery(order_id=7, quantities={1: 2, 3: 1, 2: 1})
    assert delivery_items(order, partial) == {"MUG-1": 3, "TEA-100": 1}
    assert expected_weight_g(delivery_items(order, partial), WEIGHTS_G) == 3 * 350 + 120
    with pytest.raises(OrderRuleError):
        delivery_items(order, Delivery(order_id=8, quantities={1: 1}))


# check_weight ----------------------------------------------------------------------------------
def test_the_mismatch_message_is_what_the_packer_reads() -> None:
    check = check_weight(1420, 1100, tolerance_g=100)
    assert check == WeightCheck(
        ok=False,
        message=(
            "Parcel weighs 1.42 kg, expected 1.10 kg ± 0.10 kg: confirm or re-check the contents."
        ),
        difference_g=320,
        measured_g=1420,
        expected_g=1100,
        allowed_g=100,
    )


def test_a_parcel_within_the_tolerance_is_ok() -> None:
    check = check_weight(1180, 1100, tolerance_g=100)
    assert check.ok
    assert check.difference_g == 80
    assert check.message == "Parcel weighs 1.18 kg, as expected (1.10 kg ± 0.10 kg)."


def test_too_light_is_a_negative_difference() -> None:
    check = check_weight(750, 1100, tolerance_g=100)
    assert not check.ok
    assert check.difference_g == -350
    assert check.message == (
        "Parcel weighs 0.75 kg, expected 1.10 kg ± 0.10 kg: confirm or re-check the contents."
    )


@pytest.mark.parametrize(("measured", "ok"), [(1000, True), (1100, True), (1101, False)])
def test_the_tolerance_edge_is_inclusive(measured: int, ok: bool) -> None:
    assert check_weight(measured, 1000, tolerance_g=100).ok is ok
    assert check_weight(2000 - measured, 1000, tolerance_g=100).ok is ok


def test_percentage_tolerance_takes_over_on_heavy_parcels() -> None:
    # 5 % of 10 kg is 500 g, more than the fixed 100 g.
    heavy = check_weight(10_450, 10_000, tolerance_g=100, tolerance_pct=5)
    assert (heavy.ok, heavy.allowed_g) == (True, 500)
    assert heavy.message == "Parcel weighs 10.45 kg, as expected (10.00 kg ± 0.50 kg)."
    # …and the fixed tolerance on light ones: 5 % of 400 g is only 20 g.
    light = check_weight(480, 400, tolerance_g=100, tolerance_pct=5)
    assert (light.ok, light.allowed_g) == (True, 100)


def test_light_parcels_read_in_grams() -> None:
    check = check_weight(850, 700, tolerance_g=50)
    assert check.message == (
        "Parcel weighs 850 g, expected 700 g ± 50 g: confirm or re-check the contents."
    )


def test_the_message_never_rounds_a_mismatch_into_looking_fine() -> None:
    # 1.201 kg shown as "1.20 kg, expected 1.10 kg ± 0.10 kg" would contradict the warning.
    check = check_weight(1201, 1100, tolerance_g=100)
    assert not check.ok
    assert check.message == (
        "Parcel weighs 1.201 kg, expected 1.100 kg ± 0.100 kg: confirm or re-check the contents."
    )


def test_an_empty_or_tared_scale_is_a_mismatch_not_an_error() -> None:
    assert check_weight(0, 1100, tolerance_g=100).message.startswith("Parcel weighs 0.00 kg")
    minus = check_weight(-120, 1100, tolerance_g=100)
    assert (minus.ok, minus.difference_g) == (False, -1220)
    assert minus.message.startswith("Parcel weighs -0.12 kg, expected 1.10 kg")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"measured_g": 1.5, "expected_g": 100, "tolerance_g": 10},
        {"measured_g": 100, "expected_g": -1, "tolerance_g": 10},
        {"measured_g": 100, "expected_g": 100, "tolerance_g": -1},
        {"measured_g": 100, "expected_g": 100, "tolerance_g": 10, "tolerance_pct": -1},
        {"measured_g": 100, "expected_g": 100, "tolerance_g": 10, "tolerance_pct": 101},
        {"measured_g": True, "expected_g": 100, "tolerance_g": 10},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        check_weight(**kwargs)  # type: ignore[arg-type]


def test_format_kg_rounds_half_up() -> None:
    assert [format_kg(g) for g in (1425, 1424, 5, 0, -120)] == [
        "1.43 kg",
        "1.42 kg",
        "0.01 kg",
        "0.00 kg",
        "-0.12 kg",
    ]
    assert format_kg(1425, 3) == "1.425 kg"


@given(
    measured=st.integers(-100_000, 100_000),
    expected=st.integers(0, 100_000),
    tolerance=st.integers(0, 5_000),
    pct=st.sampled_from([0, 1, 2.5, 10]),
)
def test_the_verdict_and_the_message_agree(measured, expected, tolerance, pct) -> None:
    check = check_weight(measured, expected, tolerance_g=tolerance, tolerance_pct=pct)
    assert check.ok == (abs(measured - expected) <= check.allowed_g)
    assert check.allowed_g >= tolerance
    assert check.message.endswith("confirm or re-check the contents.") != check.ok
    # What the message shows supports what it says.
    shown = check.message.replace("Parcel weighs ", "").replace(", as expected (", ", expected ")
    weighs, rest = shown.split(", expected ")
    expected_s, tolerance_s = rest.split(" ± ")
    tolerance_s = tolerance_s.split(")")[0].split(":")[0]

    def grams(text: str) -> float:
        number, unit = text.split()
        return float(number) * (1000 if unit == "kg" else 1)

    gap = abs(grams(weighs) - grams(expected_s))
    assert (gap <= grams(tolerance_s) + 1e-6) == check.ok


@pytest.mark.parametrize(
    ("parcels", "reading", "stable", "net", "expected"),
    [
        (1, 930, True, False, (930, 150)),  # a gross reading: the box is expected on top
        (1, 780, True, True, (780, 0)),  # tared with the empty box: no tare on top
        (2, 500, True, False, (None, 150)),  # one box of two on the scale says nothing
        (1, 930, False, False, (None, 150)),  # still settling
        (1, 0, True, False, (None, 150)),  # nothing on the scale
        (1, -150, True, True, (None, 150)),  # the box lifted off a tared scale
        (1, None, False, False, (None, 150)),  # no scale reading at all
    ],
)
def test_which_scale_reading_counts_as_the_parcels_weight(parcels, reading, stable, net, expected):
    from stationd.core.weight import parcel_weight

    got = parcel_weight(parcels=parcels, reading_g=reading, stable=stable, net=net, box_tare_g=150)
    assert got == expected
