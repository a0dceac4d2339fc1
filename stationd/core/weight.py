"""The parcel weight check: what a parcel should weigh, and whether the scale agrees.

Before a shipping label prints, the weight the scale read is compared with the weight the
parcel should have: the products' weights times their quantities, plus the tare of the box
they were packed in. A difference beyond the tolerance is not an error but a warning: the packer
either confirms the weight (a product's weight in the catalogue is off, extra padding) or opens
the parcel again (an item missing, one too many). `WeightCheck` carries what the kiosk needs to
ask that question, in words and in numbers.

Weights are whole grams (``*_g``) everywhere; only the messages show kilograms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from stationd.core.deliveries import Delivery, check_delivery_of
from stationd.core.orders import Order
from stationd.core.text import Text, sentence

Items = Mapping[str, int] | Iterable[tuple[str, int]]


class WeightUnknownError(ValueError):
    """The expected weight can't be worked out: a product or box without a known weight.

    `str(err)` is meant for the packer; `skus` and `box` say what is missing.
    """

    def __init__(self, message: str, *, skus: tuple[str, ...] = (), box: str | None = None):
        super().__init__(message)
        self.skus = skus
        self.box = box


@dataclass(frozen=True, slots=True)
class WeightCheck:
    """The outcome of comparing a parcel's measured weight with its expected weight.

    `ok` False means the packer must confirm (or re-check the contents) before the label
    prints; `message` is the sentence to show. `difference_g` is measured minus expected, so a
    parcel that is too light has a negative difference. `allowed_g` is the tolerance that was
    applied (see `check_weight`).
    """

    ok: bool
    message: str
    difference_g: int
    measured_g: int
    expected_g: int
    allowed_g: int


def delivery_items(order: Order, delivery: Delivery) -> dict[str, int]:
    """What goes in a delivery's parcel, as SKU → quantity (for `expected_weight_g`)."""
    check_delivery_of(order, delivery)
    items: dict[str, int] = {}
    for line_id, qty in delivery.quantities.items():
        sku = order.line(line_id).sku
        items[sku] = items.get(sku, 0) + qty
    return items


def expected_weight_g(
    items: Items,
    product_weights_g: Mapping[str, int],
    *,
    box: str | None = None,
    box_tares_g: Mapping[str, int] | None = None,
) -> int:
    """What a parcel should weigh in grams: Σ quantity × product weight, plus the box's tare.

    `items` is SKU → quantity (or (SKU, quantity) pairs; a SKU named twice counts twice).
    `box` names the box size or bag the parcel was packed in and `box_tares_g` maps box sizes
    to their empty weight; ``box=None`` means no packaging is counted (the product ships in its
    own box). Raises `WeightUnknownError` when a product with a quantity above zero, or the box,
    has no weight, and `ValueError` for a negative quantity or weight.
    """
    pairs = items.items() if isinstance(items, Mapping) else items
    total = 0
    missing: list[str] = []
    for sku, qty in pairs:
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
            raise ValueError(f"the quantity of {sku} must be a whole number ≥ 0, not {qty!r}")
        if qty == 0:
            continue
        weight = product_weights_g.get(sku)
        if weight is None:
            if sku not in missing:
                missing.append(sku)
            continue
        _check_weight_value(weight, f"the weight of {sku}")
        total += qty * weight
    if missing:
        raise WeightUnknownError(
            sentence(
                "No weight is known for {skus}: the parcel weight can't be checked.",
                skus=", ".join(missing),
            ),
            skus=tuple(missing),
        )
    if box is not None:
        tare = (box_tares_g or {}).get(box)
        if tare is None:
            raise WeightUnknownError(
                sentence(
                    "No empty weight is known for box size {box}: the parcel weight can't be "
                    "checked.",
                    box=repr(box),
                ),
                box=box,
            )
        _check_weight_value(tare, f"the tare of box size {box!r}")
        total += tare
    return total


def check_weight(
    measured_g: int,
    expected_g: int,
    *,
    tolerance_g: int,
    tolerance_pct: float = 0.0,
) -> WeightCheck:
    """Compare a parcel's measured weight with its expected weight.

    The parcel is accepted when ``|measured - expected| ≤ allowed``, where `allowed` is the
    larger of `tolerance_g` and `tolerance_pct` percent of the expected weight: the fixed
    tolerance covers the scale's resolution and packing material on light parcels, the
    percentage the spread of product weights on heavy ones. A mismatch reads, for example::

        Parcel weighs 1.42 kg, expected 1.10 kg ± 0.10 kg: confirm or re-check the contents.
    """
    for value, what in ((measured_g, "measured_g"), (expected_g, "expected_g")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{what} must be whole grams, not {value!r}")
    if expected_g < 0:
        raise ValueError(f"expected_g must be ≥ 0, not {expected_g}")
    if isinstance(tolerance_g, bool) or not isinstance(tolerance_g, int) or tolerance_g < 0:
        raise ValueError(f"tolerance_g must be whole grams ≥ 0, not {tolerance_g!r}")
    if not 0 <= tolerance_pct <= 100:
        raise ValueError(f"tolerance_pct must be between 0 and 100, not {tolerance_pct!r}")
    by_pct = int(
        (Decimal(expected_g) * Decimal(str(tolerance_pct)) / 100).to_integral_value(ROUND_HALF_UP)
    )
    allowed = max(tolerance_g, by_pct)
    difference = measured_g - expected_g
    ok = abs(difference) <= allowed
    measured, expected, tolerance = _shown(measured_g, expected_g, allowed, ok)
    if ok:
        message = sentence(
            "Parcel weighs {measured}, as expected ({expected} ± {tolerance}).",
            measured=measured,
            expected=expected,
            tolerance=tolerance,
        )
    else:
        message = sentence(
            "Parcel weighs {measured}, expected {expected} ± {tolerance}: "
            "confirm or re-check the contents.",
            measured=measured,
            expected=expected,
            tolerance=tolerance,
        )
    return WeightCheck(ok, message, difference, measured_g, expected_g, allowed)


def format_kg(grams: int, decimals: int = 2) -> str:
    """A weight in kilograms for people and labels: ``format_kg(1425) == "1.43 kg"`` (half up)."""
    return str(_kg_text(grams, decimals))


def _kg_text(grams: int, decimals: int) -> Text:
    # The number stays a Decimal, so the kiosk writes it with the packer's decimal comma.
    if not 0 <= decimals <= 3:
        raise ValueError(f"decimals must be 0…3, not {decimals!r}")
    kg = (Decimal(grams) / 1000).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    return sentence("{kg} kg", kg=kg)


def _shown(measured_g: int, expected_g: int, allowed_g: int, ok: bool) -> tuple[Text, Text, Text]:
    # One unit per message. Kilograms with two decimals read best at the bench, but they round
    # to 10 g: a parcel 101 g off with 100 g allowed would read "1.20 kg, expected 1.10 kg ±
    # 0.10 kg", which looks fine. A message must show why it says what it says, so it takes
    # three decimals when two would hide the verdict.
    if max(abs(measured_g), expected_g) < 1000:
        return (
            sentence("{grams} g", grams=measured_g),
            sentence("{grams} g", grams=expected_g),
            sentence("{grams} g", grams=allowed_g),
        )
    for decimals in (2, 3):
        step = 10 ** (3 - decimals)
        shown = [_round_half_up(v, step) for v in (measured_g, expected_g, allowed_g)]
        if (abs(shown[0] - shown[1]) <= shown[2]) == ok:
            break
    return (
        _kg_text(measured_g, decimals),
        _kg_text(expected_g, decimals),
        _kg_text(allowed_g, decimals),
    )


def _round_half_up(grams: int, step: int) -> int:
    return int((Decimal(grams) / step).to_integral_value(ROUND_HALF_UP)) * step


def _check_weight_value(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be whole grams ≥ 0, not {value!r}")


def parcel_weight(
    *,
    parcels: int,
    reading_g: int | None,
    stable: bool,
    net: bool,
    box_tare_g: int,
) -> tuple[int | None, int]:
    """Which scale reading counts as a delivery's weight, and the box tare to expect with it.

    One reading weighs one box, so it is the delivery's weight only for a one-parcel delivery,
    and only when stable and above zero (a lifted box on a tared scale reads below zero). A net
    reading was taken with the empty box tared away: then no tare is expected on top.
    Returns ``(weight_g or None, tare_g)``.
    """
    if parcels != 1 or reading_g is None or not stable or reading_g <= 0:
        return None, box_tare_g
    return reading_g, 0 if net else box_tare_g


def gross_weight_g(
    *, reading_g: int | None, stable: bool, net: bool, box_tare_g: int
) -> int | None:
    """What the one parcel on the scale weighs with its box, or None when the reading is none.

    A net reading (the scale tared with the empty box) leaves the box out, so its tare is
    added back: the label shows what the carrier weighs, and the weight check compares it with
    the contents plus the box. Unstable, zero and negative readings weigh no parcel.
    """
    weight_g, tare_g = parcel_weight(
        parcels=1, reading_g=reading_g, stable=stable, net=net, box_tare_g=box_tare_g
    )
    return None if weight_g is None else weight_g + box_tare_g - tare_g
