"""What goes out to the shop and the customer, and when (issue 13 section 4, R14, R16).

The events the shop hears by webhook, which of them a change fires, how a webhook is signed,
and how long the outgoing worker waits before it tries a failed send again. Plain values: the
store keeps the rows, services/outgoing.py sends them.

Each outgoing thing has an event id, made once when its row is written and kept with it: every
try sends the same one (the mail's Message-ID, the webhook's `X-Stationd-Event-Id`), so a send
repeated after a crash is one the receiver can tell is a repeat — never a second id.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

#: The kind of an outgoing row whose sender mails the customer's shipping notice (R14).
NOTICE_KIND = "shipping_notice"
#: The kind of an outgoing row whose sender posts one of the shop's webhooks.
WEBHOOK_KIND = "webhook"
#: The kind of an outgoing row whose sender puts a delivery's invoice record in the shop's
#: accounting system (R16, "fullfør transaksjonen"; services/invoice_send.py).
INVOICE_KIND = "invoice_record"

#: A failed send is tried again after this many seconds, doubling, at most `MAX_BACKOFF_S`.
FIRST_BACKOFF_S = 10.0
MAX_BACKOFF_S = 3600.0
#: After this many failed tries a row is `failed`: it waits for a person (the Tools page).
MAX_ATTEMPTS = 12
#: How much of the wait is random (each way), so rows that failed together don't all come
#: back together.
JITTER = 0.25


class OutgoingState(StrEnum):
    """Where an outgoing row is; `pending` is the only state the worker sends from."""

    PENDING = "pending"
    SENDING = "sending"  # a worker is sending it (sent or not, recorded next)
    SENT = "sent"
    FAILED = "failed"  # tried MAX_ATTEMPTS times: waits for a person to send it again


class WebhookEvent(StrEnum):
    """The events the shop hears (the `type` of a webhook's body)."""

    ORDER_PACKED = "order.packed"
    DELIVERY_REPORTED = "delivery.reported"
    ORDER_SHIPPED = "order.shipped"


def events_at_report_in(*, order_shipped: bool) -> tuple[WebhookEvent, ...]:
    """The webhooks a reported delivery fires: always `delivery.reported`; `order.shipped`
    too when it was the order's last (R15: every line delivered)."""
    if order_shipped:
        return (WebhookEvent.DELIVERY_REPORTED, WebhookEvent.ORDER_SHIPPED)
    return (WebhookEvent.DELIVERY_REPORTED,)


def events_when_packed() -> tuple[WebhookEvent, ...]:
    """The webhooks the bench fires when it closes an order packed."""
    return (WebhookEvent.ORDER_PACKED,)


def webhook_body(
    event: WebhookEvent,
    event_id: str,
    at: datetime,
    *,
    order_id: int,
    delivery_id: int | None = None,
    parcel_ids: Sequence[str] = (),
    shop_reference: str = "",
) -> dict[str, object]:
    """The JSON object a webhook posts (README "Webhooks"): the event, its id and time, and
    the order, delivery and parcel ids it is about."""
    body: dict[str, object] = {
        "id": event_id,
        "type": event.value,
        "created_at": at.isoformat(),
        "order_id": order_id,
        "parcel_ids": list(parcel_ids),
    }
    if shop_reference:
        body["shop_reference"] = shop_reference
    if delivery_id is not None:
        body["delivery_id"] = delivery_id
    return body


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """`X-Stationd-Signature`: "sha256=" and the hex HMAC-SHA256, keyed with the shared
    secret, of the timestamp (Unix seconds, as sent in `X-Stationd-Timestamp`), a dot and the
    body's bytes. The timestamp is signed so an old request replayed is seen as old."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def retry_delay_s(
    attempts: int,
    spread: float,
    *,
    first_s: float = FIRST_BACKOFF_S,
    max_s: float = MAX_BACKOFF_S,
) -> float:
    """How long to wait after the `attempts`-th failed try (1 = the first): `first_s`
    doubling up to `max_s`, moved by up to JITTER each way by `spread` (a number in [0, 1)
    the caller drew)."""
    base = min(max_s, first_s * 2 ** max(0, attempts - 1))
    return max(0.0, base * (1 + JITTER * (2 * spread - 1)))


def gives_up(attempts: int, max_attempts: int = MAX_ATTEMPTS) -> bool:
    """Whether a row that failed its `attempts`-th try is `failed` (left for a person)."""
    return attempts >= max_attempts
