"""R13, R16 with real carriers: nShift Delivery and Shipmondo, each against a local server that
answers as its documentation says — bookings, labels, look-ups, and the faults a network has.

The waits the adapters take (Retry-After, back-off) go through an injected `sleep` that notes
them, so the tests see what was honoured without taking the time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from carrier_servers import KEY, SIGNED, USER, ZPL, FileServer, NShiftServer, ShipmondoServer
from pdf_labels import PAGE_PT, box_dots, graphic_field, pdf_label

from stationd.carriers import CarrierError, ParcelBooking, Shipment
from stationd.carriers.http_session import CarrierHttp, retry_after_s
from stationd.carriers.nshift import NShiftCarrier
from stationd.carriers.shipmondo import ShipmondoCarrier
from stationd.core.documents import Address
from stationd.store.carrier_feed import CarrierFeed
from stationd.store.database import Store

SENDER = Address("Demo Butik AB", "Storgatan 1", "111 22", "Stockholm", "SE")
RECEIVER = Address("Anna Andersson", "Tegnérgatan 39", "113 59", "Stockholm", "SE")
#: The client's timeout: the "timeout" fault answers only when the test ends.
TIMEOUT_S = 0.5


class Waits(list):
    """An injected `sleep`: notes each wait instead of taking it."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


#: The stores `make_carrier` opened in this test (closed when it ends).
_stores: list[Store] = []


@pytest.fixture(autouse=True)
def _close_stores():  # type: ignore[no-untyped-def]
    yield
    while _stores:
        _stores.pop().dispose()


def feed_record(tmp_path) -> CarrierFeed:  # type: ignore[no-untyped-def]
    """nShift's feed record in the station's database (one file per test: a carrier made
    again in the same test is the station restarted)."""
    store = Store(f"sqlite:///{tmp_path / 'stationd.sqlite'}")
    store.upgrade()
    _stores.append(store)
    return CarrierFeed(store, "nshift")


def booking(reference: str = "1042-1-1", weight_g: int | None = 1200) -> ParcelBooking:
    return ParcelBooking(1042, RECEIVER, weight_g=weight_g, reference=reference)


@pytest.fixture(params=["nshift", "shipmondo"])
def kind(request):  # type: ignore[no-untyped-def]
    return request.param


@pytest.fixture
def server(kind):  # type: ignore[no-untyped-def]
    server = NShiftServer() if kind == "nshift" else ShipmondoServer()
    yield server
    server.close()


@pytest.fixture
def waits() -> Waits:
    return Waits()


def make_carrier(kind, server, waits, tmp_path, *, key=KEY, max_wait_s=30.0):  # type: ignore[no-untyped-def]
    http = CarrierHttp(
        "nShift" if kind == "nshift" else "Shipmondo",
        server.url,
        auth=(USER, key),
        timeout_s=TIMEOUT_S,
        tries=3,
        max_wait_s=max_wait_s,
        sleep=waits,
    )
    if kind == "nshift":
        return NShiftCarrier(http, feed_record(tmp_path), service="P19", sender=SENDER, sleep=waits)
    return ShipmondoCarrier(http, product_code="GLSDK_SD", sender=SENDER, sleep=waits)


@pytest.fixture
def carrier(kind, server, waits, tmp_path):  # type: ignore[no-untyped-def]
    carrier = make_carrier(kind, server, waits, tmp_path)
    yield carrier
    carrier.http.close()


def posts(server) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for method, path in server.requests if (method, path) == ("POST", "/shipments"))


# --- booking ---------------------------------------------------------------------------------


def test_r13_a_booking_hands_back_the_carriers_parcel_id_and_its_zpl_label(carrier, server):
    shipment = carrier.book(booking())
    made = server.bookings[0]
    parcel_no = made["parcels"][0].get("parcelNo") or made["parcels"][0].get("pkg_no")
    assert shipment.parcel_ids == (parcel_no,)
    assert shipment.reference == "1042-1-1"
    assert len(shipment.labels) == 1 and shipment.labels[0].startswith(ZPL)
    assert len(server.bookings) == 1


def test_r13_the_request_carries_the_documented_fields(kind, carrier, server):
    carrier.book(booking(weight_g=1200))
    made = server.bookings[0]
    if kind == "nshift":
        assert made["orderNo"] == "1042-1-1" and made["shipmentNo"]
    else:
        assert made["reference"] == "1042-1-1" and made["product_code"] == "GLSDK_SD"
        assert made["parcels"][0]["weight"] == 1200


def test_r13_the_same_booking_asked_again_is_found_not_booked_twice(carrier, server):
    first = carrier.book(booking())
    again = carrier.book(booking())
    assert again.parcel_ids == first.parcel_ids
    assert len(server.bookings) == 1 and posts(server) == 1
    assert again.labels and again.labels[0].startswith(ZPL)  # the label fetched again


def test_r13_another_reference_is_another_booking(carrier, server):
    one, two = carrier.book(booking("1042-1-1")), carrier.book(booking("1042-1-2"))
    assert one.parcel_ids != two.parcel_ids and len(server.bookings) == 2


def test_r13_look_up_finds_a_booking_by_reference_and_none_for_an_unknown_one(carrier):
    made = carrier.book(booking())
    found = carrier.look_up("1042-1-1")
    assert found is not None and found.parcel_ids == made.parcel_ids
    assert carrier.look_up("9999-1-1") is None


# --- the faults --------------------------------------------------------------------------------


def test_r13_a_timeout_after_the_server_accepted_is_resolved_by_look_up_with_one_booking(
    carrier, server
):
    server.faults.append("timeout")  # booked, then no answer past the client's 0.5 s
    shipment = carrier.book(booking())
    assert len(server.bookings) == 1 and posts(server) == 1  # the server's log: one booking
    made = server.bookings[0]
    assert shipment.parcel_ids[0] in str(made["parcels"])
    assert shipment.labels and shipment.labels[0].startswith(ZPL)


def test_r13_429_is_honoured_the_station_waits_its_retry_after_then_books_once(
    carrier, server, waits
):
    server.retry_after = "7"
    server.faults.append("429")
    shipment = carrier.book(booking())
    assert 7.0 in waits  # the wait the carrier asked for
    assert posts(server) == 2 and len(server.bookings) == 1
    assert shipment.parcel_ids


def test_r13_a_retry_after_longer_than_the_station_waits_is_a_sentence(
    kind, server, waits, tmp_path
):
    carrier = make_carrier(kind, server, waits, tmp_path, max_wait_s=5)
    server.retry_after = "120"
    server.faults.append("429")
    with pytest.raises(CarrierError) as err:
        carrier.book(booking())
    assert "asks the station to wait 120 s" in str(err.value)
    assert server.bookings == [] and waits == []


def test_r13_a_500_after_sending_is_never_booked_again_in_the_same_click(carrier, server):
    # A 5xx may come from a gateway after the carrier committed: the outcome is unknown, so
    # only the look-up may settle it — the POST is not sent again.
    server.faults.append("500")
    with pytest.raises(CarrierError) as err:
        carrier.book(booking())
    assert "does not list it yet" in str(err.value)
    assert posts(server) == 1 and server.bookings == []
    shipment = carrier.book(booking())  # the packer's next click: looked up, then booked
    assert len(server.bookings) == 1 and posts(server) == 2 and shipment.parcel_ids


def test_r13_a_500_after_the_carrier_booked_is_found_by_the_look_up(carrier, server):
    server.faults.append("500-booked")
    shipment = carrier.book(booking())
    assert len(server.bookings) == 1 and posts(server) == 1
    assert shipment.parcel_ids[0] in str(server.bookings[0]["parcels"])


def test_r13_a_carrier_still_booking_after_the_timeout_is_not_booked_twice(carrier, server):
    # The carrier commits only after the station's look-up found nothing: booking again then
    # would make two shipments. The click ends in a sentence; the next one finds the booking.
    server.faults.append("late")
    with pytest.raises(CarrierError) as err:
        carrier.book(booking())
    assert "does not list it yet" in str(err.value)
    assert posts(server) == 1
    server.commit_late.set()
    assert server.late_done.wait(5)
    shipment = carrier.book(booking())
    assert len(server.bookings) == 1 and posts(server) == 1
    assert shipment.parcel_ids[0] in str(server.bookings[0]["parcels"])


def test_r13_a_carrier_failing_every_time_is_a_sentence_and_books_nothing(carrier, server):
    server.faults.extend(["500"] * 5)
    with pytest.raises(CarrierError) as err:
        carrier.book(booking())
    assert "does not list it yet" in str(err.value)
    assert server.bookings == []


def test_r13_malformed_json_after_the_booking_is_resolved_by_look_up(carrier, server):
    server.faults.append("malformed")  # booked, answered with broken JSON
    shipment = carrier.book(booking())
    assert len(server.bookings) == 1 and posts(server) == 1
    assert shipment.parcel_ids[0] in str(server.bookings[0]["parcels"])


def test_r13_an_answer_that_does_not_decode_after_the_booking_is_resolved_by_look_up(
    carrier, server
):
    # A body that says gzip and is not: httpx's DecodingError is no transport error, and it
    # reached the packer as a traceback; the carrier said 201, so the look-up settles it.
    server.faults.append("bad-gzip")
    shipment = carrier.book(booking())
    assert len(server.bookings) == 1 and posts(server) == 1
    assert shipment.parcel_ids[0] in str(server.bookings[0]["parcels"])


def test_r13_401_is_a_sentence_about_the_credentials_and_the_key_is_never_logged(
    kind, server, waits, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    carrier = make_carrier(kind, server, waits, tmp_path, key="wrong-" + KEY)
    with pytest.raises(CarrierError) as err:
        carrier.book(booking())
    assert "refused the station's credentials (HTTP 401)" in str(err.value)
    assert "api_key" in str(err.value) and KEY not in str(err.value)
    assert server.bookings == []
    assert KEY not in caplog.text and USER not in caplog.text


def test_r13_the_key_never_reaches_the_log_of_a_good_booking(carrier, caplog):
    caplog.set_level(logging.DEBUG)
    carrier.book(booking())
    assert KEY not in caplog.text and "Authorization" not in caplog.text


def test_r16_shipmondo_refuses_a_pdf_label_with_a_sentence(waits, tmp_path):
    server = ShipmondoServer()
    try:
        server.faults.append("pdf")
        with pytest.raises(CarrierError) as err:
            make_carrier("shipmondo", server, waits, tmp_path).book(booking())
        assert "prints only ZPL labels" in str(err.value)
    finally:
        server.close()


def test_r16_nshift_rasterises_a_pdf_label_into_a_zpl_graphic_field(nshift_server, waits, tmp_path):
    nshift_server.pdf_label = pdf_label()
    nshift_server.faults.append("pdf")
    carrier = make_carrier("nshift", nshift_server, waits, tmp_path)
    carrier.label_dpmm = 8
    (label,) = carrier.book(booking()).labels
    # 4×6" at 8 dots/mm is 813 dots: shrunk to the 100 mm stock, 800 × 1200 dots.
    assert label.startswith(b"^XA^PW800^LL1200") and label.rstrip().endswith(b"^XZ")
    total, row_bytes, dots = graphic_field(label)
    assert (total, row_bytes, len(dots)) == (100 * 1200, 100, 1200)
    box = box_dots(dots, 800 / PAGE_PT[0])
    assert sum(map(sum, box)) == len(box) * len(box[0])  # the box is black, every dot of it
    assert not any(dots[40][:800]) and not any(row[700] for row in dots)  # the margins white


def test_r16_nshift_says_so_when_its_pdf_label_cant_be_read_and_books_no_more(
    nshift_server, waits, tmp_path
):
    nshift_server.faults.append("pdf")  # a PDF no reader opens
    carrier = make_carrier("nshift", nshift_server, waits, tmp_path)
    with pytest.raises(CarrierError) as err:
        carrier.book(booking())
    assert "PDF the station can't read" in str(err.value)
    with pytest.raises(CarrierError):  # asked again: found by its reference, not booked again
        carrier.book(booking())
    assert len(nshift_server.bookings) == 1 and posts(nshift_server) == 1


def test_r13_an_unreachable_carrier_is_a_sentence(kind, waits, tmp_path):
    server = NShiftServer() if kind == "nshift" else ShipmondoServer()
    server.close()  # nobody listens on its port any more
    carrier = make_carrier(kind, server, waits, tmp_path)
    with pytest.raises(CarrierError) as err:
        carrier.book(booking())
    assert "can't reach" in str(err.value)


# --- nShift's feed and cancel; Shipmondo's cancel -------------------------------------------------


@pytest.fixture
def nshift_server():  # type: ignore[no-untyped-def]
    server = NShiftServer()
    yield server
    server.close()


def test_r13_nshift_finds_its_booking_again_after_a_restart(nshift_server, waits, tmp_path):
    first = make_carrier("nshift", nshift_server, waits, tmp_path).book(booking())
    again = make_carrier("nshift", nshift_server, waits, tmp_path).book(booking())  # restarted
    assert again.parcel_ids == first.parcel_ids and len(nshift_server.bookings) == 1


def test_nshift_cancel_deletes_the_shipment(nshift_server, waits, tmp_path):
    carrier = make_carrier("nshift", nshift_server, waits, tmp_path)
    carrier.cancel(carrier.book(booking()))
    assert nshift_server.bookings[0]["deleted"] is True


def test_shipmondo_cancel_says_where_to_do_it(waits, tmp_path):
    server = ShipmondoServer()
    try:
        carrier = make_carrier("shipmondo", server, waits, tmp_path)
        with pytest.raises(CarrierError) as err:
            carrier.cancel(Shipment("5001", "1042-1-1", ("x",)))
    finally:
        server.close()
    assert "cancel shipment 5001 in Shipmondo" in str(err.value)


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 12, 7, 1, 0, 0, tzinfo=UTC)
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Mon, 07 Dec 2026 01:00:30 GMT", now=now) == 30.0
    assert retry_after_s("Mon, 07 Dec 2026 00:59:00 GMT", now=now) == 0.0  # past: at once
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_r13_a_label_link_to_another_host_gets_no_credentials(
    nshift_server, waits, tmp_path, caplog
):
    # The label behind `prints[].href` on another host (a storage service): the document is
    # fetched, but the station's API key goes only to the carrier's API, and the link's
    # signature stays out of the station's log.
    caplog.set_level(logging.DEBUG, logger="stationd")
    files = FileServer()
    nshift_server.files = files
    try:
        shipment = make_carrier("nshift", nshift_server, waits, tmp_path).book(booking())
    finally:
        files.close()
    assert shipment.labels == (ZPL,)
    assert len(files.headers) == 1
    assert "authorization" not in {name.lower() for name in files.headers[0]}
    assert SIGNED not in caplog.text


def test_r13_the_served_stations_log_carries_no_signed_link(nshift_server, waits, tmp_path, capsys):
    # As `stationd serve` logs (INFO to stderr): httpx's own request lines would name the whole
    # URL of the label's link, its signature with it.
    from stationd.cli import root

    handlers, level = logging.root.handlers[:], logging.root.level
    httpx_level = logging.getLogger("httpx").level
    files = FileServer()
    nshift_server.files = files
    try:
        root._log_to_stderr(logging.INFO)
        make_carrier("nshift", nshift_server, waits, tmp_path).book(booking())
    finally:
        files.close()
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
        logging.getLogger("httpx").setLevel(httpx_level)
    logged = capsys.readouterr().err
    assert "nShift: GET /files/1 -> 200" in logged  # the station's own line, path only
    assert SIGNED not in logged and KEY not in logged


def test_r13_a_shipment_of_someone_else_in_the_nshift_feed_does_not_stop_booking(
    nshift_server, waits, tmp_path
):
    # The feed lists every shipment of the account: one made in nShift's own web app (no
    # parcel number yet) is not the station's to read, and must not stop its bookings.
    carrier = make_carrier("nshift", nshift_server, waits, tmp_path)
    carrier.book(booking("1042-1-1"))
    nshift_server.bookings.append(
        {"id": "777", "shipmentNo": "", "orderNo": "WEB-77", "parcels": [{}], "label": ""}
    )
    shipment = carrier.book(booking("1043-1-1"))
    assert shipment.parcel_ids and len(nshift_server.bookings) == 3
    assert posts(nshift_server) == 2


def test_r13_nshift_feed_called_too_fast_is_waited_for_once_then_a_sentence(
    nshift_server, waits, tmp_path
):
    # nShift answers a feed read made too soon with minDelay; the station waits once in the
    # packer's request, not page after page, and books nothing it could not look up first.
    carrier = make_carrier("nshift", nshift_server, waits, tmp_path)
    carrier.book(booking("1042-1-1"))
    nshift_server.min_delay_ms = 20_000
    with pytest.raises(CarrierError) as err:
        carrier.book(booking("1043-1-1"))
    assert "asks the station to wait 20 s" in str(err.value)
    assert waits == [20.0] and posts(nshift_server) == 1
