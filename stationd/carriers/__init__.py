"""Shipping brokers: the services that book a parcel with a carrier and hand back its id (R13).

A broker (a shipping platform in front of PostNord, Bring, DHL …) takes the receiver and the
parcel's weight and returns the carrier's parcel id, which then goes on the delivery like a typed
or scanned one. The ship-out page's "Fetch from broker" asks the station's broker through
`ShippingBroker.book_parcel`. A real broker's adapter implements that protocol in a module of
its own in this package and is chosen in `[shipping] broker`; `SimulatedBroker` is the one that
exists so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from stationd.core.documents import Address

if TYPE_CHECKING:
    from stationd.config import Settings


@dataclass(frozen=True, slots=True)
class ParcelBooking:
    """One parcel to book: whose order it belongs to, where it goes, what it weighs.

    `parcel_number` counts the parcels of this delivery from 1 (at most four, R13);
    `weight_g` is None when nobody weighed it yet.
    """

    order_id: int
    receiver: Address
    parcel_number: int = 1
    weight_g: int | None = None


class BrokerError(Exception):
    """The broker could not book a parcel; `str(err)` is a sentence for the packer."""


class ShippingBroker(Protocol):
    """What the station needs of a shipping broker."""

    #: Names the broker in the audit log and on the page (``simulated``, ``nshift`` …).
    name: str

    def book_parcel(self, booking: ParcelBooking) -> str:
        """Book one parcel and return its parcel id; raises `BrokerError` when that fails.

        Called from a request thread: it may block on the network, but never for longer than
        the adapter's own timeout.
        """
        ...


def make_broker(settings: Settings) -> ShippingBroker | None:
    """The broker `[shipping] broker` names, or None when the station has none."""
    if settings.shipping.broker == "simulated":
        from stationd.brokers.simulated import SimulatedBroker

        return SimulatedBroker(
            settings.station.state_dir / "broker-simulated.seq",
            station=settings.station.name,
            country=settings.shop.country,
        )
    return None
