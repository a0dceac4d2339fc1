"""No double booking: one rule for every real carrier adapter.

Before a shipment is created, the carrier is asked for the station's reference: a booking that
exists already (an earlier click whose answer was lost, a restart in between) is handed back,
not made again. When creating gives no answer that can be trusted — the answer timed out after
the request was sent, the connection broke, a 5xx, an unreadable answer — the outcome is
unknown, and only that look-up settles it: found, it is the booking; not found *yet* proves
nothing — the carrier may still be working on the request the station gave up on, or its
listing may lag — so the booking is not sent again in this call: the packer gets a sentence,
and the next click looks it up first again. A 429 booked nothing: the station waits as long as
the carrier asks (`Retry-After`) and sends it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from stationd.carriers import CarrierError
from stationd.carriers.http_session import OutcomeUnknown, RetryLater
from stationd.core.text import Text, sentence

log = logging.getLogger(__name__)

#: What is made once: a carrier's shipment, an accounting system's sale.
Made = TypeVar("Made")


def book_once(
    reference: str,
    *,
    look_up: Callable[[str], Made | None],
    create: Callable[[], Made],
    carrier: str,
    tries: int,
    sleep: Callable[[float], None],
    unconfirmed: Text | None = None,
    busy: Text | None = None,
) -> Made:
    """The shipment booked under `reference`: found by `look_up`, else made by `create`.

    `create` is called again only after a 429 (nothing booked). After an unknown outcome the
    rounds left only look up; an outcome still unknown then is a `CarrierError` that says so
    (the next try, a click later, looks it up first again). `unconfirmed` and `busy` replace
    the two sentences about a booking for what is not one (an accounting system's sale).
    """
    wait = 0.0
    unknown = False
    for _ in range(max(1, tries)):
        if wait:
            sleep(wait)
        found = look_up(reference)
        if found is not None:
            if unknown:
                log.info("%s: booking %s was made after all: found it", carrier, reference)
            return found
        if unknown:
            continue  # not listed yet is no proof it was not booked: never create again
        try:
            return create()
        except RetryLater as busy:
            wait, unknown = busy.wait_s, False
            log.warning("%s: booking %s: 429, waiting %.1f s", carrier, reference, wait)
        except OutcomeUnknown as err:
            wait, unknown = max(err.wait_s, 0.5), True
            log.warning(
                "%s: booking %s: outcome unknown (%s), looking it up", carrier, reference, err
            )
    if unknown:
        sleep(wait)
        found = look_up(reference)
        if found is not None:
            return found
        raise CarrierError(
            unconfirmed
            or sentence(
                "{carrier} did not confirm the booking {reference} and does not list it yet; "
                "try again in a minute — the station looks it up before it books again.",
                carrier=carrier,
                reference=reference,
            )
        )
    raise CarrierError(
        busy
        or sentence(
            "{carrier} is busy and did not take the booking {reference} after {tries} tries; "
            "try again in a while.",
            carrier=carrier,
            reference=reference,
            tries=tries,
        )
    )
