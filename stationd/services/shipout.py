"""The ship-out page's use cases: check a parcel id and keep it on the order's next delivery,
take one off again, fetch one from the broker, and report in many orders at once (R13–R15).

Each order of a report-in is its own transaction through the station's `ship` (the shipping use
case with its weight check and labels): one order refused never holds back the others, and
the answer says per order what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from stationd.brokers import ShippingBroker
from stationd.core.deliveries import ReportResult, check_parcel_id
from stationd.core.orders import Order, OrderRuleError
from stationd.core.text import Text, sentence
from stationd.events import Bus, OrderChanged
from stationd.services.parcel_ids import (
    book_parcel_id,
    drop_parcel_id,
    keep_parcel_id,
    valid_parcel_ids,
)
from stationd.services.report_in import WeightNeedsConfirmation
from stationd.store.database import Store
from stationd.store.deliveries import parcel_ids_in_use
from stationd.store.orders import load_order


def check_parcel_id_for(
    store: Store, code: str, *, others: Collection[str] = (), order_id: int | None = None
) -> str:
    """R13: `code` as the parcel id it is, or `OrderRuleError` saying why it can't be one.

    Checks its format and check digit, that it isn't among `others` (the other ids typed for
    the same delivery) and that no order has it already (`order_id`'s own kept ids aside).
    """
    clean = check_parcel_id(code)
    if clean in valid_parcel_ids(others):
        raise OrderRuleError(sentence("Parcel id {code} is already on this delivery.", code=clean))
    with store.read() as conn:
        if parcel_ids_in_use(conn, [clean], besides_order=order_id):
            raise OrderRuleError(
                sentence("Parcel id {code} is already used on another order.", code=clean)
            )
    return clean


def keep_typed_parcel_id(
    store: Store, bus: Bus | None, order_id: int, code: str, *, replaces: str = "", station: str
) -> str:
    """R13: a parcel-id field left on the ship-out page: keep its id on the order's next
    delivery in place of `replaces` (what the field held before, if it was kept); returns the
    id as kept. An empty field takes `replaces` off. Raises `OrderRuleError` and changes
    nothing when the rules refuse it."""
    with store.write() as conn:
        order = load_order(conn, order_id, for_update=True)
        if order is None:
            raise OrderRuleError(sentence("There is no order {id}.", id=order_id))
        if code.strip():
            clean = check_parcel_id(code)
            keep_parcel_id(conn, order, clean, station=station, how="typed", replaces=replaces)
        else:
            clean = ""
            if replaces:
                drop_parcel_id(conn, order_id, replaces, station=station)
    if bus is not None and clean != replaces:
        bus.publish(OrderChanged(order_id, "parcels"))
    return clean


def fetch_parcel_id(
    store: Store,
    broker: ShippingBroker,
    order_id: int,
    *,
    taken: Collection[str] = (),
    weight_g: int | None = None,
    station: str,
    bus: Bus | None = None,
) -> str:
    """R13: book the next parcel of `order_id`'s delivery with the broker and keep its id on
    the delivery; returns it. `taken` are the ids in the order's fields (at most four in all,
    with the kept ones). Raises `OrderRuleError` when the order can't ship or has no room for
    another parcel, `BrokerError` when the broker fails."""
    parcel_id = book_parcel_id(
        store, broker, order_id, station=station, how="broker", taken=taken, weight_g=weight_g
    )
    if bus is not None:
        bus.publish(OrderChanged(order_id, "parcels"))
    return parcel_id


@dataclass(frozen=True)
class DeliveryRequest:
    """One filled row of the ship-out page: an order's next delivery as the packer gave it."""

    order_id: int
    parcel_ids: list[str]
    quantities: dict[int, int]
    weight_g: int | None = None
    confirm_weight: bool = False


class Outcome(StrEnum):
    SHIPPED = "shipped"  # every line delivered: the order is shipped (R15)
    PARTIAL = "partial"  # delivered in part: the order stays packing (R14)
    CONFIRM = "confirm"  # the weight is off: nothing written until the packer confirms
    REFUSED = "refused"  # the rules refused it: nothing written


@dataclass(frozen=True)
class DeliveryOutcome:
    """What report-in did with one order; `message` is the sentence for the packer."""

    order_id: int
    outcome: Outcome
    message: Text | str
    parcel_ids: tuple[str, ...] = ()
    #: For a partial delivery: (item name, items still to deliver) of each line with some left.
    left: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.SHIPPED, Outcome.PARTIAL)


Ship = Callable[..., ReportResult]


def report_deliveries(
    ship: Ship, store: Store, requests: Iterable[DeliveryRequest]
) -> list[DeliveryOutcome]:
    """R15: report in each request through `ship` (the station's), each its own transaction.

    Returns one outcome per request, in order. A refused one (a bad check digit, an id on
    another order, more than is left) changes nothing and doesn't stop the ones after it.
    """
    outcomes = []
    for request in requests:
        try:
            result = ship(
                request.order_id,
                request.parcel_ids,
                quantities=request.quantities,
                weight_g=request.weight_g,
                confirm_weight=request.confirm_weight,
                use_scale=False,
            )
        except WeightNeedsConfirmation as err:
            outcomes.append(DeliveryOutcome(request.order_id, Outcome.CONFIRM, err.args[0]))
            continue
        except OrderRuleError as err:
            outcomes.append(DeliveryOutcome(request.order_id, Outcome.REFUSED, err.args[0]))
            continue
        outcomes.append(_reported(store, request, result))
    return outcomes


def _reported(store: Store, request: DeliveryRequest, result: ReportResult) -> DeliveryOutcome:
    parcels = tuple(check_parcel_id(p) for p in request.parcel_ids if p.strip())
    if result.shipped:
        message = sentence("Shipped with {count} parcel(s).", count=len(parcels))
        return DeliveryOutcome(request.order_id, Outcome.SHIPPED, message, parcels)
    with store.read() as conn:
        order = load_order(conn, request.order_id)
    left = _left(order)
    message = sentence(
        "{count} item(s) delivered; the order stays packing with {left} item(s) left.",
        count=sum(result.stock_out.values()),
        left=sum(n for _, n in left),
    )
    return DeliveryOutcome(request.order_id, Outcome.PARTIAL, message, parcels, left)


def _left(order: Order | None) -> tuple[tuple[str, int], ...]:
    if order is None:
        return ()
    return tuple((line.name, line.undelivered) for line in order.lines if line.undelivered)
