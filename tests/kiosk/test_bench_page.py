"""The bench page through Flask's test client (R12–R14, R19): what the packer sees, the + / −
of a line and the command buttons as the same use case as a scan, the command sheet's
barcodes — and a 4xx with a sentence for every kind of bad input."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from kiosk.conftest import kiosk_client
from PIL import Image, ImageDraw
from sqlalchemy import select

from stationd.config import settings_from_dict
from stationd.events import ScanRead
from stationd.station import Station
from stationd.store.deliveries import pending_parcel_ids
from stationd.store.tables import order_lines, print_jobs, scan_journal

HX = {"HX-Request": "true"}
SVG = "{http://www.w3.org/2000/svg}"


def packed_counts(station) -> list[int]:
    with station.store.read() as conn:
        return conn.execute(select(order_lines.c.packed).order_by(order_lines.c.id)).scalars().all()


def line_id(station) -> int:
    with station.store.read() as conn:
        return conn.execute(
            select(order_lines.c.id).where(order_lines.c.order_id == 1042)
        ).scalar_one()


def open_1042(client) -> None:
    assert client.post("/bench/scan", data={"code": "ORD-1042"}, headers=HX).status_code == 200


def test_r12_the_bench_shows_the_order_its_counts_comment_and_parcel(client, station):
    open_1042(client)
    page = client.get("/bench").get_data(as_text=True)
    assert "Order 1042" in page and "Parcel 1" in page
    assert "0 / 2" in page and "2 left" in page
    assert "Ring &amp; fråga" in page  # the order's comment, escaped
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Öberg" in page
    assert "<script>alert" not in page
    for command in ("DONE", "UNDO", "NEXT-PARCEL", "PARTIAL", "CANCEL"):
        assert f'name="command" value="{command}"' in page


def test_with_no_order_open_the_bench_asks_for_a_pick_list_and_offers_the_sheet(client):
    page = client.get("/bench").get_data(as_text=True)
    assert "No order open" in page and "Scan the order barcode on a pick list" in page
    assert 'href="/bench/commands"' in page


def test_r12_plus_and_minus_count_like_scans(client, station):
    open_1042(client)
    line = line_id(station)
    plus = client.post("/bench/count", data={"line": line, "delta": "1"}, headers=HX)
    html = plus.get_data(as_text=True)
    assert plus.status_code == 200 and "1 / 2" in html and "Packed Termos" in html
    assert 'class="outcome ok"' in html and 'data-sound="ok"' in html
    assert packed_counts(station) == [1, 0, 0]
    minus = client.post("/bench/count", data={"line": line, "delta": "-1"}, headers=HX)
    assert minus.status_code == 200 and "0 / 2" in minus.get_data(as_text=True)
    assert packed_counts(station) == [0, 0, 0]
    with station.store.read() as conn:
        kinds = conn.execute(select(scan_journal.c.kind)).scalars().all()
    assert kinds == ["order", "touch", "touch"]


def test_r12_plus_beyond_what_is_left_is_red_with_the_error_sound(client, station):
    open_1042(client)
    line = line_id(station)
    for _ in range(2):
        client.post("/bench/count", data={"line": line, "delta": "1"}, headers=HX)
    refused = client.post("/bench/count", data={"line": line, "delta": "1"}, headers=HX)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert 'class="outcome error"' in html and 'data-sound="error"' in html
    assert "One too many" in html and "2 / 2" in html
    assert packed_counts(station) == [2, 0, 0]


def test_r12_minus_below_zero_is_refused(client, station):
    open_1042(client)
    refused = client.post("/bench/count", data={"line": line_id(station), "delta": "-1"})
    assert refused.status_code == 409
    assert "nothing to take back" in refused.get_data(as_text=True)
    assert packed_counts(station) == [0, 0, 0]


@pytest.mark.parametrize(
    "line", ["", "abc", "-1", "1.5", "1e3", "9" * 30, " ", "١٢", "1; DROP TABLE orders"]
)
def test_garbage_line_ids_are_a_400_with_a_sentence(client, station, line):
    open_1042(client)
    response = client.post("/bench/count", data={"line": line, "delta": "1"}, headers=HX)
    assert response.status_code == 400
    assert "named no line of the order" in response.get_data(as_text=True)
    assert packed_counts(station) == [0, 0, 0]


@pytest.mark.parametrize("delta", ["", "2", "-2", "x", "+", "0"])
def test_garbage_deltas_are_a_400_with_a_sentence(client, station, delta):
    open_1042(client)
    response = client.post("/bench/count", data={"line": line_id(station), "delta": delta})
    assert response.status_code == 400
    assert "add one item (+1) or take one back (-1)" in response.get_data(as_text=True)
    assert packed_counts(station) == [0, 0, 0]


def test_a_line_of_another_order_or_none_is_refused_and_changes_nothing(client, station):
    open_1042(client)
    with station.store.read() as conn:
        other = conn.execute(
            select(order_lines.c.id).where(order_lines.c.order_id == 1043)
        ).scalar_one()
    for line in (other, 999_999):
        response = client.post("/bench/count", data={"line": line, "delta": "1"}, headers=HX)
        assert response.status_code == 409
        assert f"Order 1042 has no line {line}" in response.get_data(as_text=True)
    assert packed_counts(station) == [0, 0, 0]


def test_touch_with_no_order_open_says_to_scan_a_pick_list(client, station):
    response = client.post("/bench/count", data={"line": line_id(station), "delta": "1"})
    assert response.status_code == 409
    assert "scan the pick list" in response.get_data(as_text=True)


def test_plain_form_touch_goes_back_to_the_bench(client, station):
    open_1042(client)
    response = client.post("/bench/count", data={"line": line_id(station), "delta": "+1"})
    assert response.status_code == 303 and response.location.endswith("/bench")
    assert packed_counts(station) == [1, 0, 0]


def test_r12_undo_button_takes_back_scan_after_scan(client, station):
    open_1042(client)
    for _ in range(2):
        client.post("/bench/scan", data={"code": "7300000000011"}, headers=HX)
    for left in (1, 0):
        response = client.post("/bench/command", data={"command": "UNDO"}, headers=HX)
        assert response.status_code == 200 and f"{left} / 2" in response.get_data(as_text=True)
    nothing = client.post("/bench/command", data={"command": "undo"}, headers=HX)
    assert nothing.status_code == 409 and "Nothing to undo" in nothing.get_data(as_text=True)
    with station.store.read() as conn:
        codes = conn.execute(select(scan_journal.c.code)).scalars().all()
    assert codes.count("CMD-UNDO") == 3  # journaled like the scanned command


@pytest.mark.parametrize("command", ["FLY", "", "CMD-DONE", "DONE!", "x" * 500])
def test_unknown_command_is_a_400_with_a_sentence(client, station, command):
    open_1042(client)
    response = client.post("/bench/command", data={"command": command}, headers=HX)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "There is no command" in text and "DONE, NEXT-PARCEL, PARTIAL, UNDO, CANCEL" in text
    assert station.bench.current_order().id == 1042


def test_r14_partial_button_closes_and_points_to_ship_out(client, station):
    open_1042(client)
    client.post("/bench/count", data={"line": line_id(station), "delta": "1"}, headers=HX)
    response = client.post("/bench/command", data={"command": "PARTIAL"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "partial delivery" in html
    assert "No order open" in html
    assert "data-goto" in html and "/shipout?order=1042" in html


def test_r12_done_button_closes_the_order(client, station):
    open_1042(client)
    response = client.post("/bench/command", data={"command": "DONE"})
    assert response.status_code == 303
    assert station.bench.current_order() is None
    assert "2 item(s) still to pack" in client.get("/bench").get_data(as_text=True)


def test_the_bench_fragment_is_the_same_for_htmx_and_the_fragment_route(client):
    open_1042(client)
    fragment = client.get("/bench/fragment").get_data(as_text=True)
    assert "<html" not in fragment and "Order 1042" in fragment


# --- parcel ids at the bench -----------------------------------------------------------------


def kept_parcel_ids(station) -> list[str]:
    with station.store.read() as conn:
        return pending_parcel_ids(conn, [1042])[1042]


def test_r13_a_parcel_id_typed_at_the_bench_goes_on_the_open_orders_delivery(client, station):
    open_1042(client)
    client.post("/bench/count", data={"line": line_id(station), "delta": "1"}, headers=HX)
    response = client.post("/bench/scan", data={"code": "rr473124829se"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Parcel id RR473124829SE added to order 1042 (1 of 4)." in html
    assert 'class="outcome ok"' in html and 'data-sound="ok"' in html
    assert 'Parcel id: <span class="mono">RR473124829SE</span>' in html
    assert kept_parcel_ids(station) == ["RR473124829SE"]
    again = client.post("/bench/scan", data={"code": "RR473124829SE"}, headers=HX)
    assert "Parcel id RR473124829SE is already on this delivery." in again.get_data(as_text=True)
    assert kept_parcel_ids(station) == ["RR473124829SE"]
    # A station scanner's scan is the same path (R19).
    scanner = station.bench.handle_scan(ScanRead("CC000000028SE", None, "serial:gun"))
    assert scanner.ok
    assert scanner.message == "Parcel id CC000000028SE added to order 1042 (2 of 4)."
    assert kept_parcel_ids(station) == ["RR473124829SE", "CC000000028SE"]


def test_r13_a_parcel_id_with_no_order_open_or_nothing_packed_is_an_error(client, station):
    none = client.post("/bench/scan", data={"code": "RR473124829SE"}, headers=HX)
    html = none.get_data(as_text=True)
    assert 'class="outcome error"' in html and 'data-sound="error"' in html
    assert "No order is open for parcel id RR473124829SE" in html
    assert "or enter the parcel id on the ship-out page" in html
    open_1042(client)
    empty = client.post("/bench/scan", data={"code": "RR473124829SE"}, headers=HX)
    assert "Nothing of order 1042 is packed yet" in empty.get_data(as_text=True)
    assert kept_parcel_ids(station) == []


# --- the command sheet ------------------------------------------------------------------------


def read_barcodes(svg: str, scale: int = 3) -> list[str]:
    """Draw one SVG barcode's bars into a bitmap and read it with zxing-cpp."""
    root = ET.fromstring(svg)
    width = float(root.get("viewBox").split()[2])
    image = Image.new("L", (int(width * scale) + 40, 120), 255)
    draw = ImageDraw.Draw(image)
    for rect in root.find(f"{SVG}g").iter(f"{SVG}rect"):
        x, w = float(rect.get("x")) * scale + 20, float(rect.get("width")) * scale
        draw.rectangle([round(x), 10, round(x + w) - 1, 110], fill=0)
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)]


def test_command_sheet_shows_five_barcodes_a_reader_reads(client):
    page = client.get("/bench/commands").get_data(as_text=True)
    for word in ("Done", "Next parcel", "Partial delivery", "Undo", "Cancel"):
        assert word in page
    svgs = re.findall(r'<svg [^>]*class="code128".*?</svg>', page, flags=re.S)
    assert len(svgs) == 5
    read = [read_barcodes(svg) for svg in svgs]
    assert read == [
        ["CMD-DONE"],
        ["CMD-NEXT-PARCEL"],
        ["CMD-PARTIAL"],
        ["CMD-UNDO"],
        ["CMD-CANCEL"],
    ]


def test_command_sheet_without_a_receipt_printer_says_so(client):
    page = client.get("/bench/commands").get_data(as_text=True)
    assert "No receipt printer is configured." in page
    response = client.post("/bench/commands/print", headers=HX)
    assert response.status_code == 409
    assert "The command sheet can&#39;t be printed" in response.get_data(as_text=True)


@pytest.fixture
def printing_station(tmp_path, make_shop):
    settings = settings_from_dict(
        {
            "station": {"name": "kiosk-test", "state_dir": str(tmp_path), "language": "sv"},
            "packscript": {"interval_min": 0},
            "printers": [{"name": "kvitto", "kind": "simulated"}],
            "print": {"receipt": "kvitto"},
        }
    )
    station = Station(settings)
    station.store.upgrade()
    yield station
    station.store.dispose()


def test_print_command_sheet_queues_code128_for_the_receipt_printer(printing_station):
    client = kiosk_client(printing_station)
    response = client.post("/bench/commands/print")
    assert response.status_code == 303 and "printed=" in response.location
    page = client.get(response.location).get_data(as_text=True)
    assert "Kommandobladet är skickat till kvittoskrivaren" in page  # a Swedish station
    with printing_station.store.read() as conn:
        printer, payload = conn.execute(select(print_jobs.c.printer, print_jobs.c.payload)).one()
    assert printer == "kvitto"
    for command in ("DONE", "NEXT-PARCEL", "PARTIAL", "UNDO", "CANCEL"):
        assert b"{BCMD-" + command.encode() in payload
    fragment = client.post("/bench/commands/print", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)


def test_command_sheet_page_ignores_a_garbage_printed_number(client):
    response = client.get("/bench/commands?printed=abc")
    assert response.status_code == 200 and "sent to the receipt printer" not in response.text


def test_r12_a_scan_before_the_live_stream_opens_still_reaches_the_screen(client, station):
    page = client.get("/bench").get_data(as_text=True)
    seq = station.app.config["BENCH_SCREENS"].seq
    assert f"seen={seq}" in page
    # The packer scans while the browser is still connecting its live stream.
    station.bench.handle_scan(ScanRead("ORD-1042", None, "serial"))
    response = client.get(f"/events/bench?seen={seq}", buffered=False)
    chunks = iter(response.response)
    assert next(chunks).startswith(b": connected")
    assert b"1042" in next(chunks)
    station.stopping.set()
    response.close()
