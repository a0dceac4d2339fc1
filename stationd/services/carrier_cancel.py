"""Cancel at the carrier a shipment whose parcel id was taken off the next delivery (issue 13
section 2): the one call the outbox's worker makes for `CANCEL_KIND` rows.

The row was written with the id's removal (services/parcel_ids.drop_parcel_id). The shipment
is looked up by the reference it was booked under and cancelled; one the carrier does not know
(any more) is sent with nothing to do — a cancel that went through before a crash, tried
again, finds nothing. A carrier that can't cancel (Shipmondo's API) fails the row with its
sentence, which Tools → Outgoing shows to a person who cancels it there by hand.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stationd.carriers import Carrier, CarrierError
from stationd.core.text import sentence
from stationd.services.outgoing import SendFailed

if TYPE_CHECKING:
    from stationd.store.outgoing import OutgoingItem

log = logging.getLogger(__name__)


class CarrierCancelSender:
    """The outbox's sender of `CANCEL_KIND` rows: cancels the row's shipment at `carrier`,
    the station's configured one."""

    def __init__(self, carrier: Carrier) -> None:
        self.carrier = carrier

    def send(self, item: OutgoingItem) -> None:
        """Cancel the shipment booked under the row's reference; raises `SendFailed` with the
        carrier's sentence when it is still booked."""
        booked_with = str(item.payload.get("carrier", ""))
        reference = str(item.payload.get("reference", ""))
        parcel_id = str(item.payload.get("parcel_id", ""))
        if booked_with != self.carrier.name:
            raise SendFailed(
                sentence(
                    "Parcel {parcel_id} was booked with {booked}, and this station now uses "
                    "{carrier}: cancel shipment {reference} at {booked}.",
                    parcel_id=parcel_id,
                    booked=booked_with,
                    carrier=self.carrier.name,
                    reference=reference,
                ),
                final=True,
            )
        try:
            shipment = self.carrier.look_up(reference)
            if shipment is None:
                log.info("%s: %s is not booked: nothing to cancel", self.carrier.name, reference)
                return
            self.carrier.cancel(shipment)
        except CarrierError as err:
            raise SendFailed(err.args[0], final=err.final) from None
        log.info("%s: %s (parcel %s) cancelled", self.carrier.name, reference, parcel_id)
