"""Carriers: the services that book a parcel and hand back its parcel id and label (R13, R16).

A carrier (PostNord, Bring, DHL …, or a shipping platform in front of them such as nShift or
Shipmondo) takes the receiver and the parcels' weights and books a shipment: its parcel ids go
on the delivery like typed or scanned ones, its labels (ZPL) print on the label printer through
the durable queue. The ship-out page's "Fetch from carrier" and the bench's labels when packed
ask the station's carrier through `Carrier.book`; `Carrier.look_up` finds a shipment by the
station's reference for it, and `Carrier.cancel` takes one back. Each adapter is a module of
its own in this package, chosen in `[shipping] carrier`:

- `simulated`: made-up S10 ids for the demo and the tests (carriers/simulated.py),
- `nshift`: nShift Delivery, formerly Unifaun Online (carriers/nshift.py),
- `shipmondo`: Shipmondo's API v3 (carriers/shipmondo.py).

No double booking: a real adapter looks the reference up before it books, and a booking whose
outcome it can't know (the answer timed out after the request was sent) is settled by that
look-up, never by booking again (carriers/no_double_booking.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from stationd.core.documents import Address

if TYPE_CHECKING:
    from stationd.config import Settings
    from stationd.store.database import Store


@dataclass(frozen=True, slots=True)
class ParcelBooking:
    """One shipment to book: whose order it belongs to, where it goes, what its parcels weigh.

    `parcel_number` counts the parcels of this delivery from 1 (at most four, R13): the station
    books one parcel at a time (a "Fetch from carrier" is one parcel), so a booking is one
    parcel unless `parcels` says more. `weight_g` is None when nobody weighed it yet.
    `reference` is the station's name for this booking at the carrier (order, delivery, booking):
    the same booking asked again carries the same reference, which is how the carrier is asked
    whether it exists already.
    """

    order_id: int
    receiver: Address
    parcel_number: int = 1
    weight_g: int | None = None
    reference: str = ""
    parcels: int = 1


@dataclass(frozen=True, slots=True)
class Shipment:
    """A booked shipment: the carrier's id for it, the station's reference, the parcel ids
    (one per parcel, in order) and the labels to print — ZPL documents as the carrier made
    them (or its PDF label rasterised into ZPL); none when the station prints its own label for
    these ids (the simulated carrier)."""

    carrier_id: str
    reference: str
    parcel_ids: tuple[str, ...]
    labels: tuple[bytes, ...] = ()


class CarrierError(Exception):
    """The carrier could not book, find or cancel; `err.args[0]` is a sentence for the packer
    (a core `Text`, so the kiosk says it in the packer's language). `final`: asking again can't
    help (the carrier's API does not offer it), as opposed to a network or server fault."""

    def __init__(self, reason: object, *, final: bool = False) -> None:
        super().__init__(reason)
        self.final = final


class Carrier(Protocol):
    """What the station needs of a carrier."""

    #: Names the carrier in the audit log and on the page (``simulated``, ``nshift`` …).
    name: str

    def book(self, booking: ParcelBooking) -> Shipment:
        """Book `booking` (or find it booked already under its reference) and return the
        shipment; raises `CarrierError` when that fails.

        Called from a request thread: it may block on the network, but never for longer than
        the adapter's own timeouts and retries allow.
        """
        ...

    def look_up(self, reference: str) -> Shipment | None:
        """The shipment booked under `reference`, or None when the carrier has none."""
        ...

    def cancel(self, shipment: Shipment) -> None:
        """Take a booked shipment back (it will not be sent to the carrier)."""
        ...


def shop_address(settings: Settings) -> Address:
    """The shop (`[shop]`) as the sender a carrier books from."""
    shop = settings.shop
    return Address(shop.name, shop.street, shop.postcode, shop.city, shop.country)


def make_carrier(settings: Settings, store: Store) -> Carrier | None:
    """The carrier `[shipping] carrier` names, or None when the station has none; what it
    keeps of its bookings goes in `store`, shared with the other stations on it."""
    shipping = settings.shipping
    if shipping.carrier == "simulated":
        from stationd.carriers.simulated import SimulatedCarrier

        return SimulatedCarrier(
            # The file keeps its old name: a new one would start the sequence again at 1.
            settings.station.state_dir / "broker-simulated.seq",
            station=settings.station.name,
            country=settings.shop.country,
        )
    if shipping.carrier == "nshift":
        from stationd.carriers.nshift import NShiftCarrier
        from stationd.store.carrier_feed import CarrierFeed

        return NShiftCarrier.from_settings(settings, CarrierFeed(store, "nshift"))
    if shipping.carrier == "shipmondo":
        from stationd.carriers.shipmondo import ShipmondoCarrier

        return ShipmondoCarrier.from_settings(settings)
    return None
