"""No double booking under faults (issue 13 §2): each real carrier adapter (nShift, Shipmondo)
books against a local server that answers as the provider's documentation says
(tests/carrier_servers.py), with a fault before most bookings drawn at random — a timeout after
the server booked, 429 with Retry-After, 500, broken JSON after booking — and the server's log is
compared with what the adapter handed back at the end.

    .venv/bin/python bench/carriers.py --bookings 200 --seed 1

Per adapter: bookings asked, bookings in the server's log, references booked twice (must be
0), bookings the adapter handed back that the server doesn't have (must be 0), how many of each
fault, the Retry-After waits honoured, and the median and p95 time per booking (the timeouts
count: each waits the client's timeout). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from carrier_servers import KEY, USER, NShiftServer, ShipmondoServer

from stationd.carriers import ParcelBooking
from stationd.carriers.http_session import CarrierHttp
from stationd.carriers.nshift import NShiftCarrier
from stationd.carriers.shipmondo import ShipmondoCarrier
from stationd.core.documents import Address

SENDER = Address("Demo Butik AB", "Storgatan 1", "111 22", "Stockholm", "SE")
RECEIVER = Address("Anna Andersson", "Tegnérgatan 39", "113 59", "Stockholm", "SE")
FAULTS = ("", "", "timeout", "429", "500", "malformed")


def run(kind: str, bookings: int, rng: random.Random, timeout_s: float) -> dict[str, object]:
    server = NShiftServer() if kind == "nshift" else ShipmondoServer()
    waits: list[float] = []
    http = CarrierHttp(
        kind,
        server.url,
        auth=(USER, KEY),
        timeout_s=timeout_s,
        tries=3,
        max_wait_s=30,
        sleep=waits.append,  # the Retry-After asked for is noted, not slept
    )
    with tempfile.TemporaryDirectory() as folder:
        if kind == "nshift":
            carrier = NShiftCarrier(
                http, Path(folder) / "feed.json", service="P19", sender=SENDER, sleep=waits.append
            )
        else:
            carrier = ShipmondoCarrier(
                http, product_code="GLSDK_SD", sender=SENDER, sleep=waits.append
            )
        faults: Counter[str] = Counter()
        handed: dict[str, str] = {}
        times = []
        server.retry_after = "3"
        for n in range(bookings):
            fault = rng.choice(FAULTS)
            faults[fault or "none"] += 1
            if fault:
                server.faults.append(fault)
            reference = f"{1000 + n}-1-1"
            started = time.perf_counter()
            shipment = carrier.book(ParcelBooking(1000 + n, RECEIVER, reference=reference))
            times.append(time.perf_counter() - started)
            handed[reference] = shipment.parcel_ids[0]
            server.faults.clear()
        http.close()
    server.close()
    logged = Counter(b.get("orderNo") or b.get("reference") for b in server.bookings)
    server_ids = {
        p.get("parcelNo") or p.get("pkg_no") for b in server.bookings for p in b["parcels"]
    }
    times.sort()
    return {
        "adapter": kind,
        "asked": bookings,
        "booked_in_server_log": len(server.bookings),
        "booked_twice": sum(1 for count in logged.values() if count > 1),
        "handed_back_unknown_to_server": sum(1 for i in handed.values() if i not in server_ids),
        "faults": dict(faults),
        "retry_after_honoured": sum(1 for w in waits if w == 3.0),
        "median_s": round(times[len(times) // 2], 3),
        "p95_s": round(times[int(len(times) * 0.95)], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout-s", type=float, default=0.3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = [run(kind, args.bookings, rng, args.timeout_s) for kind in ("nshift", "shipmondo")]
    for result in results:
        print(", ".join(f"{k}={v}" for k, v in result.items()))
    print(json.dumps({"carriers": results}))


if __name__ == "__main__":
    main()
