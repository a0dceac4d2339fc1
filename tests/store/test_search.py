"""The order list and search (R4, R5) in the store, on SQLite and PostgreSQL: newest first,
paged by key, the text index kept in step, every criterion alone and combined — and the same
answer whichever index leads the query."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, update

import stationd.store.search as search
from stationd.core.search import OrderQuery, QueryError, parse_day, parse_query
from stationd.services.report_in import ship
from stationd.store.search import COUNT_CAP, search_orders
from stationd.store.tables import orders, own_statuses

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def ids(store, **criteria) -> list[int]:
    with store.read() as conn:
        return [r.id for r in search_orders(conn, parse_query(criteria)).rows]


def page(store, **criteria):
    with store.read() as conn:
        return search_orders(conn, parse_query(criteria))


def test_r4_list_runs_newest_order_first_a_page_at_a_time_by_key(store, shop):
    shop.product("A")
    made = [shop.order([("A", 1)]) for _ in range(7)]
    first = page(store, page_size="3")
    assert [r.id for r in first.rows] == made[:-4:-1]
    assert (first.total, first.more, first.newer) == (7, False, None)
    second = page(store, page_size="3", after=str(first.older))
    assert [r.id for r in second.rows] == made[-4:-7:-1]
    last = page(store, page_size="3", after=str(second.older))
    assert [r.id for r in last.rows] == [made[0]] and last.older is None
    back = page(store, page_size="3", before=str(last.newer))
    assert [r.id for r in back.rows] == [r.id for r in second.rows]
    assert back.newer == second.rows[0].id and back.older == second.rows[-1].id


def test_r4_a_new_order_does_not_shift_the_page_being_read(store, shop):
    shop.product("A")
    made = [shop.order([("A", 1)]) for _ in range(4)]
    first = page(store, page_size="2")
    shop.order([("A", 1)])  # arrives while the admin reads page 1
    second = page(store, page_size="2", after=str(first.older))
    assert [r.id for r in second.rows] == [made[1], made[0]]


def test_r4_text_is_a_piece_of_a_name_or_email_whatever_its_case(store, shop):
    shop.product("A")
    asa = shop.order([("A", 1)], customer="Åsa Öberg")
    sven = shop.order([("A", 1)], customer="Sven Söderberg")
    kari = shop.order([("A", 1)], customer="Kari Løken")
    with store.write() as conn:
        conn.execute(
            update(orders).where(orders.c.id == kari).values(customer_email="Kari.Loken@Example.NO")
        )
    assert ids(store, text="berg") == [sven, asa]
    assert ids(store, text="ÖBERG") == [asa]
    assert ids(store, text="åsa öb") == [asa]
    assert ids(store, text="loken@example") == [kari]
    assert ids(store, text="berget") == []
    assert ids(store, text="50%_x") == []


def test_r4_text_that_is_an_order_number_or_pick_list_barcode_finds_that_order(store, shop):
    shop.product("A")
    first = shop.order([("A", 1)], customer="Order 1000 Fan")
    other = shop.order([("A", 1)])
    assert ids(store, text=str(other)) == [other]
    assert ids(store, text=f"ORD-{first}") == [first]
    assert ids(store, text=f"#{first}") == [first]


def test_r4_search_follows_names_as_they_change_and_go(store, shop):
    shop.product("A")
    order_id = shop.order([("A", 1)], customer="Märta Lindström")
    assert ids(store, text="lindström") == [order_id]
    with store.write() as conn:
        conn.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(customer_name="Märta Åberg", customer_key="märta åberg")
        )
    assert ids(store, text="lindström") == []
    assert ids(store, text="åberg") == [order_id]
    with store.write() as conn:
        conn.execute(delete(orders).where(orders.c.id == order_id))
    assert ids(store, text="åberg") == []


def test_r4_text_needs_three_letters_unless_it_is_an_order_number():
    with pytest.raises(QueryError) as err:
        parse_query({"text": "ab"})
    assert "at least 3 letters" in err.value.problems["text"]
    assert parse_query({"text": "7"}).order_id == 7
    assert parse_query({"text": "ORD-1042"}).order_id == 1042
    assert parse_query({"text": "abc"}).order_id is None


def test_r4_bad_paging_keys_are_named():
    with pytest.raises(QueryError) as err:
        parse_query({"after": "x", "before": "-3"})
    assert set(err.value.problems) == {"after", "before"}


@pytest.fixture
def varied(store, shop):
    """Sixty orders over two months with every criterion varied, some shipped with parcel ids."""
    rnd = random.Random(4)
    for sku, number in (("A", 1), ("B", 2), ("C", 3)):
        shop.product(sku, on_hand=10_000, number=number)
    with store.write() as conn:
        conn.execute(
            insert(own_statuses),
            [
                {"id": 1, "code": "GIFT", "name": "Present"},
                {"id": 2, "code": "VIP", "name": "Kund"},
            ],
        )
    rows = []
    names = ["Anna Berg", "Erik Öberg", "Ola Nordmann", "Kari Løken", "Åsa Ek"]
    for n in range(60):
        status = rnd.choice(["preorder", "order", "packing", "packing"])
        lines = [(sku, rnd.randint(1, 3)) for sku in rnd.sample("ABC", rnd.randint(1, 2))]
        order_id = shop.order(
            lines,
            status=status,
            reserve=status == "packing",
            placed_at=START + timedelta(hours=23 * n),
            customer=rnd.choice(names),
            waiting=status == "packing" and rnd.random() < 0.3,
            comment=rnd.choice(["", "", "Ring först"]),
            payment_method=rnd.choice(["card", "invoice", "own_invoice", "swish"]),
        )
        own = rnd.choice([None, None, 1, 2])
        with store.write() as conn:
            conn.execute(update(orders).where(orders.c.id == order_id).values(own_status_id=own))
        rows.append(order_id)
    packing = [i for i in rows if _status(store, i) == "packing"]
    for n, order_id in enumerate(packing[:8]):
        ship(store, order_id, [f"RR{n:08d}{_s10(n)}SE"], station="s")
    return rows


def _s10(n: int) -> int:
    from stationd.core.barcodes import s10_check_digit

    return s10_check_digit(f"{n:08d}")


def _status(store, order_id: int) -> str:
    with store.read() as conn:
        return conn.execute(orders.select().where(orders.c.id == order_id)).first().status


def _matches(store, q: OrderQuery) -> list[int]:
    """The orders `q` should find, by reading every order and checking each criterion."""
    from sqlalchemy import select

    from stationd.store.tables import deliveries, order_lines, parcel_ids

    with store.read() as conn:
        everything = conn.execute(select(orders)).all()
        skus = {}
        for order_id, sku, gtin in conn.execute(
            select(order_lines.c.order_id, order_lines.c.sku, order_lines.c.gtin)
        ):
            skus.setdefault(order_id, set()).update({sku, gtin})
        parcels = dict(
            conn.execute(
                select(parcel_ids.c.parcel_id, deliveries.c.order_id).join(
                    deliveries, deliveries.c.id == parcel_ids.c.delivery_id
                )
            ).all()
        )
    found = []
    for o in everything:
        day = o.placed_at.date()
        if q.status is not None and o.status != q.status.value:
            continue
        if q.waiting is not None and bool(o.waiting) != q.waiting:
            continue
        if q.own_status_id is not None and o.own_status_id != q.own_status_id:
            continue
        if q.payment_method is not None and o.payment_method != q.payment_method.value:
            continue
        if q.value_min_minor is not None and o.value_minor < q.value_min_minor:
            continue
        if q.value_max_minor is not None and o.value_minor > q.value_max_minor:
            continue
        if q.placed_from is not None and day < q.placed_from:
            continue
        if q.placed_to is not None and day > q.placed_to:
            continue
        if q.has_comment is not None and bool(o.comment) != q.has_comment:
            continue
        if q.sku_or_ean and q.sku_or_ean not in skus.get(o.id, set()):
            continue
        if q.tracking_id and parcels.get(q.tracking_id) != o.id:
            continue
        if q.text and q.text.casefold() not in o.customer_key + " " + o.customer_email.lower():
            continue
        found.append(o.id)
    return sorted(found, reverse=True)


def _random_criteria(rnd: random.Random) -> dict[str, str]:
    choices = [
        lambda: {"status": rnd.choice(["preorder", "order", "packing", "shipped"])},
        lambda: {"waiting": rnd.choice(["yes", "no"])},
        lambda: {"own_status_id": rnd.choice(["1", "2"])},
        lambda: {"payment_method": rnd.choice(["card", "own_invoice", "swish"])},
        lambda: {"value_min_minor": str(rnd.choice([99, 198, 297, 400]))},
        lambda: {"value_max_minor": str(rnd.choice([99, 198, 297, 600]))},
        lambda: {
            "placed_from": (date(2026, 3, 1) + timedelta(days=rnd.randint(0, 60))).isoformat()
        },
        lambda: {"placed_to": (date(2026, 3, 1) + timedelta(days=rnd.randint(0, 60))).isoformat()},
        lambda: {"has_comment": rnd.choice(["yes", "no"])},
        lambda: {"sku_or_ean": rnd.choice(["A", "B", "C"])},
        lambda: {"tracking_id": f"RR{rnd.randint(0, 9):08d}{_s10(rnd.randint(0, 9))}SE"},
        lambda: {"text": rnd.choice(["berg", "öberg", "nordmann", "Løken", "anna b"])},
    ]
    criteria: dict[str, str] = {}
    for make in rnd.sample(choices, rnd.randint(1, 4)):
        criteria |= make()
    return criteria


@pytest.mark.parametrize("probe", [search.PROBE, 4], ids=["indexes-lead", "newest-first-walk"])
def test_r4_every_criterion_alone_and_combined_finds_what_reading_every_order_finds(
    store, varied, monkeypatch, probe
):
    # A small PROBE makes every criterion "common", so the search walks the orders newest
    # first instead of leading with an index: both ways must give the same orders.
    monkeypatch.setattr(search, "PROBE", probe)
    monkeypatch.setattr(search, "COUNT_BUDGET_MS", 60_000)  # count every time, however busy
    rnd = random.Random(9)
    checked = 0
    for _ in range(120):
        criteria = _random_criteria(rnd)
        try:
            q = parse_query(criteria | {"page_size": "500"})
        except QueryError:
            continue  # e.g. a "from" after the "to"
        expected = _matches(store, q)
        found = ids(store, **criteria, page_size="500")
        assert found == expected, criteria
        # A later page: the orders after a cursor, and the count of them all.
        cursor = rnd.choice([*expected, 1, 10**6])
        later = page(store, **criteria, page_size="5", after=str(cursor))
        assert [r.id for r in later.rows] == [i for i in expected if i < cursor][:5], criteria
        assert later.total == len(expected), criteria
        checked += 1
    assert checked > 80


def test_r4_count_stops_at_the_cap_and_the_pages_still_reach_every_order(store, shop, monkeypatch):
    monkeypatch.setattr(search, "COUNT_BUDGET_MS", 60_000)
    shop.product("A")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with store.write() as conn:
        conn.execute(
            insert(orders),
            [
                {
                    "id": 10_000 + n,
                    "status": "order",
                    "placed_at": base + timedelta(minutes=n),
                    "customer_name": f"Kund {n}",
                    "customer_key": f"kund {n}",
                }
                for n in range(COUNT_CAP + 5)
            ],
        )
    first = page(store, page_size="500")
    assert (first.total, first.more) == (COUNT_CAP, True)
    seen = [r.id for r in first.rows]
    after = first.older
    while after is not None:
        more = page(store, page_size="500", after=str(after))
        seen += [r.id for r in more.rows]
        after = more.older
    assert seen == sorted(range(10_000, 10_000 + COUNT_CAP + 5), reverse=True)
    assert page(store, text="kund 100")  # a name search over them still answers
    assert ids(store, text="kund 1004") == [11_004]


def test_r5_list_shows_the_own_status_by_its_current_name(store, shop):
    shop.product("A")
    with store.write() as conn:
        conn.execute(insert(own_statuses).values(id=7, code="GIFT", name="Present"))
    order_id = shop.order([("A", 1)])
    with store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == order_id).values(own_status_id=7))
        conn.execute(update(own_statuses).where(own_statuses.c.id == 7).values(name="Gåva"))
    assert [r.own_status for r in page(store, own_status_id="7").rows] == ["Gåva"]


def test_sqlite_name_search_reads_the_text_index_not_every_order(sqlite_store, sqlite_shop):
    sqlite_shop.product("A")
    sqlite_shop.order([("A", 1)], customer="Åsa Öberg")
    statements = _statements(sqlite_store, parse_query({"text": "öberg"}))
    plans = _plans(sqlite_store, statements)
    assert any("orders_text VIRTUAL TABLE" in plan for plan in plans)
    assert not any(plan == "SCAN orders" for plan in plans)


def test_sqlite_rare_criterion_leads_not_the_common_one(sqlite_store, sqlite_shop):
    sqlite_shop.product("A")
    for n in range(30):
        sqlite_shop.order([("A", 1)], status="packing", waiting=n == 3)
    statements = _statements(sqlite_store, parse_query({"status": "packing", "waiting": "yes"}))
    plans = _plans(sqlite_store, [s for s in statements if "LIMIT" in s[0] and "count" not in s[0]])
    assert any("ix_orders_waiting" in plan for plan in plans), plans


def _statements(store, q: OrderQuery) -> list[tuple[str, tuple]]:
    from sqlalchemy import event

    seen: list[tuple[str, tuple]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append((statement, tuple(parameters or ())))

    event.listen(store.engine, "before_cursor_execute", remember)
    try:
        with store.read() as conn:
            search_orders(conn, q)
    finally:
        event.remove(store.engine, "before_cursor_execute", remember)
    return [s for s in seen if s[0].lstrip().upper().startswith("SELECT")]


def _plans(store, statements: list[tuple[str, tuple]]) -> list[str]:
    with store.read() as conn:
        return [
            row[3]
            for statement, params in statements
            for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
        ]


def test_sqlite_count_gives_up_rather_than_read_on(sqlite_store, monkeypatch):
    with sqlite_store.write() as conn:
        conn.execute(
            insert(orders),
            [
                {"id": n, "status": "order", "placed_at": START, "comment": "x"}
                for n in range(1, 2001)
            ],
        )
    monkeypatch.setattr(search, "COUNT_BUDGET_MS", 0)
    monkeypatch.setattr(search, "COUNT_CAP", 5000)
    result = page(sqlite_store, has_comment="yes", page_size="10")
    assert len(result.rows) == 10 and result.total is None and result.more
    assert result.older == result.rows[-1].id


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-11-01", date(2026, 11, 1)),
        ("01.11.2026", date(2026, 11, 1)),
        ("1.11.2026", date(2026, 11, 1)),
    ],
)
def test_r4_a_date_reads_as_swedish_and_norwegian_write_it(text, day):
    assert parse_day(text) == day


@pytest.mark.parametrize(
    "text",
    ["11/01/2026", "2026-13-01", "20261101", "1.11.26", "32.01.2026", "1999-12-31", "٢٠٢٦-١١-٠١"],
)
def test_r4_a_date_in_another_form_is_refused(text):
    with pytest.raises(ValueError):
        parse_day(text)
