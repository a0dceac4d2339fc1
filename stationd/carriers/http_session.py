"""One carrier's HTTP calls: timeouts, retries on 429 and 5xx honouring `Retry-After`, and
errors as sentences for the packer.

What a failed call means for a booking is told apart here, because the rest depends on it:

- nothing was sent (the connection could not be made, or the carrier said 429 "too many
  requests"): trying again can't book twice;
- the request was sent but its answer is unknown (the answer timed out, the connection broke,
  a 5xx, or an answer the station can't read): the carrier may have booked — `OutcomeUnknown`,
  which only a look-up may settle (carriers/no_double_booking.py);
- the carrier refused (401, 4xx): a `CarrierError` with its reason.

Credentials travel in the Authorization header only; nothing here logs a header, a body or the
settings, so a key never reaches the log.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from stationd.carriers import CarrierError
from stationd.core.text import Text, sentence

if TYPE_CHECKING:
    from stationd.config.sections import ShippingSettings

log = logging.getLogger(__name__)

#: How long to wait before trying again when the carrier doesn't say (seconds, doubling).
FIRST_BACKOFF_S = 0.5
#: The most of the carrier's own words a refusal quotes.
REASON_CHARS = 200


class OutcomeUnknown(Exception):
    """A request that books was sent and its answer is unknown: the carrier may have booked.

    `wait_s` is how long the carrier asked the station to wait (Retry-After), else 0."""

    def __init__(self, why: str, wait_s: float = 0.0) -> None:
        super().__init__(why)
        self.wait_s = wait_s


class RetryLater(Exception):
    """The carrier refused the request unread (429): nothing was booked; it may be sent again
    after `wait_s` seconds."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"retry after {wait_s} s")
        self.wait_s = wait_s


def retry_after_s(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: a number of seconds or an HTTP date (RFC 9110 §10.2.3);
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class CarrierHttp:
    """The HTTP session of one carrier adapter (one `httpx.Client`, thread-safe).

    `tries` bounds every call (the first try included); `max_wait_s` is the longest
    `Retry-After` the station waits for in a request thread — a carrier asking for longer gets
    a sentence saying so instead. `sleep` is injectable so the tests can see the waits.
    `refused_credentials` is the sentence for a 401/403 of a service whose keys are not
    `[shipping]`'s (the accounting adapter's).
    """

    def __init__(
        self,
        carrier: str,
        base_url: str,
        *,
        auth: httpx.Auth | tuple[str, str] | None,
        timeout_s: float,
        tries: int,
        max_wait_s: float,
        sleep: Callable[[float], None] = time.sleep,
        refused_credentials: Text | None = None,
    ) -> None:
        self.carrier = carrier
        #: What a 401/403 says; None: the carriers' sentence naming [shipping]'s keys.
        self.refused_credentials = refused_credentials
        self.timeout_s = timeout_s
        self.tries = max(1, tries)
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=auth,
            timeout=httpx.Timeout(timeout_s),
            headers={"Accept": "application/json", "User-Agent": "stationd"},
            follow_redirects=False,
        )

    @classmethod
    def from_settings(
        cls, carrier: str, shipping: ShippingSettings, production_url: str
    ) -> CarrierHttp:
        """The session `[shipping]` describes: its API address (else `production_url`), its
        credentials, timeout, tries and longest wait."""
        return cls(
            carrier,
            shipping.api_url or production_url,
            auth=(shipping.api_user, shipping.api_key),
            timeout_s=shipping.timeout_s,
            tries=shipping.tries,
            max_wait_s=shipping.max_wait_s,
        )

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    # -- calls -------------------------------------------------------------------------------

    def read(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` and return its JSON. Reading books nothing, so every failure that may
        pass (a timeout, a broken connection, 429, 5xx) is tried again, up to `tries`."""
        return self.json_of(self._send("GET", path, params=params, books=False), books=False)

    def read_if_there(self, path: str) -> Any:
        """`read`, but None when the carrier does not know `path` (404)."""
        response = self._send("GET", path, books=False, absent_ok=True)
        if response.status_code == 404:
            return None
        return self.json_of(response, books=False)

    def read_bytes(self, url: str) -> bytes:
        """GET a document (a label behind the URL a carrier hands out) as bytes. The
        credentials go along only to the carrier's own API: a link to another host (a storage
        service, a CDN) is fetched without them."""
        own = self.client.base_url
        target = self.client.base_url.join(url)
        same_origin = (target.scheme, target.host, target.port) == (own.scheme, own.host, own.port)
        return self._send("GET", url, books=False, with_auth=same_origin).content

    def create(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        """POST `body` as JSON to `path` once and return the answer's JSON.

        Raises `RetryLater` for a 429 (nothing booked), `OutcomeUnknown` when it may have
        booked without the station learning what, `CarrierError` for a refusal."""
        response = self._send("POST", path, params=params, json_body=body, books=True)
        return self.json_of(response, books=True)

    def post_once(self, path: str, content: bytes, *, headers: Mapping[str, str]) -> None:
        """POST `content` as it is (a signed webhook: its signature covers these bytes) with
        `headers`, once; any 2xx answer is taken, whatever its body says.

        Raises like `create`: `RetryLater` (429), `OutcomeUnknown` (sent, answer unknown),
        `CarrierError` (refused, or no connection)."""
        self._send("POST", path, content=content, headers=headers, books=True)

    def delete(self, path: str) -> bool:
        """DELETE `path`; deleting twice takes nothing back twice, so it is tried again.
        False: the carrier does not know it (404) — there is nothing left to take back."""
        response = self._send("DELETE", path, books=False, absent_ok=True)
        return response.status_code != 404

    # -- the machinery -----------------------------------------------------------------------

    def json_of(self, response: httpx.Response, *, books: bool) -> Any:
        """The answer's JSON; an answer the station can't read is a sentence (or, for a
        request that books, an unknown outcome: the carrier said 2xx, so it may have booked)."""
        try:
            return response.json() if response.content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning(
                "%s: %s %s answered %s with something that is not JSON",
                self.carrier,
                response.request.method,
                response.request.url.path,
                response.status_code,
            )
            if books:
                raise OutcomeUnknown("the answer is not JSON") from None
            raise self.unreadable() from None

    def unreadable(self) -> CarrierError:
        """The sentence for an answer that does not have the documented shape."""
        return CarrierError(
            sentence(
                "{carrier} sent an answer the station can't read; try again, and tell its "
                "support if it persists.",
                carrier=self.carrier,
            )
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        books: bool,
        with_auth: bool = True,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        absent_ok: bool = False,
    ) -> httpx.Response:
        backoff = FIRST_BACKOFF_S
        last_status: int | None = None
        # The log names the path only: a document's link may carry a signature in its query.
        where = httpx.URL(path).path
        for attempt in range(1, self.tries + 1):
            try:
                response = self.client.request(
                    method,
                    path,
                    params=params,
                    json=json_body,
                    content=content,
                    headers=headers,
                    # None: no Authorization header at all (httpx's default is the client's).
                    **({} if with_auth else {"auth": None}),
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as err:
                # Nothing reached the carrier: trying again can't do anything twice.
                log.warning("%s: %s %s: no connection (%s)", self.carrier, method, where, err)
                last_status = None
                if attempt == self.tries:
                    raise CarrierError(
                        sentence(
                            "The station can't reach {carrier}; check the network and try again.",
                            carrier=self.carrier,
                        )
                    ) from None
            except httpx.RequestError as err:  # timeouts, transport, an undecodable body
                log.warning("%s: %s %s: no answer (%s)", self.carrier, method, where, err)
                if books:
                    raise OutcomeUnknown(f"no answer: {type(err).__name__}") from None
                if attempt == self.tries:
                    seconds = format(self.timeout_s, "g")
                    raise CarrierError(
                        sentence(
                            "{carrier} did not answer within {seconds} s; try again.",
                            carrier=self.carrier,
                            seconds=seconds,
                        )
                    ) from None
            else:
                status = response.status_code
                log.info("%s: %s %s -> %s", self.carrier, method, where, status)
                if status < 300 or (absent_ok and status == 404):
                    return response
                last_status = status
                wait = retry_after_s(response.headers.get("Retry-After"))
                if status == 429 or status >= 500:
                    if wait is not None and wait > self.max_wait_s:
                        seconds = round(wait)
                        raise CarrierError(
                            sentence(
                                "{carrier} asks the station to wait {seconds} s before it "
                                "tries again; try again later.",
                                carrier=self.carrier,
                                seconds=seconds,
                            )
                        )
                    if status == 429 and books:
                        raise RetryLater(wait if wait is not None else backoff)
                    if books:
                        raise OutcomeUnknown(f"HTTP {status}", wait or 0.0)
                    if attempt < self.tries:
                        self.sleep(wait if wait is not None else backoff)
                        backoff *= 2
                    continue
                raise self._refusal(response)
            if attempt < self.tries:
                self.sleep(backoff)
                backoff *= 2
        raise CarrierError(
            sentence(
                "{carrier} is busy or failing (HTTP {status}) and did not answer after {tries} "
                "tries; try again in a while.",
                carrier=self.carrier,
                status=last_status if last_status is not None else "—",
                tries=self.tries,
            )
        )

    def _refusal(self, response: httpx.Response) -> CarrierError:
        status = response.status_code
        if status in (401, 403) and self.refused_credentials is not None:
            return CarrierError(self.refused_credentials)
        if status in (401, 403):
            return CarrierError(
                sentence(
                    "{carrier} refused the station's credentials (HTTP {status}): check "
                    "[shipping] api_user and api_key.",
                    carrier=self.carrier,
                    status=status,
                )
            )
        return CarrierError(
            sentence(
                "{carrier} refused the request (HTTP {status}): {reason}",
                carrier=self.carrier,
                status=status,
                reason=reason_of(response),
            )
        )


def reason_of(response: httpx.Response) -> str:
    """The carrier's own words for a refusal, shortened: the `message`, `error` or
    `messages` of a JSON answer, else the start of its text."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    said: object = None
    if isinstance(data, dict):
        said = data.get("message") or data.get("error") or data.get("messages")
    elif isinstance(data, list) and data:
        said = data[0].get("message") if isinstance(data[0], dict) else data[0]
    text = said if isinstance(said, str) else json.dumps(said) if said else response.text
    text = " ".join(str(text).split())
    return text[:REASON_CHARS] or f"HTTP {response.status_code}"
