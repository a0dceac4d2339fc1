"""The customer's shipping notice (R14, R16): what it says, in sentences core can translate.

A reported delivery tells the customer, in the customer's language, which parcels left with
their tracking ids and the carrier's tracking link, what was in this delivery and — for a
partial delivery (R14) — what follows later. The facts are kept as a `ShippingNotice` (JSON in
the outgoing row, so a try tomorrow says what was true when the delivery was reported); the
services say its sentences in its language and mail them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stationd.core.locales import customer_language
from stationd.core.text import Text, sentence

#: Where a tracking link is made when `[mail] tracking_url` is not set: the Nordic postal
#: carrier's public tracking page, `{id}` the parcel id.
DEFAULT_TRACKING_URL = "https://tracking.postnord.com/se/?id={id}"


@dataclass(frozen=True)
class NoticeLine:
    """One line of the notice: an item and how many."""

    name: str
    quantity: int


@dataclass(frozen=True)
class ShippingNotice:
    """The facts of one shipping notice (kept as JSON in its outgoing row)."""

    order_id: int
    delivery_id: int
    to: str
    customer_name: str
    language: str
    parcel_ids: tuple[str, ...]
    tracking_links: tuple[str, ...]
    delivered: tuple[NoticeLine, ...]
    later: tuple[NoticeLine, ...] = field(default_factory=tuple)

    @property
    def partial(self) -> bool:
        return bool(self.later)

    def data(self) -> dict[str, Any]:
        """The notice as JSON-able data (`from_data` reads it back)."""
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ShippingNotice:
        return cls(
            order_id=int(data["order_id"]),
            delivery_id=int(data["delivery_id"]),
            to=str(data["to"]),
            customer_name=str(data.get("customer_name", "")),
            language=str(data.get("language", "en")),
            parcel_ids=tuple(data.get("parcel_ids", ())),
            tracking_links=tuple(data.get("tracking_links", ())),
            delivered=tuple(NoticeLine(**line) for line in data.get("delivered", ())),
            later=tuple(NoticeLine(**line) for line in data.get("later", ())),
        )


def tracking_link(template: str, parcel_id: str) -> str:
    """The carrier's tracking page for `parcel_id` (`template` with `{id}`)."""
    return (template or DEFAULT_TRACKING_URL).replace("{id}", parcel_id)


def shipping_notice(
    *,
    order_id: int,
    delivery_id: int,
    to: str,
    customer_name: str,
    country: str,
    parcel_ids: tuple[str, ...],
    delivered: tuple[NoticeLine, ...],
    later: tuple[NoticeLine, ...],
    tracking_url: str = "",
) -> ShippingNotice:
    """The notice of one reported delivery: in the language of the country it ships to."""
    return ShippingNotice(
        order_id=order_id,
        delivery_id=delivery_id,
        to=to,
        customer_name=customer_name,
        language=customer_language(country),
        parcel_ids=parcel_ids,
        tracking_links=tuple(tracking_link(tracking_url, p) for p in parcel_ids),
        delivered=tuple(line for line in delivered if line.quantity > 0),
        later=tuple(line for line in later if line.quantity > 0),
    )


def notice_subject(notice: ShippingNotice, shop: str) -> Text:
    """The mail's subject."""
    if notice.partial:
        return sentence("Part of your order {order} has been sent", order=notice.order_id)
    return sentence("Your order {order} has been sent", order=notice.order_id)


def notice_body(notice: ShippingNotice, shop: str) -> list[Text | str]:
    """The mail's text, line by line: core's sentences (translated by the caller) and the
    facts (ids, links, item names) as they are."""
    lines: list[Text | str] = []
    if notice.customer_name:
        lines.append(sentence("Hello {name},", name=notice.customer_name))
        lines.append("")
    if notice.partial:
        lines.append(
            sentence(
                "Part of your order {order} has left {shop}.", order=notice.order_id, shop=shop
            )
        )
    else:
        lines.append(
            sentence("Your order {order} has left {shop}.", order=notice.order_id, shop=shop)
        )
    lines.append("")
    lines.append(sentence("Track your parcel(s):"))
    for parcel_id, link in zip(notice.parcel_ids, notice.tracking_links, strict=True):
        lines.append(f"  {parcel_id}  {link}")
    lines.append("")
    lines.append(sentence("In this delivery:"))
    lines.extend(f"  {line.quantity} × {line.name}" for line in notice.delivered)
    if notice.later:
        lines.append("")
        lines.append(sentence("Follows later:"))
        lines.extend(f"  {line.quantity} × {line.name}" for line in notice.later)
    lines.append("")
    lines.append(sentence("Thank you for your order."))
    lines.append(shop)
    return lines
