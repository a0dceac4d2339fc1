"""The shop's webhooks: one signed POST of an outgoing row's JSON (README "Webhooks").

Headers: `X-Stationd-Event-Id` (the same on every try: the shop drops a repeat by it),
`X-Stationd-Timestamp` (Unix seconds of this try) and `X-Stationd-Signature` (core's
`webhook_signature`: HMAC-SHA256 over the timestamp, a dot and the body). The body is the row's
JSON as written, its bytes the same on every try. The HTTP goes through the carriers' session
(timeouts, the answer's status read as a carrier's), one try a call: the outgoing worker does
the back-off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from stationd.carriers import CarrierError
from stationd.carriers.http_session import CarrierHttp, OutcomeUnknown, RetryLater
from stationd.core.outgoing import webhook_signature
from stationd.core.text import sentence
from stationd.services.outgoing import SendFailed
from stationd.store.outgoing import OutgoingItem

if TYPE_CHECKING:
    from stationd.config.outgoing import WebhookSettings

#: The name the session's sentences and log lines give the receiver.
RECEIVER = sentence("the shop's webhook")


def webhook_bytes(item: OutgoingItem) -> bytes:
    """The body of `item`'s webhook: its JSON, compact, keys sorted (the same on every try)."""
    return json.dumps(item.payload, separators=(",", ":"), sort_keys=True).encode()


class WebhookSender:
    """Posts webhooks to `[webhooks] url`, signed with its secret."""

    def __init__(
        self, settings: WebhookSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        url = httpx.URL(settings.url)
        self.path = url.raw_path.decode("ascii") or "/"
        self.secret = settings.secret
        self.clock = clock
        self.http = CarrierHttp(
            RECEIVER,
            str(url.copy_with(raw_path=b"/")),
            auth=None,
            timeout_s=settings.timeout_s,
            tries=1,
            # Any Retry-After is taken: the worker waits it out, no request thread does.
            max_wait_s=float("inf"),
        )

    def close(self) -> None:
        self.http.close()

    def send(self, item: OutgoingItem) -> None:
        """Post `item`'s webhook once; raises `SendFailed` with the reason unless a 2xx came."""
        body = webhook_bytes(item)
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "X-Stationd-Event-Id": item.event_id,
            "X-Stationd-Timestamp": str(timestamp),
            "X-Stationd-Signature": webhook_signature(self.secret, timestamp, body),
        }
        try:
            self.http.post_once(self.path, body, headers=headers)
        except RetryLater as err:
            raise SendFailed(
                sentence(
                    "The shop answered 429, too many requests, and asked to wait {seconds} s.",
                    seconds=f"{err.wait_s:g}",
                ),
                err.wait_s,
            ) from None
        except OutcomeUnknown as err:
            raise SendFailed(
                sentence(
                    "The shop's webhook was sent but its answer was lost or a failure: {why}.",
                    why=err.args[0] if err.args else "",
                ),
                err.wait_s,
            ) from None
        except CarrierError as err:
            raise SendFailed(
                err.args[0] if err.args else sentence("The shop refused the webhook.")
            ) from None
