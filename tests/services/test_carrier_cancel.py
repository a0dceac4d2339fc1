"""Issue 13 section 2 (R13): a parcel id a carrier booked and the packer takes off the next
delivery — the ship-out field emptied, or a typed id over it — is cancelled at the carrier
through the outgoing outbox, in a whole Station pointed at a local server that answers as
nShift's or Shipmondo's documentation says. An id that was typed, never booked, has nothing
to cancel."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from carrier_servers import NShiftServer, ShipmondoServer, shipping_settings
from kiosk.conftest import kiosk_client
from sqlalchemy import select, update

from stationd.core.carrier_cancel import CANCEL_KIND
from stationd.core.outgoing import OutgoingState
from stationd.station import Station
from stationd.store import outgoing as rows
from stationd.store.carrier_bookings import PARCEL_BOOKED
from stationd.store.deliveries import pending_parcel_ids
from stationd.store.tables import events, orders, outgoing

STATION = "bench-1"
HTMX = {"HX-Request": "true"}


def make(make_station, make_shop, tmp_path: Path, server) -> Station:  # type: ignore[no-untyped-def]
    station = make_station(
        name=STATION,
        state_dir=tmp_path / "state",
        shipping=shipping_settings(server),
        # The default tries (12): a carrier that can't cancel at all is `failed` at the first.
    )
    shop = make_shop(station.store)
    shop.product("A", name="Termos", number=1)
    shop.order([("A", 2)], status="packing", reserve=True, order_id=1042)
    with station.store.write() as conn:
        conn.execute(update(orders).values(customer_name="Anna Berg", city="Goteborg"))
    return station


@pytest.fixture
def carrier(request, make_station, make_shop, tmp_path):  # type: ignore[no-untyped-def]
    """The local server and a station booking there: nShift, or Shipmondo when a test says
    so (`indirect`)."""
    kind = getattr(request, "param", "nshift")
    server = NShiftServer() if kind == "nshift" else ShipmondoServer()
    server.kind = kind
    yield server, make(make_station, make_shop, tmp_path, server)
    server.close()


def fetch(client) -> str:  # type: ignore[no-untyped-def]
    """The ship-out page's "Fetch from carrier" for order 1042; the id it kept."""
    answer = client.post("/shipout/1042/fetch", data={"parcel-1042": ["", "", "", ""]})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return kept_ids(client.application.config["STATION"])[0]


def field(client, value: str, saved: str):  # type: ignore[no-untyped-def]
    """The ship-out page's first parcel field left holding `value` (it held `saved`)."""
    data = {
        "check_order": "1042",
        "check_slot": "1",
        "parcel-1042": [value, "", "", ""],
        "saved-1042": [saved, "", "", ""],
    }
    answer = client.post("/shipout/check", data=data, headers=HTMX)
    assert answer.status_code == 200, answer.get_data(as_text=True)


def kept_ids(station: Station) -> list[str]:
    with station.store.read() as conn:
        return pending_parcel_ids(conn, [1042])[1042]


def cancels(station: Station) -> list[rows.OutgoingItem]:
    with station.store.read() as conn:
        query = select(outgoing.c.event_id).where(outgoing.c.kind == CANCEL_KIND)
        ids = conn.execute(query.order_by(outgoing.c.id)).scalars()
        return [rows.get(conn, event_id) for event_id in list(ids)]


def rewrite_booking(station: Station, change: Callable[[dict], dict]) -> None:
    """The order's one `ParcelBooked` event as an older version or another carrier wrote it."""
    with station.store.write() as conn:
        booked = events.c.kind == PARCEL_BOOKED
        (payload,) = conn.execute(select(events.c.payload).where(booked)).scalars()
        conn.execute(
            update(events).where(booked).values(payload=json.dumps(change(json.loads(payload))))
        )


def deletes(server) -> list[str]:  # type: ignore[no-untyped-def]
    return [path for method, path in server.requests if method == "DELETE"]


@pytest.mark.parametrize("typed_over", [False, True], ids=["emptied", "typed-over"])
def test_r13_a_booked_id_taken_off_is_cancelled_at_nshift_once(carrier, typed_over):
    server, station = carrier
    client = kiosk_client(station)
    parcel_id = fetch(client)
    (booking,) = server.bookings
    field(client, "PKG-0001" if typed_over else "", parcel_id)
    assert kept_ids(station) == (["PKG-0001"] if typed_over else [])
    (row,) = cancels(station)  # written with the removal, before anything went out
    assert row.state is OutgoingState.PENDING and row.order_id == 1042
    assert row.payload == {"carrier": "nShift", "reference": "1042-1-1", "parcel_id": parcel_id}
    assert deletes(server) == []

    station.outgoing_worker.step()
    station.outgoing_worker.step()  # nothing is sent twice
    assert deletes(server) == [f"/shipments/{booking['id']}"]
    assert booking["deleted"] is True
    (row,) = cancels(station)
    assert row.state is OutgoingState.SENT and row.attempts == 1


def test_r13_an_old_booking_event_without_its_reference_is_cancelled_by_the_one_made(carrier):
    # Events written before the reference was kept with them: the row names the reference the
    # booking was made under (order, delivery, the booking's number), and the look-up finds it.
    server, station = carrier
    client = kiosk_client(station)
    parcel_id = fetch(client)
    rewrite_booking(station, lambda booked: {k: v for k, v in booked.items() if k != "reference"})
    field(client, "", parcel_id)
    (row,) = cancels(station)
    assert row.payload["reference"] == "1042-1-1"
    station.outgoing_worker.step()
    assert deletes(server) == [f"/shipments/{server.bookings[0]['id']}"]


def test_r13_a_shipment_nshift_has_deleted_already_is_sent_with_nothing_to_do(carrier):
    server, station = carrier
    client = kiosk_client(station)
    parcel_id = fetch(client)
    server.bookings.clear()  # deleted at nShift (by hand, in its own pages): a 404
    field(client, "", parcel_id)
    station.outgoing_worker.step()
    assert len(deletes(server)) == 1
    (row,) = cancels(station)
    assert row.state is OutgoingState.SENT and row.last_error is None


@pytest.mark.parametrize("carrier", ["shipmondo"], indirect=True)
def test_r13_shipmondo_cant_cancel_the_row_fails_with_its_sentence_on_tools_outgoing(carrier):
    server, station = carrier
    client = kiosk_client(station)
    parcel_id = fetch(client)
    field(client, "", parcel_id)
    station.outgoing_worker.step()
    (row,) = cancels(station)
    shipment = server.bookings[0]["id"]
    said = f"Shipmondo's API can't cancel a booked shipment: cancel shipment {shipment} in"
    assert row.state is OutgoingState.FAILED and said in (row.last_error or "")
    assert deletes(server) == []
    page = html.unescape(client.get("/tools/outgoing").get_data(as_text=True))
    assert said in page and parcel_id in page and "Carrier cancel" in page


def test_r13_a_typed_id_taken_off_writes_no_outgoing_row(carrier):
    server, station = carrier
    client = kiosk_client(station)
    field(client, "PKG-0001", "")
    field(client, "", "PKG-0001")
    assert kept_ids(station) == []
    assert cancels(station) == []
    station.outgoing_worker.step()
    assert deletes(server) == [] and server.bookings == []


def test_r13_an_id_booked_with_another_carrier_than_the_stations_now_fails_saying_where(carrier):
    # Booked while the station used Shipmondo, taken off after [shipping] moved to nShift:
    # nShift is not asked; the row says where to cancel it.
    server, station = carrier
    client = kiosk_client(station)
    parcel_id = fetch(client)
    rewrite_booking(station, lambda booked: booked | {"broker": "Shipmondo"})
    field(client, "", parcel_id)
    station.outgoing_worker.step()
    (row,) = cancels(station)
    assert row.state is OutgoingState.FAILED and deletes(server) == []
    assert row.last_error == (
        f"Parcel {parcel_id} was booked with Shipmondo, and this station now uses nShift: "
        "cancel shipment 1042-1-1 at Shipmondo."
    )


def test_r13_the_demos_simulated_carrier_sends_its_cancel_with_nothing_to_do(
    make_station, make_shop, tmp_path
):
    # The simulated carrier keeps no record: its booked id taken off is "cancelled" as sent,
    # never left waiting on Tools -> Outgoing.
    station = make_station(
        name=STATION, state_dir=tmp_path / "state", shipping={"carrier": "simulated"}
    )
    shop = make_shop(station.store)
    shop.product("A", number=1)
    shop.order([("A", 1)], status="packing", reserve=True, order_id=1042)
    client = kiosk_client(station)
    parcel_id = fetch(client)
    field(client, "", parcel_id)
    station.outgoing_worker.step()
    (row,) = cancels(station)
    assert row.payload["carrier"] == "simulated" and row.payload["parcel_id"] == parcel_id
    assert row.state is OutgoingState.SENT
