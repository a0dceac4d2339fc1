"""Report-in (R13–R16): one use case for a delivery of an order reported with its parcel ids.

`ReportIn.ship` holds the whole flow, in one transaction per order: the quantities of this
delivery (everything left, or a partial delivery, R14), its parcel ids (R13: the ids kept for
the order's next delivery must all be among them, at most four, none on another order), the
parcel's weight checked against what its contents should weigh, the delivery saved, the order's
status (R15), the shipping labels queued (R16, `services/parcel_labels.py`) and the events.
`ReportIn.report` reports many orders at once, as the ship-out page does: each order is its own
transaction, one refused never holds back the others, and the answer says per order what
happened. `ship` is the flow without a station's weight check and labels (the demo and the
tests of the store use it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from stationd.clock import utcnow
from stationd.core.audit import PartialDelivery, Shipped
from stationd.core.deliveries import (
    Delivery,
    ReportResult,
    add_parcel_id,
    check_kept_parcel_ids,
    check_parcel_id,
    plan_delivery,
    report_in,
)
from stationd.core.invoices import Books, invoice_of_delivery, line_vat_percents
from stationd.core.orders import Order, OrderRuleError
from stationd.core.text import Text, sentence
from stationd.core.weight import (
    WeightCheck,
    WeightUnknownError,
    check_weight,
    delivery_items,
    expected_weight_g,
    parcel_weight,
)
from stationd.events import Bus, OrderChanged
from stationd.services.parcel_labels import ParcelLabels
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.deliveries import (
    parcel_ids_in_use,
    pending_delivery,
    save_reported_delivery,
)
from stationd.store.intake import line_vat
from stationd.store.invoices import write_invoice_record
from stationd.store.order_contents import product_weights
from stationd.store.orders import (
    load_order,
    save_line_counts,
    save_order_header,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from stationd.devices.scales.scale import WeightRead
    from stationd.services.outgoing import OutgoingQueue


def ship(
    store: Store,
    order_id: int,
    parcel_ids: Iterable[str],
    *,
    station: str,
    quantities: Mapping[int, int] | None = None,
    bus: Bus | None = None,
    at: datetime | None = None,
    weight_g: int | None = None,
    on_reported: Callable[[Connection, Order, Delivery], object] | None = None,
    books: Books | None = None,
) -> ReportResult:
    """Report in one delivery of `order_id`: everything left, or `quantities` (partial, R14).

    `on_reported` runs inside the same transaction once the delivery is saved — the station
    queues the shipping labels there (R16), so labels exist exactly when the delivery does.
    The parcel ids kept for the order's next delivery (services/parcel_ids.py) must all be
    among `parcel_ids`; that pending delivery is the one reported. The delivery's invoice
    record (R16, core/invoices.py) is written in the same transaction, booked by `books`
    (`[accounting]`; the built-in books without it).
    Raises `OrderRuleError` with the reason when the rules refuse it; nothing is written then.
    """
    wanted = [p for p in parcel_ids if p.strip()]
    with store.write() as conn:
        order = load_order(conn, order_id, for_update=True)
        if order is None:
            raise OrderRuleError(sentence("There is no order {id}.", id=order_id))
        delivery = plan_delivery(order, quantities)
        delivery.weight_g = weight_g
        clean = [check_parcel_id(p) for p in wanted]
        kept = pending_delivery(conn, order_id)
        if kept is not None:
            check_kept_parcel_ids(order_id, kept.parcel_ids, clean)
            delivery.id = kept.id
        used = parcel_ids_in_use(conn, clean, besides_order=order_id)
        for parcel_id in clean:
            add_parcel_id(delivery, parcel_id, used)
        reported_at = at or utcnow()
        result = report_in(order, delivery, reported_at)
        save_reported_delivery(conn, delivery, result, station=station)
        # R16: the bookkeeping's record of what left, exactly when the delivery is reported.
        # Dated by the station's own calendar: a parcel reported at 00:30 belongs to that day.
        # Each line at the rate the shop sent with it; a line without one at the shop's rate.
        invoice = invoice_of_delivery(
            order,
            delivery,
            books or Books(),
            issued_on=reported_at.astimezone().date(),
            vat_percent_of=line_vat_percents(line_vat(conn, [order_id])),
        )
        write_invoice_record(conn, invoice, station=station, at=reported_at)
        save_line_counts(conn, order, delivery.quantities)
        save_order_header(conn, order)
        if on_reported is not None:
            on_reported(conn, order, delivery)
        record_event(
            conn,
            (Shipped if result.shipped else PartialDelivery)(
                delivery.id,
                tuple(delivery.parcel_ids),
                {str(k): v for k, v in delivery.quantities.items()},
            ),
            station=station,
            order_id=order_id,
        )
    if bus is not None:
        bus.publish(OrderChanged(order_id, "shipped" if result.shipped else "delivery"))
    return result


class WeightNeedsConfirmation(OrderRuleError):
    """The parcel's weight is off what its contents should weigh: the packer must confirm.

    `check` carries the numbers, for a screen that asks in the packer's language.
    """

    def __init__(self, check: WeightCheck) -> None:
        super().__init__(check.message)
        self.check = check


def check_parcel_weight(
    conn: Connection,
    order: Order,
    delivery: Delivery,
    *,
    measured_g: int,
    tolerance_g: int,
    tolerance_pct: float,
    tare_g: int,
    confirmed: bool,
) -> WeightCheck | None:
    """Issue 3's weight check before a label prints: the measured weight against the products'
    weights plus the box's tare. Raises `WeightNeedsConfirmation` on a mismatch not confirmed;
    returns None when a product's weight is unknown (nothing to check against)."""
    items = delivery_items(order, delivery)
    known = product_weights(conn, items)
    try:
        expected = expected_weight_g(items, known) + tare_g
    except WeightUnknownError:
        return None
    check = check_weight(measured_g, expected, tolerance_g=tolerance_g, tolerance_pct=tolerance_pct)
    if not check.ok and not confirmed:
        raise WeightNeedsConfirmation(check)
    return check


class ScaleReading(Protocol):
    """What report-in needs of a scale: its last reading (devices/scale.py `Scale`)."""

    @property
    def last_weight(self) -> WeightRead | None: ...


@dataclass(frozen=True)
class Weighing:
    """`[scale]`'s numbers for the weight check: how far off a parcel may be, and the box's
    tare (what an empty box weighs, added to the contents' weight)."""

    tolerance_g: int
    tolerance_pct: float
    box_tare_g: int


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


class ReportIn:
    """The report-in of one station: its weight check, its scale and its labels."""

    def __init__(
        self,
        store: Store,
        bus: Bus | None,
        station: str,
        *,
        weighing: Weighing,
        labels: ParcelLabels | None = None,
        scale: ScaleReading | None = None,
        books: Books | None = None,
        outgoing: OutgoingQueue | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.station = station
        self.weighing = weighing
        #: Queues the labels of a reported delivery (R16); None: a station without printers.
        self.labels = labels
        self.scale = scale
        #: How the invoice records are booked (`[accounting]`, R16).
        self.books = books
        #: Writes the customer's shipping notice and the shop's webhooks with the delivery.
        self.outgoing = outgoing

    def ship(
        self,
        order_id: int,
        parcel_ids: list[str],
        *,
        quantities: dict[int, int] | None = None,
        weight_g: int | None = None,
        confirm_weight: bool = False,
        use_scale: bool = True,
    ) -> ReportResult:
        """Report in a delivery (R13–R15) and queue its labels in the same transaction (R16).

        The parcel's weight — given, or the scale's stable reading unless `use_scale` is False
        — goes on the delivery and the label, and is checked against what its contents should
        weigh first: a mismatch raises `WeightNeedsConfirmation` (nothing written) until
        `confirm_weight` is given. That is for a delivery of one parcel; the weight given for
        several is kept on the delivery, unchecked and on no label.
        """
        tare_g = self.weighing.box_tare_g
        if weight_g is None and use_scale and self.scale is not None:
            reading = self.scale.last_weight
            weight_g, tare_g = parcel_weight(
                parcels=len(parcel_ids),
                reading_g=reading.grams if reading is not None else None,
                stable=reading is not None and reading.stable,
                net=reading is not None and reading.net,
                box_tare_g=tare_g,
            )
        weighed = _Weighed(weight_g, tare_g, confirm_weight)
        return ship(
            self.store,
            order_id,
            parcel_ids,
            station=self.station,
            quantities=quantities,
            bus=self.bus,
            weight_g=weight_g,
            on_reported=lambda conn, order, delivery: self._reported(
                conn, order, delivery, weighed
            ),
            books=self.books,
        )

    def _reported(
        self, conn: Connection, order: Order, delivery: Delivery, weighed: _Weighed
    ) -> None:
        # One weight per report-in, and the scale's is one box's: a delivery of several
        # parcels has nothing it could be checked against.
        if weighed.weight_g is not None and len(delivery.parcel_ids) == 1:
            check_parcel_weight(
                conn,
                order,
                delivery,
                measured_g=weighed.weight_g,
                tolerance_g=self.weighing.tolerance_g,
                tolerance_pct=self.weighing.tolerance_pct,
                tare_g=weighed.tare_g,
                confirmed=weighed.confirmed,
            )
        # R16, one rule: each label prints once — at the bench if it printed them when the
        # delivery was packed, else here (also for a parcel id added since).
        if self.labels is not None:
            self.labels.at_report_in(conn, order, delivery)
        # R16: the notice and the webhooks exist exactly when the delivery does.
        if self.outgoing is not None:
            self.outgoing.at_report_in(conn, order, delivery)

    def report(self, requests: Iterable[DeliveryRequest]) -> list[DeliveryOutcome]:
        """R15: report in each request, each its own transaction (the ship-out page's button).

        Returns one outcome per request, in order. A refused one (a bad check digit, an id on
        another order, more than is left) changes nothing and doesn't stop the ones after it.
        """
        outcomes = []
        for request in requests:
            try:
                result = self.ship(
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
            outcomes.append(self._outcome(request, result))
        return outcomes

    def _outcome(self, request: DeliveryRequest, result: ReportResult) -> DeliveryOutcome:
        parcels = tuple(check_parcel_id(p) for p in request.parcel_ids if p.strip())
        if result.shipped:
            message = sentence("Shipped with {count} parcel(s).", count=len(parcels))
            return DeliveryOutcome(request.order_id, Outcome.SHIPPED, message, parcels)
        with self.store.read() as conn:
            order = load_order(conn, request.order_id)
        left = _left(order)
        message = sentence(
            "{count} item(s) delivered; the order stays packing with {left} item(s) left.",
            count=sum(result.stock_out.values()),
            left=sum(n for _, n in left),
        )
        return DeliveryOutcome(request.order_id, Outcome.PARTIAL, message, parcels, left)


@dataclass(frozen=True)
class _Weighed:
    """The weight one report-in goes by: measured, the tare it includes, confirmed or not."""

    weight_g: int | None
    tare_g: int
    confirmed: bool


def _left(order: Order | None) -> tuple[tuple[str, int], ...]:
    if order is None:
        return ()
    return tuple((line.name, line.undelivered) for line in order.lines if line.undelivered)
