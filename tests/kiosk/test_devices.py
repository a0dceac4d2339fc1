"""The devices page (R19–R21) through Flask's test client: states and when last seen, test
prints and reprints as bytes at the simulated printers, held jobs released or dropped, the
scanner test that keeps scans from the bench, previews read back from a job's bytes — and a
4xx sentence for every bad id."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from bus_waits import next_event
from kiosk.conftest import kiosk_client
from PIL import Image, ImageDraw
from sqlalchemy import func, select, update
from sse_stream import next_message, open_stream

from stationd.clock import utcnow
from stationd.config import settings_from_dict
from stationd.core.text import sentence
from stationd.devices.printers.printer import PrinterState
from stationd.events import ScanOutcome
from stationd.services.printing import PrinterStateChanged, PrintJobChanged
from stationd.station import Station
from stationd.store import print_queue
from stationd.store.print_queue import JobState
from stationd.store.tables import events, print_jobs, scan_journal

HX = {"HX-Request": "true"}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def station(tmp_path: Path, make_shop) -> Iterator[Station]:
    settings = settings_from_dict(
        {
            "station": {"name": "bench-7", "state_dir": str(tmp_path), "language": "en"},
            "packscript": {"interval_min": 0},
            "kiosk": {"sse_heartbeat_s": 1},  # a live stream speaks every second
            "scanners": [{"name": "gun", "kind": "simulated"}],
            "printers": [
                {"name": "receipts", "kind": "simulated"},
                {"name": "labels", "kind": "simulated"},
            ],
            "print": {
                "picklist": "receipts",
                "receipt": "receipts",
                "picklist_receipt": "receipts",
                "invoice": "receipts",
                "label": "labels",
            },
            "scale": {"kind": "simulated"},
        }
    )
    station = Station(settings)
    station.store.upgrade()
    shop = make_shop(station.store)
    shop.product("A", on_hand=5, name="Termos blå", number=1)
    shop.order(
        [("A", 2)],
        status="packing",
        reserve=True,
        order_id=1042,
        customer="<script>alert('x')</script> Öberg",
    )
    station.printing.start()
    for scanner in station.scanners:
        scanner.start()
    station.scale.start()
    yield station
    station.scale.stop()
    for scanner in station.scanners:
        scanner.stop()
    station.printing.stop()
    station.bench_worker.stop()
    station.store.dispose()


@pytest.fixture
def client(station):
    return kiosk_client(station)


@contextmanager
def recorded(station: Station, count: int = 1) -> Iterator[None]:
    """Wait, after the block, until `count` jobs are recorded as printed."""
    with station.bus.queue(PrintJobChanged) as heard:
        yield
        for _ in range(count):
            next_event(heard, PrintJobChanged, lambda e: e.state is JobState.PRINTED)


def took(station: Station, printer: str, count: int) -> list[bytes]:
    sim = station.printers[printer]
    assert sim.wait_for(count, timeout=5), f"{printer}: {len(sim.printed)} of {count} printed"
    return sim.printed


def job(station: Station, job_id: int) -> print_queue.PrintJob:
    with station.store.read() as conn:
        found = print_queue.get_job(conn, job_id)
    assert found is not None
    return found


def last_job_id(station: Station) -> int:
    with station.store.read() as conn:
        return conn.execute(select(func.max(print_jobs.c.id))).scalar_one()


def queue_job(station: Station, printer: str, payload: bytes, document: str = "receipt") -> int:
    with station.store.write() as conn:
        job_id = print_queue.enqueue(conn, printer, document, payload)
    station.printing.notify(printer)
    return job_id


# --- states and when last seen -----------------------------------------------------------------


def test_r19_r20_every_scanner_printer_and_scale_shows_with_its_state_and_last_seen(client):
    page = client.get("/devices").get_data(as_text=True)
    for device_id in (
        "device-scanner-gun",
        "device-printer-receipts",
        "device-printer-labels",
        "device-scale-scale",
    ):
        assert f'id="{device_id}"' in page
    scanner = page[page.index('id="device-scanner-gun"') :].split("</tr>")[0]
    assert "Connected" in scanner and "sim:gun" in scanner
    assert "not since the start" not in scanner  # a connected scanner is there right now
    printer = page[page.index('id="device-printer-receipts"') :].split("</tr>")[0]
    assert "Not asked since the start: a test print asks it." in printer


def test_a_printer_that_printed_before_the_start_was_last_seen_then(client, station):
    with station.store.write() as conn:
        job_id = print_queue.enqueue(conn, "labels", "label", b"^XA^XZ")
        print_queue.mark_printed(conn, job_id, at=utcnow() - timedelta(days=1))
        print_queue.drop(conn, print_queue.enqueue(conn, "labels", "label", b"^XA^XZ"))
    page = client.get("/devices").get_data(as_text=True)
    row = page[page.index('id="device-printer-labels"') :].split("</tr>")[0]
    assert "not since the start" not in row
    other = page[page.index('id="device-printer-receipts"') :].split("</tr>")[0]
    assert "not since the start" in other


def test_r21_an_unplugged_scanner_shows_offline_with_its_reason_and_last_seen(client, station):
    station.scanners[0].unplug("cable <b>pulled</b>")
    row = client.get("/devices").get_data(as_text=True)
    row = row[row.index('id="device-scanner-gun"') :].split("</tr>")[0]
    assert 'class="trouble"' in row and "Offline" in row
    assert "cable &lt;b&gt;pulled&lt;/b&gt;" in row  # the reason, escaped
    assert "not since the start" not in row  # seen until it went
    station.scanners[0].plug_in()
    row = client.get("/devices").get_data(as_text=True)
    assert "Connected" in row[row.index('id="device-scanner-gun"') :].split("</tr>")[0]


def test_r20_a_printer_out_of_paper_shows_paper_out_with_the_reason(client, station):
    station.printers["receipts"].set_state(PrinterState.PAPER_OUT)
    with station.bus.queue(PrinterStateChanged) as heard:
        client.post("/devices/printers/receipts/test-print", headers=HX)
        next_event(heard, PrinterStateChanged, lambda e: e.state is PrinterState.PAPER_OUT)
    page = client.get("/devices").get_data(as_text=True)
    row = page[page.index('id="device-printer-receipts"') :].split("</tr>")[0]
    assert "Paper out" in row and "out of paper (simulated)" in row
    jobs = page[page.index('id="printer-receipts"') :].split("</article>")[0]
    assert "Failed, tries again" in jobs and "Drop" in jobs


def test_r20_why_a_job_waits_is_kept_and_shown_in_the_packers_language(client, station):
    # The reason a job failed is stored with the job: the page reads it from the database,
    # in the language of whoever looks, not in the English it was written in.
    why = sentence("the printer is out of labels")
    station.printers["receipts"].set_state(PrinterState.PAPER_OUT, why)
    with station.bus.queue(PrinterStateChanged) as heard:
        client.post("/devices/printers/receipts/test-print", headers=HX)
        next_event(heard, PrinterStateChanged, lambda e: e.state is PrinterState.PAPER_OUT)
    client.set_cookie("stationd_lang", "sv")
    page = client.get("/devices").get_data(as_text=True)
    jobs = page[page.index('id="printer-receipts"') :].split("</article>")[0]
    assert "skrivaren har slut på etiketter" in jobs and "the printer is out of labels" not in jobs
    client.set_cookie("stationd_lang", "nb")
    page = client.get("/devices").get_data(as_text=True)
    assert "skriveren er tom for etiketter" in page


# --- test print --------------------------------------------------------------------------------


def test_test_print_sends_a_real_escpos_page_through_the_receipt_printers_queue(client, station):
    response = client.post("/devices/printers/receipts/test-print", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    job_id = last_job_id(station)
    assert f"Test page sent to printer “receipts” (job {job_id})." in html
    (page,) = took(station, "receipts", 1)
    assert page.startswith(b"\x1b@")  # ESC/POS, the renderer of every receipt
    assert b"bench-7" in page and b"receipts" in page
    assert "å ä ö æ ø  Å Ä Ö Æ Ø".encode("cp865") in page  # the code page a person checks
    assert b"\x1bt\x05" in page  # CP865 selected
    assert b"\x1dkI" in page and b"{BTEST-" in page  # a CODE128 to try a scanner on
    assert page.endswith(b"\x1dV\x00")  # cut
    with station.store.read() as conn:
        audit = conn.execute(select(events.c.payload).where(events.c.kind == "print.test_page"))
        assert f'"job_id": {job_id}' in audit.scalar_one()


def test_test_print_on_the_label_printer_is_zpl_with_the_letters_as_utf8(client, station):
    client.post("/devices/printers/labels/test-print", headers=HX)
    (label,) = took(station, "labels", 1)
    assert label.startswith(b"^XA^CI28") and label.endswith(b"^XZ")
    assert b"_C3_A5 _C3_A4 _C3_B6 _C3_A6 _C3_B8" in label  # å ä ö æ ø, ^FH escaped
    assert b"bench-7" in label and b"^BC" in label


def test_test_print_on_an_unknown_printer_is_a_404_with_a_sentence(client, station):
    response = client.post("/devices/printers/nowhere/test-print", headers=HX)
    assert response.status_code == 404
    assert "There is no printer “nowhere” at this station." in response.get_data(as_text=True)
    with station.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(print_jobs)).scalar_one() == 0


def test_test_print_without_the_security_token_is_refused(station):
    response = station.app.test_client().post("/devices/printers/receipts/test-print")
    assert response.status_code == 403


# --- the queue: held, dropped, reprinted -------------------------------------------------------


def test_r20_a_held_job_shows_with_its_reason_and_prints_once_released(client, station):
    station.printers["receipts"].go_offline()
    job_id = queue_job(station, "receipts", b"\x1b@held job\n")
    station.printing.hold(job_id, "Waits for a person: <old>")
    page = client.get("/devices").get_data(as_text=True)
    row = page[page.index(f'id="job-{job_id}"') :].split("</tr>")[0]
    assert "Held" in row and "Waits for a person: &lt;old&gt;" in row
    assert "Release" in row and "Drop" in row and "Reprint" not in row
    station.printers["receipts"].come_back()
    response = client.post(f"/devices/jobs/{job_id}/release", headers=HX)
    assert f"Job {job_id} released" in response.get_data(as_text=True)
    assert took(station, "receipts", 1) == [b"\x1b@held job\n"]


def test_r20_a_dropped_job_never_prints(client, station):
    station.printers["receipts"].go_offline()
    job_id = queue_job(station, "receipts", b"\x1b@never\n")
    response = client.post(f"/devices/jobs/{job_id}/drop", headers=HX)
    assert f"Job {job_id} dropped: it will not print." in response.get_data(as_text=True)
    assert job(station, job_id).state is JobState.DROPPED
    with recorded(station):
        station.printers["receipts"].come_back()
        queue_job(station, "receipts", b"\x1b@after\n")  # prints: the dropped one never does
    assert station.printers["receipts"].printed == [b"\x1b@after\n"]


def test_reprint_asks_first_then_sends_the_same_bytes_again(client, station):
    with recorded(station):
        client.post("/devices/printers/receipts/test-print", headers=HX)
    job_id = last_job_id(station)
    asked = client.post(f"/devices/jobs/{job_id}/reprint", headers=HX).get_data(as_text=True)
    assert f"Job {job_id} on printer “receipts” has printed already. Print it again?" in asked
    assert "<strong>Test page</strong>" in asked
    assert '"confirm": "1"' in asked
    assert last_job_id(station) == job_id  # the first touch queued nothing
    done = client.post(f"/devices/jobs/{job_id}/reprint", data={"confirm": "1"}, headers=HX)
    assert f"Job {job_id} sent to printer “receipts” again (job {job_id + 1})." in done.get_data(
        as_text=True
    )
    first, second = took(station, "receipts", 2)
    assert first == second
    with station.store.read() as conn:
        kinds = conn.execute(select(events.c.kind).where(events.c.kind == "print.reprinted"))
        assert len(kinds.all()) == 1


def test_a_job_not_printed_yet_is_not_reprinted_but_released(client, station):
    station.printers["receipts"].go_offline()
    job_id = queue_job(station, "receipts", b"\x1b@x\n")
    for data in ({}, {"confirm": "1"}):
        response = client.post(f"/devices/jobs/{job_id}/reprint", data=data, headers=HX)
        assert response.status_code == 409
        assert "has not printed yet: release it instead" in response.get_data(as_text=True)
    with station.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(print_jobs)).scalar_one() == 1


def test_releasing_a_printed_job_is_a_409_with_a_sentence(client, station):
    with recorded(station):
        job_id = queue_job(station, "receipts", b"\x1b@x\n")
    response = client.post(f"/devices/jobs/{job_id}/release", headers=HX)
    assert response.status_code == 409
    assert f"Print job {job_id} is printed" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/devices/jobs/abc/release", 400, "“abc” is not a print job number."),
        ("/devices/jobs/-1/drop", 400, "“-1” is not a print job number."),
        ("/devices/jobs/1e3/reprint", 400, "“1e3” is not a print job number."),
        ("/devices/jobs/" + "9" * 30 + "/drop", 400, "is not a print job number."),
        ("/devices/jobs/4242/release", 404, "There is no print job 4242."),
        ("/devices/jobs/4242/drop", 404, "There is no print job 4242."),
        ("/devices/jobs/4242/reprint", 404, "There is no print job 4242."),
    ],
)
def test_bad_job_ids_are_4xx_sentences(client, path, status, says):
    response = client.post(path, headers=HX)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert says in html and "Traceback" not in html


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/devices/jobs/x1/preview", 400, "“x1” is not a print job number."),
        ("/devices/jobs/4242/preview", 404, "There is no print job 4242."),
        ("/devices/jobs/4242/preview.svg", 404, "There is no print job 4242."),
        ("/devices/jobs/%3Cb%3E/preview.svg", 400, "“&lt;b&gt;” is not a print job number."),
    ],
)
def test_bad_preview_ids_are_4xx_sentences(client, path, status, says):
    response = client.get(path, headers=HX)
    assert response.status_code == status
    assert says in response.get_data(as_text=True)


# --- previews ----------------------------------------------------------------------------------


def svg_texts(svg: str) -> list[str]:
    return [el.text or "" for el in ET.fromstring(svg).iter(f"{SVG}text")]


def read_barcode(svg: str) -> list[str]:
    """Draw the SVG's barcode bars into a bitmap and read them with zxing-cpp."""
    root = ET.fromstring(svg)
    (group,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "barcode"]
    rects = [
        (float(r.get("x")), float(r.get("width")), float(r.get("y")), float(r.get("height")))
        for r in group.iter(f"{SVG}rect")
    ]
    scale = 4 if rects[-1][0] < 600 else 1
    image = Image.new("L", (int((rects[-1][0] + 200) * scale), 200), 255)
    draw = ImageDraw.Draw(image)
    for x, w, _y, _h in rects:
        draw.rectangle([round((x + 50) * scale), 20, round((x + 50 + w) * scale) - 1, 180], fill=0)
    return [result.text for result in zxingcpp.read_barcodes(image)]


def test_preview_of_a_pick_list_shows_what_was_printed_with_customer_text_escaped(client, station):
    with recorded(station):
        client.post("/queue/print", data={"document": "picklist", "order": ["1042"]}, headers=HX)
    job_id = last_job_id(station)
    panel = client.get(f"/devices/jobs/{job_id}/preview", headers=HX).get_data(as_text=True)
    assert f"/devices/jobs/{job_id}/preview.svg" in panel and "Pick list" in panel
    response = client.get(f"/devices/jobs/{job_id}/preview.svg")
    assert response.mimetype == "image/svg+xml"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    svg = response.get_data(as_text=True)
    assert "<script>" not in svg  # the customer's name is text in the picture
    texts = svg_texts(svg)
    assert "Customer: <script>alert('x')</script>" in texts  # wrapped as on paper
    assert texts[texts.index("Customer: <script>alert('x')</script>") + 1].strip() == "Öberg"
    assert read_barcode(svg) == ["ORD-1042"]  # the order barcode as it was printed


def test_preview_of_a_label_printers_test_page_reads_its_zpl(client, station):
    with recorded(station):
        client.post("/devices/printers/labels/test-print", headers=HX)
    svg = client.get(f"/devices/jobs/{last_job_id(station)}/preview.svg").get_data(as_text=True)
    texts = svg_texts(svg)
    assert "Test print" in texts and "Printer: labels" in texts
    assert "Letters: å ä ö æ ø  Å Ä Ö Æ Ø" in texts  # ^FH and UTF-8 read back
    (barcode,) = [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "barcode"]
    assert barcode.get("data-code").startswith("TEST-")


# --- the scanner test --------------------------------------------------------------------------


def test_r19_a_typed_test_code_is_classified_and_never_reaches_the_bench(client, station):
    response = client.post("/devices/test-scan", data={"code": " ORD-1042 "}, headers=HX)
    html = response.get_data(as_text=True)
    row = html[html.index("<tbody>") :].split("</tr>")[0]
    assert "ORD-1042" in row and "Order 1042" in row and "not used" in row and "kiosk" in row
    bad = client.post("/devices/test-scan", data={"code": "7300000000012"}, headers=HX)
    assert "has a wrong check digit" in bad.get_data(as_text=True)
    assert station.bench.current_order() is None
    with station.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(scan_journal)).scalar_one() == 0


def test_r19_scans_from_a_scanner_show_with_symbology_and_source(client, station):
    station.scanners[0].scan("07300000000011", "]E0")
    html = client.get("/devices").get_data(as_text=True)
    row = html[html.index('class="scans"') :].split("</tr>")[1]
    assert "07300000000011" in row and "]E0" in row and "sim:gun" in row
    assert "Product, GTIN 07300000000011" in row and ">used<" in row


def test_r19_during_the_scanner_test_the_bench_ignores_scans_and_after_it_does_not(client, station):
    station.bench_worker.start()
    html = client.post("/devices/scanner-test", data={"seconds": "60"}, headers=HX)
    assert "the bench ignores them" in html.get_data(as_text=True)
    with station.bus.queue(ScanOutcome) as outcomes:
        station.scanners[0].scan("ORD-1042")  # read during the test
        client.post("/devices/scanner-test", data={"stop": "1"}, headers=HX)
        station.scanners[0].scan("ORD-99")  # read after it: the bench answers this one
        outcome, before = next_event(outcomes, ScanOutcome)
    assert outcome.code == "ORD-99" and before == []  # the first scan was never the bench's
    assert station.bench.current_order() is None
    scans = client.get("/devices").get_data(as_text=True)
    rows = scans[scans.index('class="scans"') :].split("</tr>")
    assert "ORD-99" in rows[1] and ">used<" in rows[1]
    assert "ORD-1042" in rows[2] and "not used" in rows[2]


def test_r19_a_scanner_test_ends_by_itself(client, station):
    station.device_watch.divert(30)
    assert station.device_watch.diverted(utcnow())
    assert not station.device_watch.diverted(utcnow() + timedelta(seconds=31))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"seconds": "0"}, "A scanner test lasts 1 to 600 seconds."),
        ({"seconds": "601"}, "A scanner test lasts 1 to 600 seconds."),
        ({"seconds": "soon"}, "A scanner test lasts 1 to 600 seconds."),
    ],
)
def test_bad_scanner_test_lengths_are_400_sentences(client, station, data, says):
    response = client.post("/devices/scanner-test", data=data, headers=HX)
    assert response.status_code == 400 and says in response.get_data(as_text=True)
    assert station.device_watch.diverting_until is None


@pytest.mark.parametrize(
    ("data", "says"),
    [({}, "The form has no “code” field"), ({"code": "9" * 300}, "at most 256 characters")],
)
def test_bad_test_codes_are_400_sentences(client, data, says):
    response = client.post("/devices/test-scan", data=data, headers=HX)
    assert response.status_code == 400 and says in response.get_data(as_text=True)


# --- live ----------------------------------------------------------------------------------------


def test_r21_a_scanner_going_away_shows_live(client, station):
    response, stream = open_stream(client, "/devices/events")
    station.scanners[0].unplug()
    html = next_message(stream, "devices")
    assert "Offline" in html and "unplugged" in html
    response.close()


def test_a_scan_arrives_live_in_the_test_list(client, station):
    response, stream = open_stream(client, "/devices/events")
    station.scanners[0].scan("CMD-DONE")
    html = next_message(stream, "scans")
    assert "CMD-DONE" in html and "Command DONE" in html
    response.close()


def test_r20_a_job_queued_elsewhere_shows_live_in_its_printers_queue(client, station):
    station.printers["labels"].go_offline()
    response, stream = open_stream(client, "/devices/events")
    job_id = queue_job(station, "labels", b"^XA^FDx^FS^XZ", document="label")  # no event
    html = next_message(stream, "printers")
    while f'id="job-{job_id}"' not in html:
        html = next_message(stream, "printers")
    assert "Shipping label" in html
    response.close()


def test_r20_a_job_too_old_to_print_is_held_and_shows_why(client, station):
    station.printers["receipts"].go_offline()
    job_id = queue_job(station, "receipts", b"\x1b@x\n")
    with station.bus.queue(PrintJobChanged) as heard:
        with station.store.write() as conn:  # asked for an hour ago: the worker holds it
            conn.execute(
                update(print_jobs)
                .where(print_jobs.c.id == job_id)
                .values(created_at=utcnow() - timedelta(hours=1))
            )
        station.printing.notify("receipts")
        next_event(heard, PrintJobChanged, lambda e: e.state is JobState.HELD)
    page = client.get("/devices").get_data(as_text=True)
    row = page[page.index(f'id="job-{job_id}"') :].split("</tr>")[0]
    assert "Held" in row and "Waits for a person" in row and "Release" in row


def test_a_test_code_from_a_plain_form_goes_back_to_the_page_where_it_shows(client):
    response = client.post("/devices/test-scan", data={"code": "ORD-1042"})
    assert response.status_code == 303
    assert response.location.endswith("/devices#scanner-test")
    assert "Order 1042" in client.get("/devices").get_data(as_text=True)


def test_the_devices_page_says_the_station_runs_on_the_built_in_defaults(tmp_path):
    """Issue 12, item 10: with no config file the station ran on defaults without a word; the
    log and the Devices page say so now, and where its database is."""
    from stationd.config import load_settings

    settings = load_settings(
        None,
        overrides={"station.state_dir": str(tmp_path), "station.language": "en"},
    )
    station = Station(settings)
    station.store.upgrade()
    try:
        page = station.app.test_client().get("/devices").get_data(as_text=True)
    finally:
        station.store.dispose()
    notice = (
        "No config file was found (none named by --config or STATIOND_CONFIG, and "
        "/etc/stationd/stationd.toml does not exist): the built-in defaults apply, with the "
        f"database sqlite:///{tmp_path}/stationd.sqlite."
    )
    assert settings.config_notice() == notice
    assert html.unescape(page).count(notice) == 1
