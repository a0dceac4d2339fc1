"""R16: the invoice records exported as SIE 4I files, read back by a strict checker written
from the SIE 4 specification (tests/sie_checker.py) — encoding, records and their order,
every voucher balanced, accounts declared, amounts and dates as the specification writes them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sie_checker import SieError, read_sie
from sqlalchemy import update

from stationd.cli import main
from stationd.core.deliveries import Delivery
from stationd.core.invoices import Books, InvoiceRecord, invoice_of_delivery
from stationd.core.orders import Order, OrderLine, OrderStatus, PaymentMethod
from stationd.core.sie import SieCompany, sie_file
from stationd.services.report_in import DeliveryRequest, ReportIn, Weighing
from stationd.services.sie_export import export_sie
from stationd.store.orders import load_order
from stationd.store.tables import order_lines

DAY = date(2026, 12, 7)
COMPANY = SieCompany('Åsa\'s "Bästa" Butik AB', "SEK", "556677-8899")


def record(number: int, *prices: tuple[int, int], method: str = "card") -> InvoiceRecord:
    """A record of one item per (unit price, VAT rate)."""
    order = Order(
        id=1000 + number,
        status=OrderStatus.PACKING,
        placed_at=datetime(2026, 12, 1, tzinfo=UTC),
        customer_name="Örjan Ängström",
        payment_method=PaymentMethod(method),
        lines=[OrderLine(f"S{i}", f"Item {i}", 1, p, id=i + 1) for i, (p, _) in enumerate(prices)],
    )
    rates = {i + 1: rate for i, (_, rate) in enumerate(prices)}
    made = invoice_of_delivery(
        order,
        Delivery(order.id, {i + 1: 1 for i in range(len(prices))}, id=number),
        Books(settlement_by_method={"swish": "1580"}),
        issued_on=DAY,
        vat_percent_of=rates,
    )
    return dataclasses.replace(made, number=number)


def test_r16_an_sie_file_of_several_rates_reads_back_balanced_with_its_accounts():
    records = [
        record(1, (12500, 25)),
        record(2, (10600, 6), (11200, 12), (3, 25), (3, 25), method="swish"),
        record(3, (99, 0)),
    ]
    data = sie_file(records, COMPANY, generated_on=DAY)
    sie = read_sie(data)
    assert sie.fields["#FNAMN"] == ['Åsa\'s "Bästa" Butik AB']
    assert sie.fields["#VALUTA"] == ["SEK"] and sie.fields["#ORGNR"] == ["556677-8899"]
    assert [(v.series, v.number, v.day) for v in sie.vouchers] == [
        ("A", "1", DAY),
        ("A", "2", DAY),
        ("A", "3", DAY),
    ]
    two = {t.account: t.amount for t in sie.vouchers[1].rows}
    # 1580 (Swish's own) takes the total; each rate's net and VAT on its accounts.
    assert two == {
        "1580": Decimal("218.06"),
        "3001": Decimal("-0.05"),
        "2611": Decimal("-0.01"),
        "3002": Decimal("-100.00"),
        "2621": Decimal("-12.00"),
        "3003": Decimal("-100.00"),
        "2631": Decimal("-6.00"),
    }
    assert set(sie.accounts) == {
        "1570",
        "1580",
        "2611",
        "2621",
        "2631",
        "3001",
        "3002",
        "3003",
        "3004",
    }
    assert sie.accounts["3001"] == "Försäljning inom Sverige, 25 % moms"


def test_r16_the_sie_file_is_pc8_cp437_with_crlf_and_its_quotes_escaped():
    data = sie_file([record(1, (100, 25))], COMPANY, generated_on=DAY)
    assert '#FNAMN "Åsa\'s \\"Bästa\\" Butik AB"'.encode("cp437") in data
    assert b"\x8fsa" in data  # Å in code page 437
    assert "Å".encode() not in data
    assert data.endswith(b"}\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    assert data.startswith(b"#FLAGGA 0\r\n#PROGRAM ")


def test_r16_an_empty_period_is_a_valid_file_without_vouchers():
    sie = read_sie(sie_file([], COMPANY, generated_on=DAY))
    assert sie.vouchers == [] and sie.fields["#SIETYP"] == ["4"]


def test_r16_a_record_in_another_currency_is_refused_by_the_writer():
    nok = record(1, (100, 25))
    with pytest.raises(ValueError, match="NOK"):
        sie_file([dataclasses.replace(nok, currency="NOK")], COMPANY, generated_on=DAY)


# --- the checker can fail ----------------------------------------------------------------------

GOOD = (
    '#FLAGGA 0\r\n#PROGRAM x 1\r\n#FORMAT PC8\r\n#GEN 20261207\r\n#SIETYP 4\r\n#FNAMN "F"\r\n'
    '#KONTO 1570 "A"\r\n#KONTO 3001 "B"\r\n#VER A 1 20261207\r\n{\r\n'
    "#TRANS 1570 {} 10.00\r\n#TRANS 3001 {} -10.00\r\n}\r\n"
)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (("-10.00", "-9.99"), "does not balance"),
        (("#TRANS 3001", "#TRANS 3002"), "3002 has no #KONTO"),
        (("10.00\r", "10.0\r"), "is not -N.NN"),
        (("#VER A 1 20261207", "#VER A 1 20261307"), "no real day"),
        (("#FORMAT PC8\r\n", ""), "#FORMAT is missing"),
        (('#FNAMN "F"', '#FNAMN "Försäljning"'), "UTF-8"),
        (('#FNAMN "F"', '#FNAMN "F\\"'), "not closed"),
        (("#FLAGGA 0\r\n", ""), "begin with #FLAGGA"),
        (('#KONTO 1570 "A"\r\n', ""), "1570 has no #KONTO"),
    ],
)
def test_the_checker_refuses_what_the_specification_forbids(change, why):
    assert read_sie(GOOD.encode("cp437")).vouchers  # the good file passes
    bad = GOOD.replace(*change)
    with pytest.raises(SieError, match=why):
        read_sie(bad.encode("utf-8") if "ö" in bad else bad.encode("cp437"))


def test_the_checker_refuses_a_record_out_of_order():
    bad = GOOD.replace('#FNAMN "F"\r\n', "") + '#FNAMN "F"\r\n'
    with pytest.raises(SieError, match="after the chart or the vouchers"):
        read_sie(bad.encode("cp437"))


# --- from the report-in to the file ------------------------------------------------------------


def test_r16_reported_deliveries_export_as_a_file_the_checker_reads_balanced(store, shop, bus):
    report_in = ReportIn(
        store, bus, "bench-1", weighing=Weighing(50, 5.0, 150), books=Books(series="W")
    )
    shop.product("A", on_hand=9, number=1)
    shop.product("B", on_hand=9, number=2)
    for n in range(3):
        order_id = shop.order([("A", 2), ("B", 1)], status="packing", reserve=True)
        with store.read() as conn:
            ids = {line.sku: line.id for line in load_order(conn, order_id).lines}
        report_in.report([DeliveryRequest(order_id, [f"PKG-{n}a"], {ids["A"]: 1})])
        report_in.report([DeliveryRequest(order_id, [f"PKG-{n}b"], {ids["A"]: 1, ids["B"]: 1})])
    today = datetime.now().astimezone().date()
    made = export_sie(
        store, today, today, company_name="Demo Butik AB", currency="SEK", today=today
    )
    sie = read_sie(made.data)
    assert made.vouchers == 6 and made.left_out == ()
    assert [v.number for v in sie.vouchers] == ["1", "2", "3", "4", "5", "6"]
    assert {v.series for v in sie.vouchers} == {"W"}
    # 99.00 a product: the partial deliveries 99.00, the rest 198.00, all on 1570.
    settled = [t.amount for v in sie.vouchers for t in v.rows if t.account == "1570"]
    assert settled == [Decimal("99.00"), Decimal("198.00")] * 3


def test_r16_a_delivery_of_a_25_and_a_12_percent_line_exports_each_rate_balanced(store, shop, bus):
    report_in = ReportIn(store, bus, "bench-1", weighing=Weighing(50, 5.0, 150), books=Books())
    shop.product("MUG", on_hand=9, number=1)
    shop.product("BOOK", on_hand=9, number=2)
    order_id = shop.order([("MUG", 1), ("BOOK", 3)], status="packing", reserve=True)
    with store.write() as conn:
        for sku, bp in (("MUG", 2500), ("BOOK", 1200)):
            conn.execute(
                update(order_lines)
                .where(order_lines.c.order_id == order_id, order_lines.c.sku == sku)
                .values(vat_rate_bp=bp)
            )
    with store.read() as conn:
        ids = {line.sku: line.id for line in load_order(conn, order_id).lines}
    [outcome] = report_in.report(
        [DeliveryRequest(order_id, ["PKG-1"], {ids["MUG"]: 1, ids["BOOK"]: 3})]
    )
    assert outcome.ok
    today = datetime.now().astimezone().date()
    made = export_sie(
        store, today, today, company_name="Demo Butik AB", currency="SEK", today=today
    )
    [voucher] = read_sie(made.data).vouchers  # the checker: balanced, accounts declared
    # 99.00 an item: the mug 99.00 at 25 % (19.80 VAT), the books 297.00 at 12 % (31.82).
    assert {t.account: t.amount for t in voucher.rows} == {
        "1570": Decimal("396.00"),
        "3001": Decimal("-79.20"),
        "2611": Decimal("-19.80"),
        "3002": Decimal("-265.18"),
        "2621": Decimal("-31.82"),
    }


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "stationd.toml"
    path.write_text(f'[station]\nname = "cli-bench"\nstate_dir = "{tmp_path / "state"}"\n')
    return path


def run(*args: str, config: Path | None):
    prefix = ["--config", str(config)] if config else []
    return CliRunner().invoke(main, [*prefix, *args])


def test_r16_stationd_export_sie_writes_the_demos_records_to_a_file(tmp_path, config):
    demo = run("demo", "--state-dir", str(tmp_path / "state"), "--no-serve", config=None)
    assert demo.exit_code == 0, demo.output
    out = tmp_path / "books.se"
    result = run(
        "export",
        "sie",
        "--from",
        "2000-01-01",
        "--to",
        "2100-12-31",
        "--out",
        str(out),
        config=config,
    )
    assert result.exit_code == 0, result.stderr
    sie = read_sie(out.read_bytes())
    assert sie.vouchers, "the demo reports deliveries, so it has invoice records"
    assert f"{len(sie.vouchers)} voucher(s)" in result.stderr
    nok = run(
        "export",
        "sie",
        "--from",
        "2000-01-01",
        "--to",
        "2100-12-31",
        "--currency",
        "NOK",
        config=config,
    )
    assert nok.exit_code == 0
    # Every record is in one of the two files, none in both.
    sek_count = len(sie.vouchers)
    nok_count = len(read_sie(nok.stdout_bytes).vouchers)
    assert f"left out: {nok_count} record(s) in NOK, not SEK: A-" in result.stderr
    assert f"left out: {sek_count} record(s) in SEK, not NOK: A-" in nok.stderr
    assert result.stderr.count("left out:") == nok.stderr.count("left out:") == 1


def test_r16_export_sie_with_bad_dates_is_one_clear_line(config):
    bad = run("export", "sie", "--from", "2026-13-01", "--to", "2026-12-31", config=config)
    assert bad.exit_code != 0 and "'2026-13-01' is not a date YYYY-MM-DD" in bad.stderr
    backwards = run("export", "sie", "--from", "2026-12-31", "--to", "2026-12-01", config=config)
    assert backwards.exit_code == 1
    assert "--to 2026-12-01 is before --from 2026-12-31" in backwards.stderr
