"""A believable shop for `stationd demo` and the benchmarks: products, stock and orders.

`build_shop` makes the rows (deterministic for a seed), `insert_shop` writes them in bulk, and
`create_demo` turns a fresh database into a shop in mid-week: the real pack script has moved
what it could to packing, and the oldest packing orders have been shipped through the real
ship-out use case, some of them in part.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from stationd.core.audit import DemoCreated
from stationd.core.barcodes import gtin_check_digit
from stationd.core.orders import PaymentMethod, payment_fits
from stationd.events import OrderChanged
from stationd.services.packscript_run import run_once
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.tables import (
    order_lines,
    orders,
    own_statuses,
    products,
    stock,
)

_ITEMS_SV = [
    "Ullsockor",
    "Termos",
    "Kaffemugg",
    "Skärbräda",
    "Filt",
    "Ljusstake",
    "Vantar",
    "Mössa",
    "Handduk",
    "Förkläde",
    "Kökshandduk",
    "Bricka",
    "Vas",
    "Glasburk",
    "Ryggsäck",
    "Necessär",
    "Tekopp",
    "Grytlapp",
    "Kudde",
    "Pläd",
    "Sittdyna",
    "Skål",
    "Brödkorg",
    "Halsduk",
]
_COLOURS = ["blå", "röd", "grön", "grå", "svart", "vit", "gul", "rosa", "ockra", "mörkblå"]
_SIZES = ["S", "M", "L", "liten", "stor"]

_FIRST_SE = [
    "Anna",
    "Erik",
    "Lars",
    "Karin",
    "Maria",
    "Johan",
    "Sofia",
    "Oskar",
    "Elin",
    "Björn",
    "Åsa",
    "Örjan",
    "Märta",
    "Gösta",
    "Linnéa",
    "Måns",
    "Ebba",
    "Nils",
]
_LAST_SE = [
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Lindström",
    "Öberg",
    "Åberg",
    "Söderberg",
]
_FIRST_NO = [
    "Ola",
    "Kari",
    "Ingrid",
    "Bjørn",
    "Øystein",
    "Åse",
    "Sigrid",
    "Håkon",
    "Solveig",
    "Torbjørn",
    "Ragnhild",
    "Jørgen",
    "Mette",
    "Ståle",
]
_LAST_NO = [
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Nilsen",
    "Kristiansen",
    "Jensen",
    "Berg",
    "Haugen",
    "Bakken",
    "Sæther",
    "Dahl",
    "Løken",
]
_PLACES_SE = [
    ("Stockholm", "11{:03d}"),
    ("Göteborg", "41{:03d}"),
    ("Malmö", "21{:03d}"),
    ("Uppsala", "75{:03d}"),
    ("Umeå", "90{:03d}"),
    ("Luleå", "97{:03d}"),
    ("Västerås", "72{:03d}"),
    ("Örebro", "70{:03d}"),
]
_PLACES_NO = [
    ("Oslo", "0{:03d}"),
    ("Bergen", "5{:03d}"),
    ("Trondheim", "7{:03d}"),
    ("Tromsø", "9{:03d}"),
    ("Stavanger", "4{:03d}"),
    ("Bodø", "8{:03d}"),
]
_STREETS_SE = [
    "Storgatan",
    "Drottninggatan",
    "Kungsgatan",
    "Vasagatan",
    "Östra Hamngatan",
    "Götgatan",
    "Sveavägen",
    "Skolgatan",
    "Järnvägsgatan",
    "Ågatan",
]
_STREETS_NO = [
    "Karl Johans gate",
    "Storgata",
    "Kirkeveien",
    "Bygdøy allé",
    "Thorvald Meyers gate",
    "Søndre gate",
    "Strandgaten",
    "Kongens gate",
]
_COMMENTS = [
    "Lämna vid dörren, tack.",
    "Ring innan leverans.",
    "Presentinslagning tack!",
    "Kan ni skicka med en katalog?",
    "Vennligst pakk godt inn.",
    "Levér til nabo ved behov.",
    "Skickas till min arbetsplats.",
    "Kunden vill ha kvitto på e-post.",
]
_PAYMENTS = [
    PaymentMethod(m) for m in ["card"] * 6 + ["invoice"] * 2 + ["swish", "vipps", "own_invoice"]
]


@dataclass(frozen=True)
class ShopShape:
    """How big a shop to build and how its stock and payments fall out."""

    products: int = 320
    orders: int = 540
    seed: int = 7
    lines_min: int = 1
    lines_max: int = 5
    unpaid_share: float = 0.08
    preorder_share: float = 0.05
    scarce_share: float = 0.05  # share of SKUs stocked well below their demand
    comment_share: float = 0.12
    days: int = 30
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Shop:
    products: list[dict] = field(default_factory=list)
    stock: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)


def ean13(number: int, prefix: str = "73") -> str:
    """A valid EAN-13 from a running number (Swedish GS1 prefix 73 by default)."""
    body = f"{prefix}{number:010d}"[:12]
    return body + str(gtin_check_digit(body))


def build_shop(shape: ShopShape) -> Shop:
    """The rows of a shop: every order starts in `order` (or `preorder`), none reserved yet."""
    rnd = random.Random(shape.seed)
    shop = Shop()
    for i in range(shape.products):
        item = _ITEMS_SV[i % len(_ITEMS_SV)]
        colour = _COLOURS[(i // len(_ITEMS_SV)) % len(_COLOURS)]
        size = _SIZES[(i // (len(_ITEMS_SV) * len(_COLOURS))) % len(_SIZES)]
        code = ean13(100_000 + i)
        shop.products.append(
            {
                "sku": f"SKU-{i + 1:05d}",
                "name": f"{item} {colour} {size}",
                "ean": code,
                "gtin": "0" + code,
                "location": f"{'ABCDEFGH'[i % 8]}-{(i // 8) % 20 + 1:02d}-{(i // 160) % 5 + 1}",
                "weight_g": rnd.randrange(40, 2500, 10),
                "price_minor": rnd.randrange(49, 1500) * 100,
            }
        )
    demand: dict[str, int] = {}
    start = shape.now - timedelta(days=shape.days)
    span = shape.days * 86400
    for n in range(shape.orders):
        order_id = 1000 + n
        placed = start + timedelta(seconds=span * n / max(1, shape.orders) + rnd.random())
        preorder = rnd.random() < shape.preorder_share
        norwegian = rnd.random() < 0.35
        if preorder:
            customer = {
                "customer_name": "",
                "customer_email": "",
                "street": "",
                "postcode": "",
                "city": "",
                "country": "NO" if norwegian else "SE",
            }
        else:
            customer = _customer(rnd, norwegian)
        order = {
            "id": order_id,
            "status": "preorder" if preorder else "order",
            "placed_at": placed,
            # Issue 12: no Vipps on a SEK order, no Swish on a NOK one.
            "payment_method": rnd.choice(
                [m for m in _PAYMENTS if payment_fits(m, "NOK" if norwegian else "SEK")]
            ),
            "paid": (not preorder) and rnd.random() >= shape.unpaid_share,
            "waiting": False,
            "comment": rnd.choice(_COMMENTS) if rnd.random() < shape.comment_share else "",
            "currency": "NOK" if norwegian else "SEK",
            **customer,
        }
        value = 0
        chosen = rnd.sample(range(shape.products), rnd.randint(shape.lines_min, shape.lines_max))
        for pos, p in enumerate(chosen):
            product = shop.products[p]
            qty = 1 if rnd.random() < 0.7 else rnd.randint(2, 4)
            value += qty * product["price_minor"]
            shop.lines.append(
                {
                    "order_id": order_id,
                    "position": pos,
                    "sku": product["sku"],
                    "name": product["name"],
                    "gtin": product["gtin"],
                    "quantity": qty,
                    "unit_price_minor": product["price_minor"],
                }
            )
            if order["paid"]:
                demand[product["sku"]] = demand.get(product["sku"], 0) + qty
        order["value_minor"] = value
        shop.orders.append(order)
    for product in shop.products:
        need = demand.get(product["sku"], 0)
        scarce = rnd.random() < shape.scarce_share
        on_hand = need * 3 // 10 if scarce else need + rnd.randint(0, 20)
        shop.stock.append({"sku": product["sku"], "on_hand": on_hand, "reserved": 0})
    return shop


def _customer(rnd: random.Random, norwegian: bool) -> dict:
    first = rnd.choice(_FIRST_NO if norwegian else _FIRST_SE)
    last = rnd.choice(_LAST_NO if norwegian else _LAST_SE)
    city, postcode = rnd.choice(_PLACES_NO if norwegian else _PLACES_SE)
    street = rnd.choice(_STREETS_NO if norwegian else _STREETS_SE)
    code = postcode.format(rnd.randrange(1000))
    if not norwegian:
        code = f"{code[:3]} {code[3:]}"
    email_name = (first + "." + last).lower()
    for a, b in (("å", "a"), ("ä", "a"), ("ö", "o"), ("ø", "o"), ("æ", "ae"), ("é", "e")):
        email_name = email_name.replace(a, b)
    return {
        "customer_name": f"{first} {last}",
        "customer_email": f"{email_name}@example.{'no' if norwegian else 'se'}",
        "street": f"{street} {rnd.randint(1, 120)}",
        "postcode": code,
        "city": city,
        "country": "NO" if norwegian else "SE",
    }


def insert_shop(store: Store, shop: Shop, *, batch: int = 20_000) -> None:
    """Write a built shop in one transaction."""
    with store.write() as conn:
        for table, rows in ((products, shop.products), (stock, shop.stock)):
            for i in range(0, len(rows), batch):
                conn.execute(insert(table), rows[i : i + batch])
        order_rows = [dict(o, customer_key=o["customer_name"].casefold()) for o in shop.orders]
        for i in range(0, len(order_rows), batch):
            conn.execute(insert(orders), order_rows[i : i + batch])
        for i in range(0, len(shop.lines), batch):
            conn.execute(insert(order_lines), shop.lines[i : i + batch])


@dataclass(frozen=True)
class DemoSummary:
    products: int
    orders: dict[str, int]


def create_demo(store: Store, *, station: str, shape: ShopShape | None = None) -> DemoSummary:
    """Fill an empty, migrated database with a shop in mid-week (see the module docstring)."""
    from stationd.services.report_in import ship

    shape = shape or ShopShape()
    rnd = random.Random(shape.seed + 1)
    shop = build_shop(shape)
    insert_shop(store, shop)
    with store.write() as conn:
        conn.execute(
            insert(own_statuses),
            [
                {"code": "BACKORDER", "name": "Restorder"},
                {"code": "GIFT", "name": "Presentinslagning"},
                {"code": "VIP", "name": "Stamkund"},
            ],
        )
        record_event(conn, DemoCreated(shape.seed), station=station)
    run_once(store, station=station, trigger="demo")

    with store.read() as conn:
        packing = list(
            conn.execute(
                select(orders.c.id).where(orders.c.status == "packing").order_by(orders.c.placed_at)
            ).scalars()
        )
    to_ship = packing[: len(packing) * 55 // 100]
    placed = {o["id"]: o["placed_at"] for o in shop.orders}
    for n, order_id in enumerate(to_ship):
        body = f"0073{rnd.randrange(10**13):013d}"
        parcel = body + str(gtin_check_digit(body))
        quantities = None
        if n % 12 == 5:  # a partial delivery: the first line only
            with store.read() as conn:
                first = conn.execute(
                    select(order_lines.c.id, order_lines.c.quantity)
                    .where(order_lines.c.order_id == order_id)
                    .order_by(order_lines.c.position)
                ).all()
            if len(first) > 1:
                quantities = {first[0][0]: first[0][1]}
        # Issue 12: shipped after it was placed (within two days), never before, never later
        # than now.
        after = placed[order_id] + timedelta(hours=rnd.randint(2, 48))
        ship(
            store,
            order_id,
            [parcel],
            station=station,
            quantities=quantities,
            at=min(shape.now, after),
        )
    with store.write() as conn:
        still_packing = packing[len(to_ship) :]
        waiting = rnd.sample(still_packing, max(1, len(still_packing) // 15))
        conn.execute(update(orders).where(orders.c.id.in_(waiting)).values(waiting=True))
        tagged = rnd.sample([o["id"] for o in shop.orders], len(shop.orders) // 20)
        for n, order_id in enumerate(tagged):
            conn.execute(
                update(orders).where(orders.c.id == order_id).values(own_status_id=1 + n % 3)
            )
    with store.read() as conn:
        counts = dict(
            conn.execute(select(orders.c.status, func.count()).group_by(orders.c.status)).all()
        )
    return DemoSummary(products=len(shop.products), orders=counts)


def weigh_packed_parcels(station: Any) -> None:
    """The demo's scale weighs what the bench packs (issue 12: "From the scale" only ever
    erred, as nothing ever lay on the simulated scale): when an order's packing changes, the
    scale shows, steady, its packed items' weight plus the box's tare — what a person putting
    the parcel on it would see."""
    scale = station.scale
    if scale is None or not hasattr(scale, "put"):
        return
    tare_g = station.settings.scale.box_tare_g

    def weigh(event: OrderChanged) -> None:
        with station.store.read() as conn:
            rows = conn.execute(
                select(order_lines.c.packed, products.c.weight_g)
                .join(products, products.c.sku == order_lines.c.sku)
                .where(order_lines.c.order_id == event.order_id, order_lines.c.packed > 0)
            ).all()
        if rows:
            scale.put(sum(packed * (weight or 0) for packed, weight in rows) + tare_g)

    station.bus.subscribe(weigh, OrderChanged)
