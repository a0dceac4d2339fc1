"""R16, issue 13 §2: an nShift account that prints PDF only. The PDF label nShift sends is
rasterised for the station's label printer — a real ZPL printer on a loopback socket, at the
12 dots/mm its config says — and reaches it through the durable queue as a ``^GFA`` graphic
field whose dots, read back, are black where the PDF's box is; a PDF that can't be read is a
sentence in the packer's language, and nothing is queued or booked twice."""

from __future__ import annotations

from pathlib import Path

import pytest
import zplkit
from carrier_servers import KEY, USER, NShiftServer
from kiosk.conftest import kiosk_client
from pdf_labels import PAGE_PT, box_dots, graphic_field, pdf_label
from sqlalchemy import select
from zpl_printer import ZplServer
from zplkit.rendering import Limits

from stationd.devices.rendering.zpl import DPMM_TO_DPI
from stationd.services.shipout import fetch_parcel_id
from stationd.store.deliveries import pending_parcel_ids
from stationd.store.tables import print_jobs

STATION = "bench-1"
DPMM = 12
#: 4×6" at 12 dots/mm is 1219 dots wide: shrunk to the 100 mm stock, 1200 × 1800 dots.
WIDTH, HEIGHT = 1200, 1800


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    server = NShiftServer()
    yield server
    server.close()


@pytest.fixture
def label_printer():  # type: ignore[no-untyped-def]
    printer = ZplServer()
    printer.start()
    yield printer
    printer.stop()


@pytest.fixture
def station(server, label_printer, tmp_path: Path, make_station, make_shop):  # type: ignore[no-untyped-def]
    station = make_station(
        name=STATION,
        state_dir=tmp_path / "state",
        shipping={
            "carrier": "nshift",
            "api_url": server.url,
            "api_user": USER,
            "api_key": KEY,
            "service": "P19",
            "timeout_s": 2.0,
        },
        printers=[
            {"name": "receipts", "kind": "simulated"},
            {
                "name": "labels",
                "kind": "zpl",
                "host": "127.0.0.1",
                "port": label_printer.port,
                "timeout_s": 2.0,
                "dpmm": DPMM,
            },
        ],
        print={"receipt": "receipts", "label": "labels"},
    )
    shop = make_shop(station.store)
    shop.product("A", name="Termos", number=1)
    shop.order([("A", 1)], status="packing", reserve=True, order_id=1042)
    yield station
    station.printing.stop()


def label_jobs(station) -> list[bytes]:  # type: ignore[no-untyped-def]
    with station.store.read() as conn:
        query = select(print_jobs.c.payload).where(print_jobs.c.document == "label")
        return list(conn.execute(query.order_by(print_jobs.c.id)).scalars())


def test_r16_an_nshift_pdf_label_reaches_the_label_printer_as_a_zpl_graphic_field(
    station, server, label_printer
):
    server.pdf_label = pdf_label()
    server.faults.append("pdf")
    parcel_id = fetch_parcel_id(
        station.store, station.carrier, 1042, station=STATION, printing=station.printing
    )
    assert [parcel_id] == [server.bookings[0]["parcels"][0]["parcelNo"]]
    station.printing.start()
    label_printer.wait_for(1)
    (printed,) = label_printer.jobs
    assert printed == label_jobs(station)[0]  # as queued, through the durable queue
    assert printed.startswith(f"^XA^PW{WIDTH}^LL{HEIGHT}".encode())
    total, row_bytes, dots = graphic_field(printed)
    assert (total, row_bytes, len(dots)) == (WIDTH // 8 * HEIGHT, WIDTH // 8, HEIGHT)
    box = box_dots(dots, WIDTH / PAGE_PT[0])
    assert sum(map(sum, box)) == len(box) * len(box[0])  # black where the PDF's box is
    assert not any(dots[60]) and not any(row[WIDTH - 100] for row in dots)  # white margins
    text_rows = range(round((PAGE_PT[1] - 262) * WIDTH / PAGE_PT[0]), HEIGHT * 7 // 10)
    assert any(any(dots[y][100 : WIDTH // 2]) for y in text_rows)  # the line of text printed

    # A ZPL renderer of its own reads the same field (its ASCII compression expanded).
    limits = Limits(graphic_bytes=1_000_000)
    options = zplkit.Options(profile="specification", dpi=DPMM_TO_DPI[DPMM])
    (drawn,) = zplkit.render(printed, options, limits=limits).labels
    raster = drawn.rasterize()
    x, y = round(108 * WIDTH / PAGE_PT[0]), round((PAGE_PT[1] - 336) * WIDTH / PAGE_PT[0])
    assert raster.pixels[y * raster.width + x] == 0  # the box's middle: black
    assert raster.pixels[60 * raster.width + x] == 255  # above it: white


def test_r16_an_unreadable_nshift_pdf_is_a_sentence_in_the_packers_language(station, server):
    server.faults.append("pdf")  # a PDF no reader opens
    client = kiosk_client(station)
    client.post("/language", data={"language": "sv", "next": "/shipout"})
    response = client.post("/shipout/1042/fetch", data={}, headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "skickade etiketten som en PDF som stationen inte kan läsa" in page
    assert label_jobs(station) == [] and len(server.bookings) == 1
    with station.store.read() as conn:
        assert pending_parcel_ids(conn, [1042])[1042] == []
