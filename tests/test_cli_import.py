"""`stationd import orders|products|stock FILE` (issue 13 §1): the summary a person reads, the
exit status, a malformed file said with where, and with [sync] the orders written to central."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from stationd.cli import main
from stationd.store.tables import orders

ORDER = {
    "ref": "WEB-7",
    "placed_at": "2026-12-01T09:14:00Z",
    "customer_name": "Kari Nordmann",
    "street": "Storgata 1",
    "postcode": "0155",
    "city": "Oslo",
    "country": "NO",
    "currency": "NOK",
    "payment_method": "vipps",
    "paid": True,
    "lines": [{"sku": "A", "name": "Termos", "quantity": 1, "price": 199}],
}


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "stationd.toml"
    path.write_text(f'[station]\nstate_dir = "{tmp_path}"\n{extra}')
    return path


def run(cfg: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--config", str(cfg), "import", *args])


def test_r1_import_orders_says_what_went_in_and_what_was_refused_with_its_line(tmp_path):
    cfg = config(tmp_path)
    bad = {**ORDER, "ref": "WEB-8", "payment_method": "swish"}  # Swish is paid in SEK
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(ORDER) + "\n" + json.dumps(bad) + "\n{broken\n")
    first = run(cfg, "orders", str(path))
    assert first.exit_code == 1
    lines = first.output.splitlines()
    assert lines[0] == "orders: 1 new, 0 updated, 0 unchanged, 2 refused"
    assert lines[1].startswith(
        "  line 2 (WEB-8): refused: payment_method: swish is not paid in NOK"
    )
    assert lines[2].startswith("  line 3: refused: not a JSON object")
    path.write_text(json.dumps(ORDER) + "\n")
    again = run(cfg, "orders", str(path))
    assert (again.exit_code, again.output) == (
        0,
        "orders: 0 new, 0 updated, 1 unchanged, 0 refused\n",
    )


def test_a_csv_that_is_not_the_format_is_said_with_where(tmp_path):
    path = tmp_path / "stock.csv"
    path.write_text("sku,count\nA,1\n")
    result = run(config(tmp_path), "stock", str(path))
    assert result.exit_code == 1
    assert "line 1: the header has 'count'" in result.output


def test_products_then_stock_from_csv(tmp_path):
    cfg = config(tmp_path)
    (tmp_path / "products.csv").write_text("sku,name,ean,weight_g\nA,Termos,7300001000003,350\n")
    (tmp_path / "stock.csv").write_text("sku,on_hand\nA,12\nB,1\n")
    assert run(cfg, "products", str(tmp_path / "products.csv")).output.startswith("products: 1 new")
    stock = run(cfg, "stock", str(tmp_path / "stock.csv"))
    assert stock.output.splitlines() == [
        "stock: 0 new, 1 updated, 0 unchanged, 1 refused",
        "  line 3 (B): refused: there is no product B: import it first",
    ]


@pytest.mark.postgres
def test_r17_with_sync_the_import_writes_central(tmp_path, pg_store):
    url = pg_store.engine.url.render_as_string(hide_password=False)
    cfg = config(tmp_path, f'[sync]\ncentral_url = "{url}"\n[[intake]]\nname = "webshop"\n')
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(ORDER) + "\n")
    assert run(cfg, "orders", str(path)).exit_code == 0
    with pg_store.read() as conn:
        assert conn.execute(select(orders.c.shop, orders.c.shop_ref)).all() == [
            ("webshop", "WEB-7")
        ]
    # The bench's own copy is not written: it gets the order by its pull, as any of central's.
    assert not (tmp_path / "stationd.sqlite").exists()
