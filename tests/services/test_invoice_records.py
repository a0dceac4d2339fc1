"""R16: every reported delivery gets one invoice record, written in the report-in's own
transaction and numbered without a gap per series — on SQLite and PostgreSQL, read back as
rows in the database."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from stationd.core.invoices import Books
from stationd.services.report_in import DeliveryRequest, Outcome, ReportIn, Weighing
from stationd.store.invoice_tables import invoice_lines, invoice_records, invoice_vat
from stationd.store.invoices import invoice_record_of_delivery, invoice_records_between
from stationd.store.orders import load_order
from stationd.store.tables import deliveries

WEIGHING = Weighing(tolerance_g=50, tolerance_pct=5.0, box_tare_g=150)


def lines(store, order_id):
    with store.read() as conn:
        return {line.sku: line.id for line in load_order(conn, order_id).lines}


def rows(store, table):
    with store.read() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def test_r16_each_reported_delivery_gets_one_record_of_what_it_carried(store, shop, bus):
    report_in = ReportIn(store, bus, "bench-1", weighing=WEIGHING, books=Books(series="W"))
    shop.product("A", on_hand=5, number=1)
    shop.product("B", on_hand=5, number=2)
    order_id = shop.order([("A", 2), ("B", 1)], status="packing", reserve=True)
    ids = lines(store, order_id)
    first, second = (
        report_in.report([DeliveryRequest(order_id, ["PKG-1"], {ids["A"]: 1})])[0],
        report_in.report([DeliveryRequest(order_id, ["PKG-2"], {ids["A"]: 1, ids["B"]: 1})])[0],
    )
    assert (first.outcome, second.outcome) == (Outcome.PARTIAL, Outcome.SHIPPED)
    records = rows(store, invoice_records)
    assert [(r["series"], r["number"], r["order_id"]) for r in records] == [
        ("W", 1, order_id),
        ("W", 2, order_id),
    ]
    with store.read() as conn:
        delivered = list(conn.execute(select(deliveries.c.id).order_by(deliveries.c.id)).scalars())
        one = invoice_record_of_delivery(conn, delivered[0])
        two = invoice_record_of_delivery(conn, delivered[1])
    # R14: the partial delivery is invoiced for its one item, the rest for what followed.
    assert [(line.sku, line.quantity) for line in one.lines] == [("A", 1)]
    assert sorted((line.sku, line.quantity) for line in two.lines) == [("A", 1), ("B", 1)]
    assert one.reference == "W-1" and two.reference == "W-2"
    assert one.settlement_account == "1570" and one.vat[0].sales_account == "3001"
    assert one.total_minor == one.lines[0].unit_price_minor
    assert len(rows(store, invoice_lines)) == 3 and len(rows(store, invoice_vat)) == 2


def test_r16_a_refused_report_in_writes_no_record_and_takes_no_number(store, shop, bus):
    report_in = ReportIn(store, bus, "bench-1", weighing=WEIGHING)
    shop.product("A", on_hand=5, number=1)
    one = shop.order([("A", 1)], status="packing", reserve=True)
    two = shop.order([("A", 1)], status="packing", reserve=True)
    three = shop.order([("A", 1)], status="packing", reserve=True)
    [ok1] = report_in.report([DeliveryRequest(one, ["PKG-1"], {lines(store, one)["A"]: 1})])
    # The weight is checked after the record is written (the labels' hook): 2 kg against
    # 400 g asks the packer first, and the whole transaction — its number too — is undone.
    [asked] = report_in.report(
        [DeliveryRequest(two, ["PKG-2"], {lines(store, two)["A"]: 1}, weight_g=2000)]
    )
    [ok2] = report_in.report([DeliveryRequest(three, ["PKG-3"], {lines(store, three)["A"]: 1})])
    assert asked.outcome is Outcome.CONFIRM and ok1.ok and ok2.ok
    records = rows(store, invoice_records)
    assert [(r["order_id"], r["number"]) for r in records] == [(one, 1), (three, 2)]


def test_r16_a_rate_without_an_account_refuses_the_report_in_and_nothing_is_written(
    store, shop, bus
):
    books = Books(vat_percent=15)  # no BAS account for 15 %
    report_in = ReportIn(store, bus, "bench-1", weighing=WEIGHING, books=books)
    shop.product("A", on_hand=5, number=1)
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    [outcome] = report_in.report(
        [DeliveryRequest(order_id, ["PKG-1"], {lines(store, order_id)["A"]: 1})]
    )
    assert outcome.outcome is Outcome.REFUSED
    assert "No sales account is set for VAT 15 %" in outcome.message
    assert rows(store, invoice_records) == [] and rows(store, deliveries) == []


def test_r16_records_are_read_back_by_issue_date(store, shop, bus):
    report_in = ReportIn(store, bus, "bench-1", weighing=WEIGHING)
    shop.product("A", on_hand=5, number=1)
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    report_in.report([DeliveryRequest(order_id, ["PKG-1"], {lines(store, order_id)["A"]: 1})])
    with store.read() as conn:
        day = conn.execute(select(func.max(invoice_records.c.issued_on))).scalar_one()
        assert [r.number for r in invoice_records_between(conn, day, day)] == [1]
        assert invoice_records_between(conn, date(2000, 1, 1), date(2000, 12, 31)) == []


def test_r16_two_stations_reporting_at_once_take_every_number_once_without_a_gap(store, shop, bus):
    from concurrent.futures import ThreadPoolExecutor

    shop.product("A", on_hand=50, number=1)
    orders = [shop.order([("A", 1)], status="packing", reserve=True) for _ in range(12)]
    wanted = {o: lines(store, o)["A"] for o in orders}
    benches = [ReportIn(store, bus, f"bench-{n}", weighing=WEIGHING) for n in (1, 2)]

    def report(bench_and_orders):
        bench, mine = bench_and_orders
        return [
            bench.report([DeliveryRequest(o, [f"PKG-{o}"], {wanted[o]: 1})])[0].ok for o in mine
        ]

    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(report, [(benches[0], orders[::2]), (benches[1], orders[1::2])]))
    assert all(ok for oks in done for ok in oks)
    records = rows(store, invoice_records)
    assert sorted(r["number"] for r in records) == list(range(1, 13))
    assert sorted(r["order_id"] for r in records) == sorted(orders)


def set_line_vat(store, order_id, rates_bp):
    """Give the order's lines the VAT rates the shop's import would (hundredths of a %)."""
    from sqlalchemy import update

    from stationd.store.tables import order_lines

    with store.write() as conn:
        for sku, bp in rates_bp.items():
            conn.execute(
                update(order_lines)
                .where(order_lines.c.order_id == order_id, order_lines.c.sku == sku)
                .values(vat_rate_bp=bp)
            )


def test_r16_each_line_is_booked_at_its_own_vat_rate_and_a_blank_one_at_the_shops(store, shop, bus):
    report_in = ReportIn(store, bus, "bench-1", weighing=WEIGHING, books=Books(vat_percent=25))
    shop.product("BOOK", on_hand=5, number=1)
    shop.product("MUG", on_hand=5, number=2)
    shop.product("SOCK", on_hand=5, number=3)
    order_id = shop.order([("BOOK", 2), ("MUG", 1), ("SOCK", 1)], status="packing", reserve=True)
    set_line_vat(store, order_id, {"BOOK": 1200, "MUG": 2500})  # SOCK: blank
    ids = lines(store, order_id)
    everything = {ids["BOOK"]: 2, ids["MUG"]: 1, ids["SOCK"]: 1}
    [outcome] = report_in.report([DeliveryRequest(order_id, ["PKG-1"], everything)])
    assert outcome.outcome is Outcome.SHIPPED
    by_sku = {r["sku"]: r["vat_percent"] for r in rows(store, invoice_lines)}
    assert by_sku == {"BOOK": 12, "MUG": 25, "SOCK": 25}
    # 99.00 an item: 12 % on 198.00 is 21.21; 25 % on 198.00 is 39.60.
    vat = {r["vat_percent"]: (r["gross_minor"], r["vat_minor"]) for r in rows(store, invoice_vat)}
    assert vat == {12: (19800, 2121), 25: (19800, 3960)}
    [record] = rows(store, invoice_records)
    assert (record["total_minor"], record["vat_minor"]) == (39600, 6081)


def test_r16_a_vat_rate_that_is_not_a_whole_percent_refuses_the_report_in_with_the_reason(
    store, shop, bus
):
    report_in = ReportIn(store, bus, "bench-1", weighing=WEIGHING)
    shop.product("A", on_hand=5, number=1)
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    set_line_vat(store, order_id, {"A": 1250})
    [outcome] = report_in.report(
        [DeliveryRequest(order_id, ["PKG-1"], {lines(store, order_id)["A"]: 1})]
    )
    assert outcome.outcome is Outcome.REFUSED
    assert outcome.message.startswith("VAT 12.5 % on an order line is not a whole percent")
    assert rows(store, invoice_records) == [] and rows(store, deliveries) == []
