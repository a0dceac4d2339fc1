"""The kill test of the outgoing things, small (bench/outgoing_kills.py runs it at size): a real
`stationd serve` reporting deliveries is SIGKILLed between "delivery reported" and "sent"; every
notice and webhook the reported deliveries call for arrives, none under a second id; every
invoice record is one sale in a local Fiken, none made twice, and the station's records and
their SIE file match the deliveries."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "outgoing_kills.py"


def test_r16_killed_between_reported_and_sent_every_notice_webhook_and_invoice_arrives_once():
    spec = importlib.util.spec_from_file_location("outgoing_kills", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = bench.argparse.Namespace(
        orders=6, kills=4, seed=7, smtp_delay=0.05, kill_window=0.4, webhook_500=0.2,
        fiken_delay=0.05, fiken_500=0.3, drain_s=120,
    )  # fmt: skip

    result = bench.run(args)

    assert result["kills"] == 4 and result["kills_with_unsent"] >= 1
    assert result["deliveries_reported"] >= 1
    assert result["left_unsent"] == 0
    assert result["missing"] == 0 and result["rows_without_delivery"] == 0
    assert result["second_ids"] == 0 and result["bad_signatures"] == 0
    assert result["notices_received"] == result["deliveries_reported"]
    # Fiken holds one sale per reported delivery, of what it carried; none twice.
    assert result["sales_in_fiken"] == result["deliveries_reported"]
    assert result["sales_missing"] == result["sales_doubled"] == result["sales_off"] == 0
    # The station's records and the SIE file `stationd export sie` writes: one per delivery.
    assert result["invoice_records"] == result["sie_vouchers"] == result["deliveries_reported"]
    assert result["invoice_records_off"] == result["invoice_number_gaps"] == 0
    assert result["sie_off"] == 0
