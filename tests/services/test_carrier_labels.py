"""R13 and R16 with a real carrier adapter in a whole Station (built from `[shipping]` like a
real one, pointed at a local server that answers as nShift's or Shipmondo's documentation
says): the carrier's parcel ids land on the delivery (four at most), and the carrier's own ZPL
goes through the label printer's durable queue — once, with no station label beside it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import pytest
from carrier_servers import KEY, USER, ZPL, NShiftServer, ShipmondoServer, shipping_settings
from kiosk.conftest import kiosk_client
from sqlalchemy import func, select, update

from stationd.core.orders import OrderRuleError
from stationd.events import ScanRead
from stationd.services.parcel_ids import drop_parcel_id
from stationd.services.shipout import fetch_parcel_id, keep_typed_parcel_id
from stationd.station import Station
from stationd.store.deliveries import pending_parcel_ids
from stationd.store.tables import deliveries, orders, print_jobs

STATION = "bench-1"


@pytest.fixture(params=["nshift", "shipmondo"])
def server(request):  # type: ignore[no-untyped-def]
    server = NShiftServer() if request.param == "nshift" else ShipmondoServer()
    server.kind = request.param
    yield server
    server.close()


@pytest.fixture
def station(server, tmp_path: Path, make_station, make_shop):  # type: ignore[no-untyped-def]
    station = make_station(
        name=STATION,
        state_dir=tmp_path / "state",
        bench={"label_when_packed": True},
        shipping=shipping_settings(server),
        printers=[
            {"name": "receipts", "kind": "simulated"},
            {"name": "labels", "kind": "simulated"},
        ],
        print={"receipt": "receipts", "label": "labels"},
    )
    shop = make_shop(station.store)
    station.eans = [shop.product("A", name="Termos", number=1), shop.product("B", number=2)]
    shop.order([("A", 2), ("B", 1)], status="packing", reserve=True, order_id=1042)
    with station.store.write() as conn:
        conn.execute(update(orders).values(customer_name="Anna Berg", city="Goteborg"))
    yield station
    station.printing.stop()


def scan(station: Station, code: str):  # type: ignore[no-untyped-def]
    return station.bench.handle_scan(ScanRead(code, None, "serial:gun"))


def label_jobs(station: Station) -> list[bytes]:
    with station.store.read() as conn:
        query = select(print_jobs.c.payload).where(print_jobs.c.document == "label")
        return list(conn.execute(query.order_by(print_jobs.c.id)).scalars())


def kept(station: Station) -> list[str]:
    with station.store.read() as conn:
        return pending_parcel_ids(conn, [1042])[1042]


def parcel_nos(server) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.get("parcelNo") or p.get("pkg_no") for b in server.bookings for p in b["parcels"]]


def test_r13_r16_labels_when_packed_are_the_carriers_zpl_through_the_label_queue(
    station, server, caplog
):
    caplog.set_level(logging.DEBUG)
    ean_a, ean_b = station.eans
    for code in ("ORD-1042", ean_a, "CMD-NEXT-PARCEL", ean_a):
        scan(station, code)
    last = scan(station, ean_b)
    assert last.ok and last.complete
    ids = parcel_nos(server)
    assert len(server.bookings) == 2 and kept(station) == ids
    payloads = label_jobs(station)
    assert len(payloads) == 2 and all(p.startswith(ZPL) for p in payloads)  # the carrier's
    station.printing.start()
    printer = station.printers["labels"]
    assert printer.wait_for(2, timeout=5)
    assert printer.printed == payloads
    # Report-in prints no station label for ids the carrier labelled, and books nothing.
    assert scan(station, "CMD-DONE").ready
    assert station.report_in.ship(1042, ids, use_scale=False).shipped
    assert label_jobs(station) == payloads and len(server.bookings) == 2
    with station.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(deliveries)).scalar() == 1
    assert KEY not in caplog.text  # the station's log never carries the carrier's key


def test_r13_fetch_from_carrier_keeps_the_id_and_queues_the_carriers_label(station, server):
    parcel_id = fetch_parcel_id(
        station.store, station.carrier, 1042, station=STATION, printing=station.printing
    )
    assert [parcel_id] == parcel_nos(server) == kept(station)
    (payload,) = label_jobs(station)
    assert payload.startswith(ZPL)


def test_r13_a_timeout_after_the_carrier_booked_keeps_one_id_and_one_label(station, server):
    server.faults.append("timeout")
    parcel_id = fetch_parcel_id(
        station.store, station.carrier, 1042, station=STATION, printing=station.printing
    )
    assert len(server.bookings) == 1 and [parcel_id] == parcel_nos(server) == kept(station)
    assert len(label_jobs(station)) == 1


def test_r13_a_fifth_parcel_is_refused_before_the_carrier_is_asked(station, server):
    for code in ("PKG-0001", "PKG-0002", "PKG-0003", "PKG-0004"):
        keep_typed_parcel_id(station.store, None, 1042, code, station=STATION)
    with pytest.raises(OrderRuleError):
        fetch_parcel_id(
            station.store, station.carrier, 1042, station=STATION, printing=station.printing
        )
    assert server.bookings == [] and len(kept(station)) == 4


def test_r13_a_carrier_refusal_reaches_the_packer_as_a_sentence_in_their_language(station, server):
    station.carrier.http.client.auth = httpx.BasicAuth(USER, "wrong-key")  # a changed key
    client = kiosk_client(station)
    client.post("/language", data={"language": "sv", "next": "/shipout"})
    response = client.post("/shipout/1042/fetch", data={}, headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "godtog inte stationens inloggningsuppgifter (HTTP 401)" in page
    assert KEY not in page and server.bookings == [] and kept(station) == []


def test_r13_two_clicks_racing_for_one_parcel_book_it_once(station, server):
    # Two kiosk tabs click "Fetch from carrier" for the same parcel at the same time: the first
    # booking is held at the carrier until the second arrives (or 3 s pass). One shipment, one
    # id kept, one label — both clicks show that id.
    station.carrier.http.client.timeout = httpx.Timeout(10)
    server.faults.append("hold")
    got: list[object] = []

    def click() -> None:
        try:
            got.append(
                fetch_parcel_id(
                    station.store, station.carrier, 1042, station=STATION, printing=station.printing
                )
            )
        except Exception as err:  # the test shows what a click ended in
            got.append(err)

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(30)
    assert len(server.bookings) == 1, server.bookings
    assert got == parcel_nos(server) * 2 and kept(station) == parcel_nos(server)
    assert len(label_jobs(station)) == 1


def test_r13_a_parcel_id_taken_off_then_fetched_again_is_a_new_booking(station, server):
    first = fetch_parcel_id(
        station.store, station.carrier, 1042, station=STATION, printing=station.printing
    )
    second = fetch_parcel_id(
        station.store, station.carrier, 1042, station=STATION, printing=station.printing
    )
    with station.store.write() as conn:
        drop_parcel_id(conn, 1042, first, station=STATION)  # the field's ×
    third = fetch_parcel_id(
        station.store, station.carrier, 1042, station=STATION, printing=station.printing
    )
    assert len(server.bookings) == 3 and third not in (first, second)
    assert kept(station) == [second, third]


def test_r16_a_crash_between_the_carriers_answer_and_the_commit_loses_no_label(
    station, server, monkeypatch
):
    # The carrier booked and answered; the station died before the transaction that keeps the
    # id and queues the label committed (the write is cut where the label is queued). The next
    # click asks for the same reference: found at the carrier, its label queued once.
    import stationd.services.parcel_ids as parcel_ids

    queue = parcel_ids.queue_carrier_labels

    def dies(*args, **kwargs):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(parcel_ids, "queue_carrier_labels", queue)
        raise SystemExit("power cut")

    monkeypatch.setattr(parcel_ids, "queue_carrier_labels", dies)
    with pytest.raises(SystemExit):
        fetch_parcel_id(
            station.store, station.carrier, 1042, station=STATION, printing=station.printing
        )
    assert len(server.bookings) == 1 and kept(station) == [] and label_jobs(station) == []
    parcel_id = fetch_parcel_id(
        station.store, station.carrier, 1042, station=STATION, printing=station.printing
    )
    assert len(server.bookings) == 1 and [parcel_id] == parcel_nos(server) == kept(station)
    (payload,) = label_jobs(station)
    assert payload.startswith(ZPL)


@pytest.mark.postgres
def test_r13_two_stations_on_one_postgresql_racing_for_one_parcel_book_it_once(
    server, pg_store, pg_url, make_station, make_shop, tmp_path: Path
):
    # Two benches, one database: each asks its own carrier session for the order's next parcel
    # at the same moment. The booking lock is PostgreSQL's, so the second waits and finds the
    # first one's shipment: one booking in the carrier's log, one id kept, one label queued.
    # nShift finds it through the feed's record in the database (store/carrier_feed.py): the
    # second bench has never read the feed itself, and a first read of it starts *now*.
    stations = [
        make_station(
            name=name,
            state_dir=tmp_path / name,
            database={"url": pg_url},
            shipping={
                "carrier": server.kind,
                "api_url": server.url,
                "api_user": USER,
                "api_key": KEY,
                "service": "P19",
                "timeout_s": 10,
            },
            printers=[{"name": "labels", "kind": "simulated"}],
            print={"label": "labels"},
        )
        for name in ("bench-1", "bench-2")
    ]
    shop = make_shop(stations[0].store)
    shop.product("A", number=1)
    shop.order([("A", 1)], status="packing", reserve=True, order_id=1042)
    server.faults.append("hold")
    got: list[object] = []

    def click(at: Station) -> None:
        try:
            got.append(
                fetch_parcel_id(
                    at.store,
                    at.carrier,
                    1042,
                    station=at.settings.station.name,
                    printing=at.printing,
                )
            )
        except Exception as err:  # the test shows what a click ended in
            got.append(err)

    clicks = [threading.Thread(target=click, args=(at,)) for at in stations]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(30)
    for at in stations:
        at.printing.stop()
    assert len(server.bookings) == 1, server.bookings
    assert got == parcel_nos(server) * 2 and kept(stations[0]) == parcel_nos(server)
    assert len(label_jobs(stations[0])) == 1
