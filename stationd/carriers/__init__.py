"""Carriers: the services that book a parcel and hand back its parcel id (R13).

A carrier (PostNord, Bring, DHL …, or a shipping platform in front of them) takes the receiver
and the parcel's weight and returns the parcel id, which then goes on the delivery like a typed
or scanned one. The ship-out page's "Fetch from carrier" asks the station's carrier through
`Carrier.book_parcel`. A real carrier's adapter implements that protocol in a module of its own
in this package and is chosen in `[shipping] carrier`; `SimulatedCarrier` is the one that
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


class CarrierError(Exception):
    """The carrier could not book a parcel; `str(err)` is a sentence for the packer."""


class Carrier(Protocol):
    """What the station needs of a carrier."""

    #: Names the carrier in the audit log and on the page (``simulated``, ``nshift`` …).
    name: str

    def book_parcel(self, booking: ParcelBooking) -> str:
        """Book one parcel and return its parcel id; raises `CarrierError` when that fails.

        Called from a request thread: it may block on the network, but never for longer than
        the adapter's own timeout.
        """
        ...


def make_carrier(settings: Settings) -> Carrier | None:
    """The carrier `[shipping] carrier` names, or None when the station has none."""
    if settings.shipping.carrier == "simulated":
        from stationd.carriers.simulated import SimulatedCarrier

        return SimulatedCarrier(
            # The file keeps its old name: a new one would start the sequence again at 1.
            settings.station.state_dir / "broker-simulated.seq",
            station=settings.station.name,
            country=settings.shop.country,
        )
    return None
