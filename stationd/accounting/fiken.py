"""Fiken: each invoice record as a sale over Fiken's API v2.

Built from Fiken's public API documentation (the OpenAPI document "Fiken API 2.0.0", read
through its generated client bjerkio/fiken-js, src/generated/apis/SalesApi.ts and models
SaleRequest.ts, OrderLine.ts):

- base https://api.fiken.no/api/v2; a personal API token as `Authorization: Bearer <token>`;
- `POST /companies/{companySlug}/sales` makes a sale: `saleNumber`, `date` (yyyy-MM-dd),
  `kind` ("cash_sale" for one paid at checkout), `currency`, `paymentAccount`, `totalPaid`,
  `lines[]` with `description`, `netPrice` and `vat` in øre, `account` and `vatType` ("high"
  25 %, "medium" 15 %, "low" 12 %, "exempt"); a good POST answers 201 with a `Location`
  header and an empty body;
- `GET /companies/{companySlug}/sales?saleNumber=…` lists sales filtered by `saleNumber`
  (each with its `saleId`), which is how a record already sent is found again;
- amounts are whole øre; 400 for bad content, 401/403 for the token, and 429/5xx as any API.

A record is sent as one cash sale numbered by the record's reference ("A-17"), paid to its
settlement account (1570 by default, as the Norwegian guide books it), one line per VAT rate
(the rate's net and VAT as the record computed them, on its sales account). Fiken keeps the
books in NOK: a record in another currency is not sent, and the result says so.

Fiken allows one request at a time per user: the outbox's invoice lane sends one record at a
time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from stationd.accounting import SendResult
from stationd.carriers import CarrierError
from stationd.carriers.http_session import CarrierHttp
from stationd.carriers.no_double_booking import book_once
from stationd.core.invoices import InvoiceRecord
from stationd.core.text import sentence

if TYPE_CHECKING:
    from stationd.config.accounting import AccountingSettings

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://api.fiken.no/api/v2"
#: Fiken's VAT types for sales by rate (Norway: 25 % general, 15 % food, 12 % transport …).
VAT_TYPES: Mapping[int, str] = {25: "high", 15: "medium", 12: "low", 0: "exempt"}
#: The currency Fiken keeps the books in.
BOOKS_CURRENCY = "NOK"


class BearerToken(httpx.Auth):
    """`Authorization: Bearer <token>` on every request (Fiken's personal API token)."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerToken(<hidden>)"  # the token never reaches a log line or a traceback


@dataclass(frozen=True, slots=True)
class Sale:
    """A sale in Fiken: its `saleId` (empty when Fiken took it and does not list it yet)."""

    sale_id: str
    sale_number: str


class FikenSender:
    """Sends invoice records to one Fiken company as cash sales."""

    name = "Fiken"

    def __init__(
        self,
        http: CarrierHttp,
        company_slug: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.company = company_slug
        self.sleep = sleep

    @classmethod
    def from_settings(
        cls, settings: AccountingSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> FikenSender:
        """The adapter `[accounting]` describes (`sleep`: the tests see the waits)."""
        http = CarrierHttp(
            cls.name,
            settings.api_url or PRODUCTION_URL,
            auth=BearerToken(settings.api_token),
            timeout_s=settings.timeout_s,
            tries=settings.tries,
            max_wait_s=settings.max_wait_s,
            refused_credentials=sentence(
                "Fiken refused the station's API token: check [accounting] api_token and "
                "company_slug."
            ),
            sleep=sleep,
        )
        return cls(http, settings.company_slug, sleep=sleep)

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    # -- the one call --------------------------------------------------------------------------

    def send(self, record: InvoiceRecord) -> SendResult:
        """Put `record` in Fiken once: found by its sale number, else made."""
        reference = record.reference
        if record.currency != BOOKS_CURRENCY:
            return SendResult(
                False,
                sentence(
                    "Fiken keeps the books in NOK and invoice {reference} is in {currency}: "
                    "book it by hand.",
                    reference=reference,
                    currency=record.currency,
                ),
            )
        if not record.vat:
            return SendResult(
                True,
                sentence(
                    "Invoice {reference} carries nothing priced: there is nothing to book in "
                    "Fiken.",
                    reference=reference,
                ),
            )
        unknown_rates = sorted({v.vat_percent for v in record.vat} - set(VAT_TYPES))
        if unknown_rates:
            return SendResult(
                False,
                sentence(
                    "Fiken has no VAT type for {rate} %: invoice {reference} must be booked "
                    "by hand.",
                    rate=unknown_rates[0],
                    reference=reference,
                ),
            )
        try:
            sale = book_once(
                reference,
                look_up=self.look_up,
                create=lambda: self._create(record),
                carrier=self.name,
                tries=self.http.tries,
                sleep=self.sleep,
                unconfirmed=sentence(
                    "Fiken did not confirm sale {reference} and does not list it yet; it is "
                    "looked up again before it is sent again.",
                    reference=reference,
                ),
                busy=sentence(
                    "Fiken is busy and did not take sale {reference} after {tries} tries; it "
                    "is tried again later.",
                    reference=reference,
                    tries=self.http.tries,
                ),
            )
        except CarrierError as err:
            return SendResult(False, err.args[0], retry=True)
        return SendResult(
            True,
            sentence(
                "Invoice {reference} is in Fiken as sale {id}.",
                reference=reference,
                id=sale.sale_id or "—",
            ),
            remote_id=sale.sale_id,
        )

    def look_up(self, reference: str) -> Sale | None:
        """`GET /companies/{slug}/sales?saleNumber=…`: the sale numbered `reference`."""
        found = self.http.read(
            f"/companies/{self.company}/sales",
            params={"saleNumber": reference, "page": 0, "pageSize": 25},
        )
        if not isinstance(found, list):
            raise self.http.unreadable()
        for data in found:
            # Matched here too: a filter that was ignored must not pass off another sale.
            if isinstance(data, dict) and str(data.get("saleNumber") or "") == reference:
                return Sale(str(data.get("saleId") or ""), reference)
        return None

    # -- making it -----------------------------------------------------------------------------

    def _create(self, record: InvoiceRecord) -> Sale:
        self.http.create(f"/companies/{self.company}/sales", self.request(record))
        log.info("Fiken: sale %s made", record.reference)
        # 201 carries no body: the sale's id is read back by its number (not listed yet is
        # no failure — Fiken said it made it).
        try:
            return self.look_up(record.reference) or Sale("", record.reference)
        except CarrierError:
            return Sale("", record.reference)

    def request(self, record: InvoiceRecord) -> dict[str, Any]:
        """The `SaleRequest` of `record`: a cash sale paid to its settlement account."""
        return {
            "saleNumber": record.reference,
            "date": record.issued_on.isoformat(),
            "kind": "cash_sale",
            "currency": record.currency,
            "paymentAccount": record.settlement_account,
            "totalPaid": record.total_minor,
            "settled": True,
            "lines": [
                {
                    "description": f"Ordre {record.order_id}, levering {record.delivery_id} "
                    f"({vat.vat_percent} % mva)",
                    "netPrice": vat.net_minor,
                    "vat": vat.vat_minor,
                    "account": vat.sales_account,
                    "vatType": VAT_TYPES[vat.vat_percent],
                }
                for vat in record.vat
            ],
        }


__all__ = ["BearerToken", "FikenSender", "Sale"]
