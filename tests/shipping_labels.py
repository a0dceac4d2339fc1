"""Shipping labels for the label tests (ZPL and ESC/POS rendering, the ZPL printer), and the
``~HS`` host-status reply a Zebra printer sends."""

from __future__ import annotations

from stationd.core.check_digits import gtin_check_digit
from stationd.core.labels import Receiver, Sender, ShippingLabel

SSCC = "37340030680998141" + str(gtin_check_digit("37340030680998141"))
SENDER = Sender("Butiken AB", ("Storgatan 1", "123 45 Stockholm"))
ASCII_RECEIVER = Receiver("Anna Svensson", "Lilla vagen 3", "411 01", "Goteborg", "SE")
NORDIC_RECEIVER = Receiver("Kåre Ødegård ^XZ ~JR", "Ærøgade 5_b", "0150", "Tromsø", "NO")


def make_label(**changes) -> ShippingLabel:
    values = dict(
        sender=SENDER,
        receiver=ASCII_RECEIVER,
        order_id=1042,
        parcel_id="RR473124829GB",
        parcel_number=1,
        parcel_count=2,
        sscc=SSCC,
        weight_g=2351,
        carrier="PostNord MyPack Collect",
    )
    values.update(changes)
    return ShippingLabel(**values)


def hs_reply(paper_out=0, pause=0, head_up=0, ribbon_out=0, over_temp=0) -> bytes:
    return (
        f"\x02030,{paper_out},{pause},1245,000,0,0,0,000,0,0,{over_temp}\x03\r\n"
        f"\x02001,0,{head_up},{ribbon_out},0,2,6,0,00000000,1,000\x03\r\n"
        "\x021234,0\x03\r\n"
    ).encode("ascii")
