"""R13, issue 13 section 2: a parcel id a carrier booked and the packer takes off the next
delivery is cancelled at that carrier, or its EDI goes out and the shipment is charged.

The cancel is an outgoing row (store/outgoing.py) written in the transaction that takes the id
off, so it exists exactly when the id is gone; services/carrier_cancel.py sends it. A typed or
scanned id was never booked by the station: nothing to cancel.
"""

from __future__ import annotations

from typing import Any

from stationd.core.audit import ParcelBooked

#: The kind of an outgoing row whose sender cancels a booked shipment at the carrier.
CANCEL_KIND = "carrier.cancel"


def booking_reference(order_id: int, delivery: int, booking: int) -> str:
    """The station's name at the carrier for one booking: order, delivery, and the order's
    booking number (its bookings kept so far, plus one).

    Asking again before the booking is kept gives the same reference — a lost answer, a crash,
    a second tab — so the carrier's look-up finds the booking made before instead of booking
    twice (carriers/no_double_booking.py). Once kept, the next one gets the next number, also
    when a kept id was taken off again (its position would come round again; its number not)."""
    return f"{order_id}-{delivery}-{booking}"


def cancel_payload(
    booked: ParcelBooked, *, order_id: int, delivery: int, booking: int
) -> dict[str, Any]:
    """The outgoing row's payload that cancels `booked`'s shipment: the carrier, the reference
    it was booked under and the parcel id.

    An event written before the reference was kept with it gets the one `booking_reference`
    made then: `delivery` is the pending delivery's number and `booking` the event's number
    among the order's bookings. A booking that was retried after the carrier handed out an id
    in use had a suffix ("-2") that is not known any more: its look-up finds nothing, and the
    row is sent with nothing cancelled."""
    reference = booked.reference or booking_reference(order_id, delivery, booking)
    return {"carrier": booked.broker, "reference": reference, "parcel_id": booked.parcel_id}
