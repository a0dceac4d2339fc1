"""Shipmondo: parcels booked over its public API v3.

Built from Shipmondo's public documentation:

- the API v3 OpenAPI document, https://app.shipmondo.com/api/public/v3/openapi.json (read
  through https://context7.com/openapi/app_shipmondo_api_public_v3_openapi_json/llms.txt):
  base https://app.shipmondo.com/api/public/v3 (sandbox https://sandbox.shipmondo.com/…),
  HTTP basic authentication with the API user and API key (401 "Invalid API User or API Key"),
  429 "Too many requests", `label_format` values such as `a4_pdf` and `10x19_zpl`;
- the shipment payloads: https://shipmondo.dev/changelog/tags/shipments (`POST /shipments`,
  `GET /shipments`, `GET /shipments/{id}`; `parcels[]` in the answer).

`POST /shipments` carries `own_agreement`, `label_format` "10x19_zpl", `product_code`, the
station's `reference`, `sender`, `receiver` and `parcels[].weight` (grams); the answer holds the
shipment's `id`, `pkg_no`, `parcels[].pkg_no` and `labels[].base64`. The look-up is
`GET /shipments?reference=…`, matched exactly on `reference` here as well; a shipment found
that way gets its label from `GET /shipments/{id}/labels?label_format=10x19_zpl`.

Shipmondo's documentation as read here shows no way to cancel a booked shipment over the API:
`cancel` says so in a sentence (it is done in Shipmondo's own web app).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stationd.carriers import CarrierError, ParcelBooking, Shipment, shop_address
from stationd.carriers.http_session import CarrierHttp, OutcomeUnknown
from stationd.carriers.no_double_booking import book_once
from stationd.core.documents import Address
from stationd.core.text import sentence

if TYPE_CHECKING:
    from stationd.config import Settings

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://app.shipmondo.com/api/public/v3"
LABEL_FORMAT = "10x19_zpl"
#: How many shipments one look-up asks for (a reference has one, rarely a few).
PER_PAGE = 20


class ShipmondoCarrier:
    """Books through Shipmondo's `POST /shipments`, one shipment per booking."""

    name = "Shipmondo"

    def __init__(
        self,
        http: CarrierHttp,
        *,
        product_code: str,
        sender: Address,
        default_weight_g: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.product_code = product_code
        self.sender = sender
        self.default_weight_g = default_weight_g
        self.sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings) -> ShipmondoCarrier:
        """The adapter `[shipping]` describes."""
        shipping = settings.shipping
        http = CarrierHttp.from_settings(cls.name, shipping, PRODUCTION_URL)
        return cls(
            http,
            product_code=shipping.service,
            sender=shop_address(settings),
            default_weight_g=shipping.default_weight_g,
        )

    # -- the Carrier protocol ------------------------------------------------------------------

    def book(self, booking: ParcelBooking) -> Shipment:
        """The shipment of `booking.reference`: found by the look-up, else created."""
        return book_once(
            booking.reference,
            look_up=self.look_up,
            create=lambda: self._create(booking),
            carrier=self.name,
            tries=self.http.tries,
            sleep=self.sleep,
        )

    def look_up(self, reference: str) -> Shipment | None:
        """`GET /shipments?reference=…`: the shipment booked under `reference`, with its
        label fetched again."""
        found = self.http.read(
            "/shipments", params={"reference": reference, "page": 1, "per_page": PER_PAGE}
        )
        if not isinstance(found, list):
            raise self.http.unreadable()
        for data in found:
            if isinstance(data, dict) and str(data.get("reference") or "") == reference:
                shipment = self._shipment_of(data, reference)
                labels = self.http.read(
                    f"/shipments/{shipment.carrier_id}/labels",
                    params={"label_format": LABEL_FORMAT},
                )
                return Shipment(
                    shipment.carrier_id, reference, shipment.parcel_ids, self._labels(labels)
                )
        return None

    def cancel(self, shipment: Shipment) -> None:
        """Not offered by the API as documented: the sentence says where to do it."""
        raise CarrierError(
            sentence(
                "Shipmondo's API can't cancel a booked shipment: cancel shipment {id} in "
                "Shipmondo.",
                id=shipment.carrier_id,
            ),
            final=True,
        )

    # -- creating ------------------------------------------------------------------------------

    def _create(self, booking: ParcelBooking) -> Shipment:
        answer = self.http.create("/shipments", self._request(booking))
        try:
            if not isinstance(answer, dict):
                raise self.http.unreadable()
            made = self._shipment_of(answer, booking.reference)
        except CarrierError:
            # Shipmondo said 2xx, so it may well have booked: the look-up settles it.
            raise OutcomeUnknown("an answer without id and pkg_no") from None
        log.info("Shipmondo: %s booked as %s", booking.reference, made.carrier_id)
        return Shipment(
            made.carrier_id, made.reference, made.parcel_ids, self._labels(answer.get("labels"))
        )

    def _request(self, booking: ParcelBooking) -> dict[str, Any]:
        receiver = booking.receiver
        weight_g = booking.weight_g or self.default_weight_g
        return {
            "own_agreement": False,
            "label_format": LABEL_FORMAT,
            "product_code": self.product_code,
            "reference": booking.reference,
            "automatic_select_service_point": True,
            "sender": {
                "name": self.sender.name,
                "address1": self.sender.street,
                "zipcode": self.sender.postcode,
                "city": self.sender.city,
                "country_code": self.sender.country,
            },
            "receiver": {
                "name": receiver.name,
                "address1": receiver.street,
                "zipcode": receiver.postcode,
                "city": receiver.city,
                "country_code": receiver.country or self.sender.country,
            },
            "parcels": [{"weight": weight_g} for _ in range(max(booking.parcels, 1))],
        }

    def _shipment_of(self, data: dict[str, Any], reference: str) -> Shipment:
        try:
            shipment_id = str(data["id"])
            parcels = tuple(str(p["pkg_no"]) for p in data["parcels"] if p.get("pkg_no"))
        except (KeyError, TypeError, AttributeError):
            raise self.http.unreadable() from None
        if not parcels and data.get("pkg_no"):
            parcels = (str(data["pkg_no"]),)
        if not shipment_id or not parcels:
            raise self.http.unreadable()
        return Shipment(shipment_id, reference, parcels)

    def _labels(self, labels: Any) -> tuple[bytes, ...]:
        documents = []
        for label in labels if isinstance(labels, list) else []:
            if not isinstance(label, dict) or not label.get("base64"):
                continue
            try:
                payload = base64.b64decode(label["base64"], validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise self.http.unreadable() from None
            if payload.startswith(b"%PDF") or label.get("file_format") == "pdf":
                raise CarrierError(
                    sentence(
                        "Shipmondo sent the label as PDF, and this station prints only ZPL "
                        "labels: check the label format of the Shipmondo account."
                    )
                )
            documents.append(payload)
        return tuple(documents)
