"""The kill test of the outgoing things (issue 13, Must show): a real station reporting
deliveries is SIGKILLed at random moments between "delivery reported" and "sent", again and
again; at the end every shipping notice, webhook and invoice record the reported deliveries
call for has arrived, no notice or webhook arrived under a second id (a repeat comes with the
same id only), and no invoice record was made twice in the accounting system.

The parts are real and the script owns them all:
- `stationd serve` in its own process, with a config this script writes (SQLite in a temporary
  state directory), restarted after each SIGKILL;
- a local SMTP server (aiosmtpd) with STARTTLS and a login, which keeps each message and holds
  each DATA `--smtp-delay` seconds (sends the station can be killed in);
- a local webhook server that checks each request's HMAC signature, keeps the events by id and
  answers some with 500 (`--webhook-500` of them, taken and then failed: a repeat follows);
- a local Fiken (tests/fiken_server.py; `[accounting] send_to = "fiken"`) that makes a sale of
  every invoice record the station posts — a second one of the same number too, so a double is
  counted, not refused — answers each `--fiken-delay` seconds after making it (a send the
  station can be killed in, the sale made), and fails some posts (`--fiken-500` of them: half
  refused, half made and then answered 500, which only a look-up by the reference settles).

The orders are in NOK, priced, their lines at 25 % or 15 % VAT.

The "packer" posts report-ins on the ship-out page (the form the kiosk posts: CSRF token,
parcel id, quantities), a third of the orders in two deliveries (R14). At `--kills` random
reports the station is killed: mostly a random while after the answer (the rows are committed,
their sends under way), sometimes during the POST. After each kill the rows not sent yet are
counted (the kill landed between "reported" and "sent"). At the end the station runs until
every row is sent, and the database's deliveries are compared with what the servers got:

- missing: a row a reported delivery calls for (notice, delivery.reported, order.shipped for
  the delivery that completed its order, the send of its invoice record) not written, or a
  notice or webhook written and never received;
- second_ids: a notice or webhook received under an id no row has, or one event (kind, type,
  delivery) under two ids;
- repeats: receipts of an id beyond its first (allowed: the same id);
- invoice records (Fiken's side has no event id: a sale is counted by its number, the record's
  reference "A-7"): sales_missing, a record with no sale; sales_doubled, a second sale of one
  record; sales_off, a sale of no record or whose total is not what its delivery carried;
- the station's own records: invoice_records_off, a reported delivery without exactly one
  record, a record of no reported delivery, or a total that is not the delivery's lines at
  their prices; invoice_number_gaps, numbers of the series not 1…N; and the SIE file that
  `stationd export sie` writes, read back by tests/sie_checker.py (the specification's rules,
  each voucher balanced): sie_off, a voucher that is not its record (number, delivery, total)
  or a record without its voucher.

    .venv/bin/python bench/outgoing_kills.py --orders 40 --kills 20 --seed 1

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fiken_server import SLUG as FIKEN_SLUG
from fiken_server import TOKEN as FIKEN_TOKEN
from fiken_server import FikenServer
from outgoing_servers import WEBHOOK_SECRET, SmtpServer, WebhookServer, free_port
from sie_checker import read_sie
from sqlalchemy import func, insert, select

from stationd.core.barcodes import s10_check_digit
from stationd.demo import ean13
from stationd.store.database import Store
from stationd.store.invoice_tables import invoice_records
from stationd.store.tables import (
    deliveries,
    delivery_lines,
    order_lines,
    orders,
    outgoing,
    products,
    stock,
)

STATION = "kills-1"
COUNTRIES = ("SE", "NO", "DK")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def seed(url: str, count: int, rng: random.Random) -> list[tuple[int, list[int]]]:
    """Packing orders of one or two lines, everything packed, priced in NOK at 25 % or 15 %
    VAT; (order id, line ids) each."""
    store = Store(url)
    store.upgrade()
    made = []
    with store.write() as conn:
        for n in range(count):
            order_id = 5000 + n
            conn.execute(
                insert(orders).values(
                    id=order_id, status="packing", placed_at=datetime.now(UTC), paid=True,
                    customer_name=f"Kund {n}", customer_key=f"kund {n}",
                    customer_email=f"kund{n}@example.test", country=COUNTRIES[n % 3],
                    currency="NOK",
                )
            )  # fmt: skip
            lines = []
            for position in range(1 if n % 3 else 2):
                sku, code = f"K-{n}-{position}", ean13(70000 + 2 * n + position)
                name = f"Vara {n}.{position}"
                conn.execute(insert(products).values(sku=sku, name=name, ean=code))
                conn.execute(insert(stock).values(sku=sku, on_hand=2, reserved=2))
                line_id = conn.execute(
                    insert(order_lines).values(
                        order_id=order_id, position=position, sku=sku, name=name,
                        quantity=2, packed=2, unit_price_minor=rng.randrange(1000, 100000),
                        vat_rate_bp=1500 if (n + position) % 2 else 2500,
                    )
                ).inserted_primary_key[0]  # fmt: skip
                lines.append(int(line_id))
            made.append((order_id, lines))
    store.dispose()
    return made


class StationProcess:
    """`stationd serve` with this script's config; killed and started again at will."""

    def __init__(
        self, state_dir: Path, url: str, smtp: SmtpServer, hooks: WebhookServer, fiken: FikenServer
    ) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.config = state_dir / "stationd.toml"
        mail = smtp.mail_settings()
        self.config.write_text(
            f"""
[station]
name = "{STATION}"
language = "en"
state_dir = "{state_dir}"
[database]
url = "{url}"
[kiosk]
port = {self.port}
[packscript]
interval_min = 0
[logging]
level = "WARNING"
[shop]
name = "Kill Test AB"
[mail]
host = "127.0.0.1"
port = {mail["port"]}
user = "{mail["user"]}"
password = "{mail["password"]}"
from_address = "{mail["from_address"]}"
ca_file = "{mail["ca_file"]}"
tracking_url = "{mail["tracking_url"]}"
[webhooks]
url = "{hooks.url}"
secret = "{WEBHOOK_SECRET}"
timeout_s = 2.0
[accounting]
send_to = "fiken"
api_url = "{fiken.url}"
api_token = "{FIKEN_TOKEN}"
company_slug = "{FIKEN_SLUG}"
sales_accounts = "25=3000 15=3030"
vat_accounts = "25=2700 15=2701"
timeout_s = 2.0
max_wait_s = 1.0
[outgoing]
first_backoff_s = 0.2
max_backoff_s = 1.0
max_attempts = 100
"""
        )
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout_s: float = 120) -> None:
        with (self.state_dir / "serve.log").open("a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stationd", "--config", str(self.config), "serve"],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("stationd serve exited (see serve.log)")
            if self.get("/shipout") is not None:
                self.starts += 1
                return
            time.sleep(0.1)
        raise RuntimeError("stationd serve did not answer in time")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def export_sie(self, first: date, last: date) -> bytes:
        """`stationd export sie` of the days, as the shop's bookkeeper runs it."""
        out = self.state_dir / "records.sie"
        subprocess.run(
            [sys.executable, "-m", "stationd", "--config", str(self.config), "export", "sie",
             "--from", first.isoformat(), "--to", last.isoformat(), "--currency", "NOK",
             "--out", str(out)],
            check=True, capture_output=True,
        )  # fmt: skip
        return out.read_bytes()

    def get(self, path: str) -> tuple[int, str, str] | None:
        """(status, body, the CSRF cookie it set) or None when nothing answered."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read().decode("utf-8", "replace")
            cookie = ""
            for header, value in response.getheaders():
                if header.lower() == "set-cookie" and value.startswith("stationd_csrf="):
                    cookie = value.split(";", 1)[0].split("=", 1)[1]
            conn.close()
            return response.status, body, cookie
        except (OSError, http.client.HTTPException):  # killed mid-answer: IncompleteRead
            return None

    def post(self, path: str, fields: list[tuple[str, str]], cookie: str) -> int | None:
        body = urlencode([*fields, ("csrf_token", cookie)])
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "HX-Request": "true",
            "X-CSRF-Token": cookie,
            "Cookie": f"stationd_csrf={cookie}",
        }
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            return response.status
        except (OSError, http.client.HTTPException):  # killed mid-answer: IncompleteRead
            return None


def parcel_id(n: int) -> str:
    serial = f"{n:08d}"
    return f"KT{serial}{s10_check_digit(serial)}SE"


def unsent(url: str) -> int:
    store = Store(url)
    try:
        with store.read() as conn:
            return len(conn.execute(select(outgoing.c.id).where(outgoing.c.state != "sent")).all())
    finally:
        store.dispose()


def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="outgoing-kills-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'stationd.sqlite'}"
        made = seed(url, args.orders, rng)
        smtp = SmtpServer(folder, delay_s=args.smtp_delay).start()
        hooks = WebhookServer().start()
        hooks_500 = args.webhook_500
        fiken = FikenServer()
        fiken.keep_doubles, fiken.delay_s = True, args.fiken_delay
        fiken_faults = 0
        station = StationProcess(folder, url, smtp, hooks, fiken)
        try:
            # The reports to make: one delivery of everything, or (orders of two lines) the
            # first line, then the rest.
            plan: list[tuple[int, list[tuple[int, int]]]] = []
            for order_id, lines in made:
                if len(lines) == 2:
                    plan.append((order_id, [(lines[0], 2), (lines[1], 0)]))
                    plan.append((order_id, [(lines[1], 2)]))
                else:
                    plan.append((order_id, [(lines[0], 2)]))
            kill_at = set(rng.sample(range(len(plan)), min(args.kills, len(plan))))
            station.start()
            kills = kills_with_unsent = answered = 0
            for n, (order_id, quantities) in enumerate(plan):
                # The shop fails some webhooks after taking them.
                while rng.random() < hooks_500:
                    hooks.faults.append("500")
                    break
                # Fiken fails some posts: refused, or made and then answered 500.
                if rng.random() < args.fiken_500:
                    fiken.faults.append(rng.choice(("500", "500-made")))
                    fiken_faults += 1
                page = station.get("/shipout")
                cookie = page[2] if page else ""
                fields = [("order", str(order_id)), (f"parcel-{order_id}", parcel_id(n + 1))]
                fields += [(f"qty-{order_id}-{line}", str(q)) for line, q in quantities]
                timer = None
                kill_now = n in kill_at
                during = kill_now and rng.random() < 0.3
                if during:
                    timer = threading.Timer(rng.uniform(0.0, 0.3), station.kill)
                    timer.start()
                status = station.post("/shipout/report", fields, cookie)
                answered += status == 200
                if kill_now:
                    if timer is not None:
                        timer.join()
                    else:
                        time.sleep(rng.uniform(0.0, args.kill_window))
                    station.kill()
                    kills += 1
                    left = unsent(url)
                    kills_with_unsent += left > 0
                    log(f"report {n}: SIGKILL with {left} outgoing not sent")
                    station.start()
            # Settle: the station sends what is left.
            deadline = time.monotonic() + args.drain_s
            while unsent(url) and time.monotonic() < deadline:
                time.sleep(0.2)
            left_unsent = unsent(url)
            station.stop()
            today = datetime.now().date()  # the station's calendar dates the records
            sie = station.export_sie(today - timedelta(days=1), today + timedelta(days=1))
            result = check(url, smtp, hooks) | check_invoices(url, fiken, sie)
        finally:
            station.kill()
            smtp.stop()
            hooks.stop()
            fiken.close()
    return {
        "orders": args.orders,
        "reports": len(plan),
        "reports_answered": answered,
        "kills": kills,
        "kills_with_unsent": kills_with_unsent,
        "left_unsent": left_unsent,
        "fiken_faults": fiken_faults,
        **result,
        "seconds": round(time.monotonic() - started, 1),
        "load": os.getloadavg()[0],
    }


def check(url: str, smtp: SmtpServer, hooks: WebhookServer) -> dict:
    """What the database's deliveries call for against what the servers got (see the top)."""
    store = Store(url)
    with store.read() as conn:
        reported = conn.execute(
            select(deliveries.c.id, deliveries.c.order_id).where(
                deliveries.c.reported_at.is_not(None)
            )
        ).all()
        shipped = set(
            conn.execute(select(orders.c.id).where(orders.c.status == "shipped")).scalars()
        )
        written = conn.execute(
            select(outgoing.c.event_id, outgoing.c.kind, outgoing.c.delivery_id, outgoing.c.payload)
        ).all()
    store.dispose()
    by_delivery: dict[int, Counter] = {}
    for _event_id, kind, delivery_id, payload in written:
        what = json.loads(payload)["type"] if kind == "webhook" else kind
        by_delivery.setdefault(delivery_id, Counter())[what] += 1
    last_of_order = {}
    for delivery_id, order_id in reported:
        last_of_order[order_id] = max(delivery_id, last_of_order.get(order_id, 0))
    missing = written_twice = 0
    for delivery_id, order_id in reported:
        want = {"shipping_notice": 1, "delivery.reported": 1, "invoice_record": 1}
        if order_id in shipped and last_of_order[order_id] == delivery_id:
            want["order.shipped"] = 1
        have = by_delivery.get(delivery_id, Counter())
        missing += sum(max(0, n - have[k]) for k, n in want.items())
        written_twice += sum(max(0, have[k] - 1) for k in have)
    rows_without_delivery = len(set(by_delivery) - {d for d, _ in reported})
    # An invoice record's row is received as a sale in Fiken, counted by its reference
    # (check_invoices): Fiken keeps no event id.
    known = {event_id: kind for event_id, kind, _, _ in written if kind != "invoice_record"}
    mails = smtp.by_message_id()
    mail_ids = {mid.strip("<>").split("@")[0]: len(got) for mid, got in mails.items()}
    hook_ids = {event_id: len(got) for event_id, got in hooks.events.items()}
    received = {**mail_ids, **hook_ids}
    never_received = sum(1 for event_id in known if event_id not in received)
    second_ids = sum(1 for event_id in received if event_id not in known) + written_twice
    return {
        "deliveries_reported": len(reported),
        "rows_written": len(written),
        "notices_received": len(mail_ids),
        "webhooks_received": len(hook_ids),
        "missing": missing + never_received,
        "rows_without_delivery": rows_without_delivery,
        "second_ids": second_ids,
        "repeats_same_id": sum(n - 1 for n in received.values()),
        "bad_signatures": hooks.bad_signatures,
        "webhooks_cut_off": hooks.cut_off,
    }


def check_invoices(url: str, fiken: FikenServer, sie: bytes) -> dict:
    """The invoice records against the deliveries, Fiken's sales and the SIE file (see the
    top). What a delivery carried is read from its lines at their order lines' prices, not
    from the records."""
    store = Store(url)
    with store.read() as conn:
        reported = set(
            conn.execute(
                select(deliveries.c.id).where(deliveries.c.reported_at.is_not(None))
            ).scalars()
        )
        carried = dict(
            conn.execute(
                select(
                    delivery_lines.c.delivery_id,
                    func.sum(delivery_lines.c.quantity * order_lines.c.unit_price_minor),
                )
                .join(order_lines, order_lines.c.id == delivery_lines.c.line_id)
                .group_by(delivery_lines.c.delivery_id)
            ).all()
        )
        records = conn.execute(
            select(
                invoice_records.c.series,
                invoice_records.c.number,
                invoice_records.c.delivery_id,
                invoice_records.c.total_minor,
            )
        ).all()
    store.dispose()
    # The station's records: one per reported delivery, of what it carried, numbered 1…N.
    per_delivery = Counter(r.delivery_id for r in records)
    records_off = sum(1 for d in reported if per_delivery[d] != 1)
    records_off += sum(1 for d in per_delivery if d not in reported)
    records_off += sum(1 for r in records if r.total_minor != carried.get(r.delivery_id, 0))
    numbers = Counter(r.number for r in records)
    gaps = len(set(range(1, len(records) + 1)) - set(numbers))
    gaps += sum(n - 1 for n in numbers.values()) + len({r.series for r in records} - {"A"})
    by_reference = {f"{r.series}-{r.number}": r for r in records}
    # Fiken's sales, by number.
    with fiken.lock:
        sales = list(fiken.sales)
    sold = Counter(s["saleNumber"] for s in sales)
    sales_off = 0
    for sale in sales:
        record = by_reference.get(sale["saleNumber"])
        want = None if record is None else carried.get(record.delivery_id, 0)
        lines_total = sum(line["netPrice"] + line["vat"] for line in sale["lines"])
        sales_off += want is None or sale["totalPaid"] != want or lines_total != want
    # The SIE file, read back by the specification's rules: one voucher per record.
    vouchers = read_sie(sie).vouchers
    sie_off = abs(len(vouchers) - len(records))
    for voucher in vouchers:
        record = by_reference.get(f"{voucher.series}-{voucher.number}")
        debit = sum(row.amount for row in voucher.rows if row.amount > 0)
        sie_off += (
            record is None
            or f"leverans {record.delivery_id}" not in voucher.text
            or debit * 100 != carried.get(record.delivery_id, 0)
        )
    return {
        "invoice_records": len(records),
        "invoice_records_off": records_off,
        "invoice_number_gaps": gaps,
        "sales_in_fiken": len(sales),
        "fiken_posts": fiken.posts(),
        "sales_missing": sum(1 for ref in by_reference if not sold[ref]),
        "sales_doubled": sum(n - 1 for n in sold.values()),
        "sales_off": sales_off,
        "sie_vouchers": len(vouchers),
        "sie_off": sie_off,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=40)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smtp-delay", type=float, default=0.05)
    parser.add_argument("--kill-window", type=float, default=0.4)
    parser.add_argument("--webhook-500", type=float, default=0.1)
    parser.add_argument("--fiken-delay", type=float, default=0.05)
    parser.add_argument("--fiken-500", type=float, default=0.15)
    parser.add_argument("--drain-s", type=float, default=120)
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result))
    bad = ("missing", "second_ids", "left_unsent", "sales_missing", "sales_doubled", "sales_off")
    bad += ("invoice_records_off", "invoice_number_gaps", "sie_off")
    ok = not any(result[key] for key in bad)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
