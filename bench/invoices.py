"""The invoice records (issue 13 §3): sent to Fiken under faults, and exported as SIE 4.

    .venv/bin/python bench/invoices.py --records 200 --export 20000 --seed 1

Fiken: `--records` records sent through the adapter to a local server that answers as Fiken's
documentation says (tests/fiken_server.py), a fault before most sends drawn at random — a
timeout after the server made the sale, 429 with Retry-After, 500 before or after making it,
broken JSON after making it. A send that is not ok is sent again (as the outbox would) until it
is. Then: sales in the server's log, sale numbers made twice (must be 0), records the adapter
called sent that the server lacks (must be 0), sends per record, how many of each fault.

SIE: `--export` records written to a SQLite store the way report-in writes them (one
transaction each: number taken, record, lines, VAT), alternated in blocks with as many empty
write transactions (the baseline), then exported for their day and read back by the strict
checker (tests/sie_checker.py): the CPU time per record written and per empty transaction, the
export's
wall and CPU time, the file's size, vouchers, and whether every voucher balanced. The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fiken_server import SLUG, TOKEN, FikenServer
from sie_checker import read_sie

from stationd.accounting.fiken import FikenSender
from stationd.config.accounting import AccountingSettings
from stationd.core.deliveries import Delivery
from stationd.core.invoices import Books, InvoiceRecord, invoice_of_delivery
from stationd.core.orders import Order, OrderLine, OrderStatus, PaymentMethod
from stationd.services.sie_export import export_sie
from stationd.store.database import Store
from stationd.store.invoices import write_invoice_record

FAULTS = ("", "", "timeout", "429", "500", "500-made", "malformed")
DAY = date(2026, 12, 7)


def record(n: int, currency: str, books: Books) -> InvoiceRecord:
    order = Order(
        id=n,
        status=OrderStatus.PACKING,
        placed_at=datetime(2026, 12, 1, tzinfo=UTC),
        customer_name=f"Kund {n}",
        payment_method=PaymentMethod.CARD,
        lines=[
            OrderLine("A", "Kaffe", 2, 11500 + n % 7, id=1),
            OrderLine("B", "Kopp", 1, 25003, id=2),
        ],
        currency=currency,
    )
    rates = {1: 15 if currency == "NOK" else 12, 2: 25}
    return invoice_of_delivery(
        order, Delivery(n, {1: 2, 2: 1}, id=n), books, issued_on=DAY, vat_percent_of=rates
    )


def fiken(records: int, rng: random.Random, timeout_s: float) -> dict[str, object]:
    server = FikenServer()
    waits: list[float] = []
    settings = AccountingSettings(
        send_to="fiken", api_url=server.url, api_token=TOKEN, company_slug=SLUG,
        timeout_s=timeout_s, tries=3,
    )  # fmt: skip
    sender = FikenSender.from_settings(settings, sleep=waits.append)
    books = Books(sales_accounts={25: "3000", 15: "3000"}, vat_accounts={25: "2700", 15: "2700"})
    faults: Counter[str] = Counter()
    sends, said_sent = 0, set()
    for n in range(1, records + 1):
        rec = dataclasses.replace(record(n, "NOK", books), number=n)
        while True:
            fault = rng.choice(FAULTS)
            faults[fault or "none"] += 1
            if fault:
                server.faults.append(fault)
            sends += 1
            result = sender.send(rec)
            server.faults.clear()  # a fault the send never met (found by look-up) is dropped
            if result.ok:
                said_sent.add(rec.reference)
                break
    sender.http.close()
    server.close()
    numbers = Counter(s["saleNumber"] for s in server.sales)
    return {
        "records": records,
        "sales_in_server_log": len(server.sales),
        "made_twice": sum(1 for c in numbers.values() if c > 1),
        "said_sent_but_missing": len(said_sent - set(numbers)),
        "sends_per_record": round(sends / records, 2),
        "faults": dict(faults),
        "retry_after_waits": sum(1 for w in waits if w >= 1.0),
    }


def sie(count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'stationd.sqlite'}")
        store.upgrade()
        books = Books()
        # Alternated in blocks with a baseline of the same transactions writing nothing: what
        # is left is the record's own cost (the load on a shared machine moves both alike).
        write_cpu = empty_cpu = 0.0
        for start in range(1, count + 1, 1000):
            block = range(start, min(start + 1000, count + 1))
            cpu = time.process_time()
            for n in block:
                with store.write() as conn:
                    write_invoice_record(
                        conn, record(n, "SEK", books), station="bench", at=datetime.now(UTC)
                    )
            write_cpu += time.process_time() - cpu
            cpu = time.process_time()
            for _ in block:
                with store.write() as conn:
                    conn.exec_driver_sql("SELECT 1")
            empty_cpu += time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        made = export_sie(store, DAY, DAY, company_name="Demo Butik AB", currency="SEK", today=DAY)
        export_wall, export_cpu = time.perf_counter() - wall, time.process_time() - cpu
        checked = read_sie(made.data)
        store.dispose()
    return {
        "records": count,
        "write_cpu_ms_per_record": round(1000 * write_cpu / count, 3),
        "empty_transaction_cpu_ms": round(1000 * empty_cpu / count, 3),
        "export_wall_s": round(export_wall, 3),
        "export_cpu_s": round(export_cpu, 3),
        "file_bytes": len(made.data),
        "vouchers_read_back_balanced": len(checked.vouchers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--export", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=0.3)
    args = parser.parse_args()
    out = {
        "fiken": fiken(args.records, random.Random(args.seed), args.timeout),
        "sie": sie(args.export),
    }
    for part, figures in out.items():
        for key, value in figures.items():
            print(f"{part:6} {key:30} {value}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
