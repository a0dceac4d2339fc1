"""A slow receiver and the others (issue 13 §4): how long the customer's shipping notice and the
shop's webhook take to arrive while the accounting system answers slowly.

In one process, with the station's own wiring (`station.make_senders` from a config, the
worker with its production back-off): a SQLite store seeded with priced NOK orders
(bench/outgoing_kills.py `seed`), a local SMTP server (aiosmtpd, STARTTLS), a local webhook
server, and a local Fiken (tests/fiken_server.py) that answers each sale `--fiken-delay`
seconds after making it. `--deliveries` deliveries are reported one after another, `--gap`
seconds apart; each writes its invoice send, its notice and its webhook(s), in that order.

Printed per receiver: the time from a delivery's report (its commit) to the notice / webhook
arriving at its server (p50, max), when the last invoice row was sent, and the most notice and
webhook rows seen unsent at once (sampled every 20 ms). The last line is one JSON object.

    .venv/bin/python bench/outgoing_lanes.py --deliveries 8 --fiken-delay 1.5
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from email import message_from_bytes
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fiken_server import SLUG, TOKEN, FikenServer
from outgoing_kills import parcel_id, seed
from outgoing_servers import WEBHOOK_SECRET, SmtpServer, WebhookServer
from percentiles import percentile
from sqlalchemy import func, select

from stationd.config import settings_from_dict
from stationd.core.outgoing import INVOICE_KIND, NOTICE_KIND, WEBHOOK_KIND
from stationd.services.outgoing import Backoff, OutgoingQueue, OutgoingWorker
from stationd.services.report_in import DeliveryRequest, ReportIn, Weighing
from stationd.station import make_senders
from stationd.store.database import Store
from stationd.store.tables import outgoing

STATION = "lanes-1"


class Arrivals:
    """Polls the servers and the outbox every 20 ms: when each id first arrived, and the most
    notice and webhook rows unsent at once."""

    def __init__(self, store: Store, smtp: SmtpServer, hooks: WebhookServer) -> None:
        self.store, self.smtp, self.hooks = store, smtp, hooks
        self.first_seen: dict[str, float] = {}
        self.most_unsent = 0
        self._mails = 0  # how many of the SMTP server's messages were read already
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            now = time.monotonic()
            new_mails = self.smtp.messages[self._mails :]  # a slice is taken whole
            self._mails += len(new_mails)
            mail_ids = {
                str(message_from_bytes(raw)["Message-ID"]).strip("<>").split("@")[0]
                for raw in new_mails
            }
            for event_id in mail_ids | self.hooks.ids():
                self.first_seen.setdefault(event_id, now)
            with self.store.read() as conn:
                unsent = conn.execute(
                    select(func.count()).where(
                        outgoing.c.kind.in_([NOTICE_KIND, WEBHOOK_KIND]),
                        outgoing.c.state.in_(["pending", "sending"]),
                    )
                ).scalar_one()
            self.most_unsent = max(self.most_unsent, unsent)


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        smtp = SmtpServer(Path(folder)).start()
        hooks = WebhookServer(hang_s=1.0).start()
        fiken = FikenServer()
        fiken.delay_s = args.fiken_delay
        url = f"sqlite:///{folder}/lanes.db"
        orders = seed(url, args.deliveries, random.Random(args.seed))
        settings = settings_from_dict(
            {
                "shop": {"name": "Fjällbutiken AB"},
                "mail": smtp.mail_settings(),
                "webhooks": {"url": hooks.url, "secret": WEBHOOK_SECRET},
                "accounting": {
                    "send_to": "fiken", "api_url": fiken.url, "api_token": TOKEN,
                    "company_slug": SLUG, "sales_accounts": "25=3000 15=3030",
                    "vat_accounts": "25=2700 15=2701",
                },
            }
        )  # fmt: skip
        store = Store(url)
        senders = make_senders(settings, store)
        queue = OutgoingQueue(store, senders, tracking_url=settings.mail.tracking_url)
        report_in = ReportIn(
            store,
            None,
            STATION,
            weighing=Weighing(50, 5.0, 150),
            outgoing=queue,
            books=settings.accounting.books(settings.shop.vat_percent),
        )
        worker = OutgoingWorker(
            store, senders, STATION, backoff=Backoff.from_settings(settings.outgoing)
        )
        queue.wake = worker.notify
        arrivals = Arrivals(store, smtp, hooks)
        cpu0 = time.process_time()
        worker.start()
        arrivals.start()
        reported_at: dict[int, float] = {}
        for n, (order_id, lines) in enumerate(orders):
            [done] = report_in.report(
                [DeliveryRequest(order_id, [parcel_id(n + 1)], dict.fromkeys(lines, 2))]
            )
            assert done.ok, done
            reported_at[order_id] = time.monotonic()
            time.sleep(args.gap)
        deadline = time.monotonic() + args.drain_s
        while time.monotonic() < deadline:
            with store.read() as conn:
                left = conn.execute(
                    select(func.count()).where(outgoing.c.state.in_(["pending", "sending"]))
                ).scalar_one()
            if not left:
                break
            time.sleep(0.05)
        drained = time.monotonic()
        arrivals.stop()
        worker.stop()
        cpu = time.process_time() - cpu0
        with store.read() as conn:
            written = conn.execute(
                select(outgoing.c.event_id, outgoing.c.kind, outgoing.c.order_id)
            ).all()
        store.dispose()
        smtp.stop()
        hooks.stop()
        fiken.close()

    def waits(kind: str) -> list[float]:
        return sorted(
            arrivals.first_seen[event_id] - reported_at[order_id]
            for event_id, row_kind, order_id in written
            if row_kind == kind and event_id in arrivals.first_seen
        )

    notices, webhooks = waits(NOTICE_KIND), waits(WEBHOOK_KIND)
    first_report = min(reported_at.values())
    return {
        "deliveries": len(reported_at),
        "fiken_delay_s": args.fiken_delay,
        "gap_s": args.gap,
        "notices": len(notices),
        "notice_wait_p50_s": round(percentile(notices, 50), 3),
        "notice_wait_max_s": round(max(notices), 3),
        "webhooks": len(webhooks),
        "webhook_wait_p50_s": round(percentile(webhooks, 50), 3),
        "webhook_wait_max_s": round(max(webhooks), 3),
        "invoices": sum(1 for _, kind, _ in written if kind == INVOICE_KIND),
        "sales_in_fiken": len(fiken.sales),
        "all_sent_after_s": round(drained - first_report, 3),
        "most_notices_webhooks_unsent": arrivals.most_unsent,
        "cpu_s": round(cpu, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=8)
    parser.add_argument("--fiken-delay", type=float, default=1.5)
    parser.add_argument("--gap", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drain-s", type=float, default=120)
    result = run(parser.parse_args(argv))
    for key, value in result.items():
        print(f"{key:>30}: {value}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["notices"] == result["deliveries"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
