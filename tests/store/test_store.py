"""The store on SQLite and PostgreSQL: schema, orders, the queue, deliveries, search (R3–R5,
R9, R13–R15), each change written with its audit event in the same transaction."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, update

from stationd.core.orders import OrderRuleError, OrderStatus
from stationd.core.search import OrderQuery, QueryError, parse_query
from stationd.services.report_in import ship
from stationd.store.database import head_revision
from stationd.store.orders import count_outbound_queue, load_order, outbound_queue
from stationd.store.search import search_orders
from stationd.store.tables import (
    events,
    in_metadata,
    metadata,
    order_lines,
    orders,
    own_statuses,
    stock,
)


def rows(store, table, *where):
    with store.read() as conn:
        return conn.execute(select(table).where(*where)).mappings().all()


def test_migrations_create_exactly_the_schema_in_tables_py(store):
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": in_metadata})
        diff = compare_metadata(context, metadata)
    assert diff == []
    assert store.revision() == head_revision()


def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(sqlite_store):
    with sqlite_store.read() as conn:
        pragmas = {
            p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
            for p in ("journal_mode", "synchronous", "foreign_keys")
        }
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}


def test_write_rolls_back_everything_when_the_block_fails(store, shop):
    shop.product("A", on_hand=5)
    with pytest.raises(RuntimeError), store.write() as conn:
        conn.execute(update(stock).values(on_hand=0))
        raise RuntimeError("power cut")
    assert rows(store, stock)[0]["on_hand"] == 5


def test_load_order_gives_lines_in_position_order(store, shop):
    shop.product("A")
    shop.product("B")
    order_id = shop.order([("B", 2), ("A", 1)], status="packing")
    with store.read() as conn:
        order = load_order(conn, order_id)
        assert load_order(conn, 999_999) is None
    assert order.status is OrderStatus.PACKING
    assert [(line.sku, line.quantity) for line in order.lines] == [("B", 2), ("A", 1)]
    assert order.placed_at.tzinfo is not None


def test_r9_r3_outbound_queue_lists_packing_orders_not_waiting_oldest_first(store, shop):
    shop.product("A")
    newer = shop.order([("A", 1)], status="packing", placed_at=datetime(2026, 11, 3, tzinfo=UTC))
    older = shop.order([("A", 2)], status="packing", placed_at=datetime(2026, 11, 2, tzinfo=UTC))
    shop.order([("A", 1)], status="packing", waiting=True)
    shop.order([("A", 1)], status="order")
    shop.order([("A", 1)], status="shipped")
    with store.read() as conn:
        queue = outbound_queue(conn)
        assert count_outbound_queue(conn) == 2
    assert [row.id for row in queue] == [older, newer]
    assert queue[0].items == 2


def test_r13_r15_full_delivery_ships_order_and_takes_stock(store, shop):
    shop.product("A", on_hand=5)
    order_id = shop.order([("A", 2)], status="packing", reserve=True)
    result = ship(store, order_id, ["RR473124829SE"], station="bench-1")
    assert result.shipped
    assert rows(store, orders)[0]["status"] == "shipped"
    assert dict(rows(store, stock)[0]) == {"sku": "A", "on_hand": 3, "reserved": 0}
    assert rows(store, order_lines)[0]["delivered"] == 2
    assert [e["kind"] for e in rows(store, events)] == ["order.shipped"]


def test_r14_partial_delivery_keeps_order_packing_in_the_database(store, shop):
    shop.product("A", on_hand=5)
    shop.product("B", on_hand=5)
    order_id = shop.order([("A", 2), ("B", 1)], status="packing", reserve=True)
    with store.read() as conn:
        first_line = load_order(conn, order_id).lines[0].id
    result = ship(store, order_id, ["PKG-1", "PKG-2"], station="s", quantities={first_line: 1})
    assert not result.shipped
    assert rows(store, orders)[0]["status"] == "packing"
    assert {r["sku"]: (r["on_hand"], r["reserved"]) for r in rows(store, stock)} == {
        "A": (4, 1),
        "B": (5, 1),
    }
    ship(store, order_id, ["PKG-3"], station="s")
    assert rows(store, orders)[0]["status"] == "shipped"
    assert [e["kind"] for e in rows(store, events)] == ["order.partial_delivery", "order.shipped"]


def test_r13_same_parcel_id_never_on_two_orders(store, shop):
    shop.product("A", on_hand=5)
    first = shop.order([("A", 1)], status="packing", reserve=True)
    second = shop.order([("A", 1)], status="packing", reserve=True)
    ship(store, first, ["RR473124829SE"], station="s")
    with pytest.raises(OrderRuleError, match="another order"):
        ship(store, second, ["rr473124829se"], station="s")
    assert rows(store, orders, orders.c.id == second)[0]["status"] == "packing"
    assert len(rows(store, events)) == 1


def test_r13_fifth_parcel_id_refused_and_nothing_written(store, shop):
    shop.product("A", on_hand=5)
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    with pytest.raises(OrderRuleError, match="at most 4"):
        ship(store, order_id, ["PKG-1", "PKG-2", "PKG-3", "PKG-4", "PKG-5"], station="s")
    assert rows(store, orders)[0]["status"] == "packing"
    assert rows(store, stock)[0]["on_hand"] == 5
    assert rows(store, events) == []


def test_r15_report_in_of_an_order_not_packing_is_refused(store, shop):
    shop.product("A")
    order_id = shop.order([("A", 1)], status="order")
    with pytest.raises(OrderRuleError, match="only packing orders ship"):
        ship(store, order_id, ["PKG-1"], station="s")
    with pytest.raises(OrderRuleError, match="no order 4242"):
        ship(store, 4242, ["PKG-1"], station="s")


# R4 / R5 --------------------------------------------------------------------------------
@pytest.fixture
def searchable(store, shop):
    shop.product("A", on_hand=9)
    shop.product("B", on_hand=9)
    with store.write() as conn:
        conn.execute(own_statuses.insert().values(id=1, code="GIFT", name="Presentinslagning"))
    ids = {
        "asa": shop.order(
            [("A", 1)],
            customer="Åsa Öberg",
            status="packing",
            reserve=True,
            placed_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
            comment="Ring först",
        ),
        "ola": shop.order(
            [("B", 3)],
            customer="Ola Nordmann",
            status="order",
            paid=False,
            placed_at=datetime(2026, 11, 5, 9, tzinfo=UTC),
            payment_method="own_invoice",
        ),
        "kari": shop.order(
            [("A", 2), ("B", 1)],
            customer="Kari Løken",
            status="packing",
            waiting=True,
            reserve=True,
            placed_at=datetime(2026, 11, 9, 9, tzinfo=UTC),
        ),
    }
    with store.write() as conn:
        conn.execute(update(orders).where(orders.c.id == ids["ola"]).values(own_status_id=1))
    ship(store, ids["asa"], ["RR473124829SE"], station="s")
    return ids


def found(store, **criteria):
    with store.read() as conn:
        page = search_orders(conn, parse_query(criteria))
        result, total = page.rows, page.total
    assert total >= len(result)
    return [r.id for r in result]


def test_r4_search_by_name_ignores_case_and_nordic_letters(store, searchable):
    assert found(store, text="öberg") == [searchable["asa"]]
    assert found(store, text="LØKEN") == [searchable["kari"]]
    assert found(store, text=str(searchable["ola"])) == [searchable["ola"]]
    assert found(store, text="100%_") == []


def test_r4_order_list_shows_the_columns_newest_first(store, searchable):
    with store.read() as conn:
        page = search_orders(conn, OrderQuery())
        result, total = page.rows, page.total
    assert total == 3
    first = result[0]
    assert first.id == searchable["kari"]
    assert (first.customer_name, first.status, first.waiting) == ("Kari Løken", "packing", True)
    assert result[-1].comment == "Ring först"
    assert result[1].own_status == "Presentinslagning"
    assert result[1].value_minor == 3 * 9900


def test_r4_extended_search_criteria(store, searchable):
    s = searchable
    assert found(store, status="packing") == [s["kari"]]
    assert found(store, placed_from="2026-11-04", placed_to="2026-11-05") == [s["ola"]]
    assert found(store, payment_method="own_invoice") == [s["ola"]]
    assert found(store, own_status_id="1") == [s["ola"]]
    assert found(store, value_min_minor="200", value_max_minor="297") == [s["kari"], s["ola"]]
    assert found(store, value_max_minor="99,00") == [s["asa"]]
    assert found(store, has_comment="yes") == [s["asa"]]
    assert found(store, waiting="ja") == [s["kari"]]
    assert found(store, sku_or_ean="B") == [s["kari"], s["ola"]]
    assert found(store, tracking_id="rr473124829se") == [s["asa"]]
    assert found(store, status="shipped") == [s["asa"]]


def test_r4_search_paginates(store, searchable):
    first, second = found(store, page_size="2"), found(store, page_size="2", page="2")
    assert len(first) == 2 and len(second) == 1
    assert set(first + second) == set(searchable.values())


def test_r4_search_by_ean_finds_orders_holding_the_item(store, shop):
    code = shop.product("EAN-ITEM", number=12345)
    order_id = shop.order([("EAN-ITEM", 1)])
    assert found(store, sku_or_ean=code) == [order_id]


def test_r4_bad_search_fields_are_named_with_what_is_expected():
    with pytest.raises(QueryError) as err:
        parse_query(
            {
                "placed_from": "yesterday",
                "status": "lost",
                "value_min_minor": "lots",
                "waiting": "maybe",
                "page_size": "100000",
            }
        )
    assert set(err.value.problems) == {
        "placed_from",
        "status",
        "value_min_minor",
        "waiting",
        "page_size",
    }
    with pytest.raises(QueryError, match="before the start"):
        parse_query({"placed_from": "2026-11-05", "placed_to": "2026-11-01"})
    assert parse_query({"placed_from": "2026-11-05"}).placed_from == date(2026, 11, 5)
    assert parse_query({"value_min_minor": "1 234,5"}).value_min_minor == 123450


def test_r5_renaming_an_own_status_renames_it_on_old_orders(store, searchable):
    with store.write() as conn:
        conn.execute(update(own_statuses).where(own_statuses.c.id == 1).values(name="Gåva"))
    with store.read() as conn:
        result = search_orders(conn, parse_query({"own_status_id": "1"})).rows
        assert conn.execute(select(func.count()).select_from(own_statuses)).scalar_one() == 1
    assert [r.own_status for r in result] == ["Gåva"]


def test_r4_dates_are_days_in_the_station_time_zone_on_both_engines(store, shop):
    from zoneinfo import ZoneInfo

    stockholm = ZoneInfo("Europe/Stockholm")
    shop.product("A")
    just_after_midnight = datetime(2026, 11, 2, 0, 30, tzinfo=stockholm)  # 23:30 UTC the day before
    order_id = shop.order([("A", 1)], placed_at=just_after_midnight)
    with store.read() as conn:
        assert load_order(conn, order_id).placed_at == just_after_midnight
        from_day = parse_query({"placed_from": "2026-11-02"})
        on_the_day = search_orders(conn, from_day, stockholm).rows
        day_before = search_orders(conn, parse_query({"placed_to": "2026-11-01"}), stockholm).rows
    assert [r.id for r in on_the_day] == [order_id] and day_before == []
    assert on_the_day[0].placed_at.utcoffset().total_seconds() == 0


def test_naive_datetimes_are_refused_not_guessed(store):
    from sqlalchemy import insert
    from sqlalchemy.exc import StatementError

    with pytest.raises(StatementError, match="timezone-aware"), store.write() as conn:
        conn.execute(insert(orders).values(id=1, status="order", placed_at=datetime(2026, 1, 1)))


def test_a_postgresql_url_without_its_driver_is_a_clear_error(monkeypatch):
    import sys

    from stationd.store.database import Store, StoreError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    with pytest.raises(StoreError, match=r"pip install 'stationd\[postgres\]'"):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_a_database_made_at_revision_0001_upgrades_keeping_its_rows(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from stationd.store.database import MIGRATIONS, Store, head_revision

    store = Store(f"sqlite:///{tmp_path / 'old.sqlite'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            text(
                "INSERT INTO print_jobs (printer, document, created_at, payload, last_error) "
                "VALUES ('r', 'picklist', '2026-11-01 10:00:00', x'00', 'out of paper')"
            )
        )
    store.upgrade()
    assert store.revision() == head_revision()
    with store.read() as conn:
        row = conn.execute(text("SELECT last_error, last_error_data FROM print_jobs")).one()
        index = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'ix_order_lines_order'")
        ).scalar_one()
        labelled = [c[1] for c in conn.execute(text("PRAGMA table_info(parcel_ids)"))]
    store.dispose()
    assert tuple(row) == ("out of paper", None)
    assert "order_id, id, sku, quantity" in index and "labelled" in labelled
