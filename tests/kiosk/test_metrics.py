"""/metrics and /healthz (issue 14) on a running station — waitress on a loopback port, a serial
scanner on a kernel pty, a simulated receipt printer and a label printer whose port is dead —
/metrics read back with prometheus_client's own text parser."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from bus_waits import next_event
from prometheus_client.parser import text_string_to_metric_families

from stationd.events import DeviceStateChanged, ScanOutcome, ScanRejected
from stationd.services.printing import PrinterStateChanged
from stationd.station import Station

METRICS_TOKEN = "metrics-token-0123456789"
KIOSK_TOKEN = "kiosk-token-0123456789ab"
EAN_A = b"7300000000011"


@pytest.fixture
def running_station(make_station, ptys, make_shop) -> Iterator[tuple[Station, int]]:
    scanner = ptys()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    station = make_station(
        name="metrics",
        served=True,
        kiosk={"token": KIOSK_TOKEN, "metrics_token": METRICS_TOKEN},
        scanners=[{"name": "gun", "kind": "serial", "port": scanner.path}],
        printers=[
            {"name": "receipts", "kind": "simulated"},
            {
                "name": "labels",
                "kind": "zpl",
                "host": "127.0.0.1",
                "port": dead_port,
                "timeout_s": 0.5,
            },
        ],
        print={"receipt": "receipts", "label": "labels"},
    )
    shop = make_shop(station.store)
    shop.product("A", on_hand=5, name="Termos blå", number=1)
    shop.order([("A", 2)], status="packing", reserve=True, order_id=1042)
    states = station.bus.queue(DeviceStateChanged)
    station.start()
    try:
        next_event(states, DeviceStateChanged, lambda e: e.state == "connected", within_s=5)
        yield station, scanner.master
    finally:
        station.stop()


def get(station: Station, path: str, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(f"{station.url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    parsed = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            parsed[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return parsed


def test_metrics_parse_back_with_every_family_the_issue_names(running_station):
    station, scanner = running_station
    outcomes = station.bus.queue(ScanOutcome, ScanRejected)
    printers = station.bus.queue(PrinterStateChanged)
    for frame in (b"ORD-1042\r", EAN_A + b"\r", b"4006381333931\r", b"\x00\x01\x02\r"):
        os.write(scanner, frame)
    seen = [outcomes.get(timeout=5) for _ in range(4)]
    assert all(event is not None for event in seen)
    with station.store.write() as conn:
        station.printing.submit(conn, "receipt", b"receipt bytes")
        station.printing.submit(conn, "label", b"^XA^XZ")
    while (event := printers.get(timeout=10)) is not None and not (
        event.printer == "labels" and event.state.value == "offline"
    ):
        pass
    assert event is not None, "the label printer on a dead port never went offline"
    station.packscript.run("manual")

    status, text = get(station, "/metrics")
    assert status == 200
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert {
        "stationd_scans",
        "stationd_scan_to_screen_seconds",
        "stationd_print_jobs",
        "stationd_print_queue_depth",
        "stationd_print_queue_oldest_job_age_seconds",
        "stationd_packscript_runs",
        "stationd_packscript_run_seconds",
        "stationd_device_up",
    } <= set(families)
    assert families["stationd_scan_to_screen_seconds"].type == "histogram"
    got = samples(text)
    source = seen[0].source
    assert got[("stationd_scans_total", (("outcome", "ok"), ("source", source)))] == 2
    assert got[("stationd_scans_total", (("outcome", "error"), ("source", source)))] == 1
    assert got[("stationd_scans_total", (("outcome", "rejected"), ("source", source)))] == 1
    # The three scans the bench answered were each timed, well inside a second.
    assert got[("stationd_scan_to_screen_seconds_count", ())] == 3
    assert got[("stationd_scan_to_screen_seconds_bucket", (("le", "1.0"),))] == 3
    assert got[("stationd_print_jobs", (("printer", "receipts"), ("state", "printed")))] == 1
    assert got[("stationd_print_jobs", (("printer", "labels"), ("state", "queued")))] == 1
    assert got[("stationd_print_queue_depth", (("printer", "labels"),))] == 1
    assert got[("stationd_print_queue_depth", (("printer", "receipts"),))] == 0
    assert got[("stationd_print_queue_oldest_job_age_seconds", (("printer", "labels"),))] > 0
    assert got[("stationd_packscript_runs_total", (("status", "ok"),))] == 1
    assert got[("stationd_packscript_run_seconds_count", ())] == 1
    assert got[("stationd_device_up", (("kind", "scanner"), ("name", "gun")))] == 1
    assert got[("stationd_device_up", (("kind", "printer"), ("name", "labels")))] == 0

    # /healthz tells the truth: the label printer the config names is down.
    status, body = get(station, "/healthz")
    assert status == 503
    health = json.loads(body)
    assert health["ok"] is False and health["not_ready"] == {"printer labels": "offline"}


def test_healthz_is_ready_when_database_and_devices_answer(running_station):
    station, _ = running_station
    status, body = get(station, "/healthz")
    # The label printer has not been tried yet: no trouble known, so ready.
    assert (status, json.loads(body)["ok"]) == (200, True)


def test_metrics_from_the_network_need_a_token_and_the_metrics_token_opens_nothing_else(
    running_station,
):
    station, _ = running_station
    client = station.app.test_client()
    lan = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/metrics", environ_base=lan).status_code == 403
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    opened = client.get("/metrics", environ_base=lan, headers=bearer)
    assert opened.status_code == 200 and b"stationd_scans" in opened.data
    assert client.get("/queue", environ_base=lan, headers=bearer).status_code == 403
    wrong = {"Authorization": "Bearer not-the-metrics-token-at-all"}
    assert client.get("/metrics", environ_base=lan, headers=wrong).status_code == 403
    assert client.get(f"/metrics?token={KIOSK_TOKEN}", environ_base=lan).status_code == 200
    # Loopback needs none.
    assert client.get("/metrics").status_code == 200
