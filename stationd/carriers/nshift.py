"""nShift Delivery (formerly Unifaun Online): parcels booked over its REST API.

Built from nShift's public documentation:

- REST API, authorization: https://help.unifaun.com/phc-no/en/16401-16968-authorization-and-access.html
  (base https://api.unifaun.com/rs-extapi/v1, HTTPS only; basic authentication with the API
  key: its Id as user name, its Secret Id as password) and
  https://developers.nshiftone.com/delivery/authentication;
- shipments: https://help.unifaun.com/uo-se/en/integrations/apiconnect/shipments.html and
  https://helpcenter.nshift.com/hc/en-us/articles/7471973291292-Integration-via-API-shipments
  (`POST /shipments` creates and prints a shipment after `printConfig` — `target1Type` "zpl"
  with a `target1Media` such as "thermo-190" —, `returnFile=true` puts the documents inline as
  base64 in `prints[].data`, else `prints[].href` for an hour; the answer holds `shipmentNo`
  and `parcels[].parcelNo`; `DELETE /shipments/{id}` deletes one before its EDI is sent);
- fetching printed shipments: https://developers.nshiftone.com/delivery/shipments/get-shipments
  (`GET /shipments?fetchId=…` hands out the shipments printed since the `fetchId` of the call
  before — `-1` for a first one —, at most 100 a call, `done` false when more wait, `minDelay`
  in ms when called too fast; it needs the account's "REST API TrackBack" licence).

nShift has no search of printed shipments by order number, so the look-up by reference reads
that feed from where it stopped and keeps what it saw (order number → shipment) in the
database (`FeedRecord`, store/carrier_feed.py): a booking a station made is found there, also
after a restart and by every other station on the same database — a feed position per station
would have a second station start reading *now*, miss the first one's booking and book again.
The station's reference goes in `orderNo` (and `senderReference`).

Labels are ZPL: the station asks for ZPL, and where the account can't print ZPL and nShift
sends a PDF label instead, its pages are rasterised for the station's label printer — its dots
per mm, on 100 mm stock — and go as ZPL graphic fields (devices/rendering/pdf_zpl.py). A PDF that
can't be read is a sentence; the booking is noted before its labels are read, so asking again
finds it and books nothing more.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from stationd.carriers import CarrierError, ParcelBooking, Shipment, shop_address
from stationd.carriers.http_session import CarrierHttp, OutcomeUnknown
from stationd.carriers.no_double_booking import book_once
from stationd.core.documents import Address
from stationd.core.text import sentence
from stationd.devices.rendering.pdf_zpl import PdfLabelError, pdf_to_zpl
from stationd.store.carrier_feed import SeenShipment

if TYPE_CHECKING:
    from stationd.config import Settings

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://api.unifaun.com/rs-extapi/v1"
#: How many pages of the feed one look-up reads at most (100 shipments each).
MAX_PAGES = 50
#: The print head a PDF label is rasterised for when no ZPL label printer is configured.
DEFAULT_DPMM = 8


class FeedRecord(Protocol):
    """Where the feed was read to and what it showed by reference (store/carrier_feed.py's
    `CarrierFeed`, shared by the stations on one database)."""

    def position(self) -> str | None: ...

    def seen(self, reference: str) -> SeenShipment | None: ...

    def note(self, seen: Mapping[str, SeenShipment], *, read_to: str | None = None) -> None: ...


class NShiftCarrier:
    """Books through nShift Delivery's `POST /shipments`, one shipment per booking."""

    name = "nShift"

    def __init__(
        self,
        http: CarrierHttp,
        record: FeedRecord,
        *,
        service: str,
        sender: Address,
        sender_quick_id: str = "",
        label_media: str = "thermo-190",
        default_weight_g: int = 1000,
        label_dpmm: int = DEFAULT_DPMM,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.record = record
        self.service = service
        self.sender = sender
        self.sender_quick_id = sender_quick_id
        self.label_media = label_media
        self.default_weight_g = default_weight_g
        #: The label printer's dots per mm: what a PDF label is rasterised for.
        self.label_dpmm = label_dpmm
        self.sleep = sleep
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, record: FeedRecord) -> NShiftCarrier:
        """The adapter `[shipping]` describes; what its feed showed kept in `record`."""
        shipping = settings.shipping
        http = CarrierHttp.from_settings(cls.name, shipping, PRODUCTION_URL)
        return cls(
            http,
            record,
            service=shipping.service,
            sender=shop_address(settings),
            sender_quick_id=shipping.sender_quick_id,
            label_media=shipping.label_media,
            default_weight_g=shipping.default_weight_g,
            label_dpmm=label_printer_dpmm(settings),
        )

    # -- the Carrier protocol ------------------------------------------------------------------

    def book(self, booking: ParcelBooking) -> Shipment:
        """The shipment of `booking.reference`: found in the feed, else created."""
        return book_once(
            booking.reference,
            look_up=self.look_up,
            create=lambda: self._create(booking),
            carrier=self.name,
            tries=self.http.tries,
            sleep=self.sleep,
        )

    def look_up(self, reference: str) -> Shipment | None:
        """The shipment printed under order number `reference`: the feed read up to now,
        then what it ever showed of that reference (its labels fetched again)."""
        with self._lock:
            self._read_feed()
        seen = self.record.seen(reference)
        if seen is None:
            return None
        labels = self._labels_of(seen.shipment_id) if seen.shipment_id else ()
        return Shipment(seen.shipment_no, reference, seen.parcel_ids, labels)

    def cancel(self, shipment: Shipment) -> None:
        """`DELETE /shipments/{id}`: the shipment's EDI is not sent to the carrier. One nShift
        does not know (404: deleted already) has nothing left to take back."""
        seen = self.record.seen(shipment.reference)
        shipment_id = (seen and seen.shipment_id) or shipment.carrier_id
        if not self.http.delete(f"/shipments/{shipment_id}"):
            log.info("nShift: shipment %s is gone already: nothing to cancel", shipment_id)

    # -- creating ------------------------------------------------------------------------------

    def _create(self, booking: ParcelBooking) -> Shipment:
        answer = self.http.create(
            "/shipments",
            self._request(booking),
            params={"returnFile": "true"},
        )
        shipment = answer[0] if isinstance(answer, list) and answer else answer
        try:
            if not isinstance(shipment, dict):
                raise self.http.unreadable()
            made = self._shipment_of(shipment, booking.reference)
        except CarrierError:
            # nShift said 2xx, so it may well have booked: the look-up settles it.
            raise OutcomeUnknown("an answer without shipmentNo and parcelNo") from None
        # Noted at once: another station looking this reference up finds it without the feed,
        # and so does this one when the labels below can't be read.
        self.record.note({booking.reference: _seen(shipment, made)})
        labels = tuple(self._documents(shipment.get("prints")))
        log.info("nShift: %s booked as %s", booking.reference, made.carrier_id)
        return Shipment(made.carrier_id, made.reference, made.parcel_ids, labels)

    def _request(self, booking: ParcelBooking) -> dict[str, Any]:
        sender: dict[str, Any] = {
            "name": self.sender.name,
            "address1": self.sender.street,
            "zipcode": self.sender.postcode,
            "city": self.sender.city,
            "country": self.sender.country,
        }
        if self.sender_quick_id:
            sender["quickId"] = self.sender_quick_id
        receiver = booking.receiver
        weight_kg = (booking.weight_g or self.default_weight_g) / 1000
        return {
            "printConfig": {"target1Media": self.label_media, "target1Type": "zpl"},
            "shipment": {
                "sender": sender,
                "receiver": {
                    "name": receiver.name,
                    "address1": receiver.street,
                    "zipcode": receiver.postcode,
                    "city": receiver.city,
                    "country": receiver.country or self.sender.country,
                },
                "service": {"id": self.service},
                "orderNo": booking.reference,
                "senderReference": booking.reference,
                "parcels": [
                    {"copies": 1, "weight": round(weight_kg, 3), "contents": "Goods"}
                    for _ in range(max(booking.parcels, 1))
                ],
            },
        }

    def _shipment_of(self, data: dict[str, Any], reference: str) -> Shipment:
        try:
            number = str(data["shipmentNo"])
            parcels = tuple(str(p["parcelNo"]) for p in data["parcels"])
        except (KeyError, TypeError):
            raise self.http.unreadable() from None
        if not number or not parcels or not all(parcels):
            raise self.http.unreadable()
        return Shipment(number, reference, parcels)

    # -- labels --------------------------------------------------------------------------------

    def _labels_of(self, shipment_id: str) -> tuple[bytes, ...]:
        """`GET /shipments/{id}/prints`: the shipment's documents again (a look-up found it);
        none when nShift does not know the shipment any more (deleted: a cancel finds it gone,
        and a 404 here must not stop it)."""
        prints = self.http.read_if_there(f"/shipments/{shipment_id}/prints")
        return tuple(self._documents(prints))

    def _documents(self, prints: Any) -> list[bytes]:
        documents = []
        for document in prints if isinstance(prints, list) else []:
            if not isinstance(document, dict):
                continue
            if document.get("data"):
                try:
                    payload = base64.b64decode(document["data"], validate=True)
                except (binascii.Error, ValueError, TypeError):
                    raise self.http.unreadable() from None
            elif document.get("href"):
                payload = self.http.read_bytes(str(document["href"]))
            else:
                continue
            if payload.startswith(b"%PDF"):
                payload = self._rasterised(payload)
            documents.append(payload)
        return documents

    def _rasterised(self, pdf: bytes) -> bytes:
        """A PDF label as ZPL for the label printer; a sentence when it can't be read."""
        try:
            return pdf_to_zpl(pdf, dpmm=self.label_dpmm)
        except PdfLabelError:
            raise CarrierError(
                sentence(
                    "nShift sent the label as a PDF the station can't read: print it from "
                    "nShift's site, or let the nShift account print to a thermal (ZPL) printer."
                )
            ) from None

    # -- the feed of printed shipments -----------------------------------------------------------

    def _read_feed(self) -> None:
        """Read the feed up to now into the record, page by page (what was read stays read,
        also when the feed stops early). Raises `CarrierError` when it can't be read to the
        end: a look-up that did not see everything must not answer "none" (it would book
        again)."""
        fetch_id = self.record.position() or "-1"
        waited = False
        for _ in range(MAX_PAGES):
            page = self.http.read("/shipments", params={"fetchId": fetch_id})
            if not isinstance(page, dict) or "fetchId" not in page:
                raise self.http.unreadable()
            shipments = page.get("shipments") or []
            try:
                delay_s = float(page.get("minDelay") or 0) / 1000
            except (TypeError, ValueError):
                raise self.http.unreadable() from None
            if not shipments and str(page["fetchId"]) == str(fetch_id) and delay_s:
                # Called too fast: nShift says how long to wait; the station waits once in the
                # packer's request, and a second "too fast" is a sentence.
                if waited or delay_s > self.http.max_wait_s:
                    raise CarrierError(
                        sentence(
                            "{carrier} asks the station to wait {seconds} s before it "
                            "tries again; try again later.",
                            carrier=self.name,
                            seconds=round(delay_s),
                        )
                    )
                self.sleep(delay_s)
                waited = True
                continue
            seen: dict[str, SeenShipment] = {}
            for data in shipments if isinstance(shipments, list) else []:
                order_no = data.get("orderNo") if isinstance(data, dict) else None
                if not order_no:
                    continue
                try:
                    made = self._shipment_of(data, str(order_no))
                except CarrierError:
                    # The feed lists the whole account's shipments: one the station can't
                    # read (made elsewhere, no parcel number yet) is skipped, not a stop to
                    # every booking after it.
                    log.warning("nShift: feed: shipment of order %s without parcels", order_no)
                    continue
                seen[str(order_no)] = _seen(data, made)
            fetch_id = str(page["fetchId"])
            self.record.note(seen, read_to=fetch_id)
            if page.get("done", True):
                return
        raise self.http.unreadable()  # more than MAX_PAGES pages: not read to the end


def _seen(data: dict[str, Any], shipment: Shipment) -> SeenShipment:
    return SeenShipment(str(data.get("id") or ""), shipment.carrier_id, shipment.parcel_ids)


def label_printer_dpmm(settings: Settings) -> int:
    """The dots per mm of the printer `[print] label` names, when it is a ZPL printer."""
    for printer in settings.printers:
        if printer.name == settings.print.label and printer.kind == "zpl":
            return printer.dpmm
    return DEFAULT_DPMM
