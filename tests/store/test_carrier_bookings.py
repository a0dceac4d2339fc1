"""R13: what the store keeps of carrier bookings — the count that numbers an order's next
booking reference, and the lock that lets one reference reach the carrier from one station at
a time (two stations on one PostgreSQL database)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from stationd.core.audit import ParcelBooked, ParcelIdAdded
from stationd.store.audit import record_event
from stationd.store.carrier_bookings import BOOKING_LOCK_KEY, booking_lock, bookings_kept
from stationd.store.database import Store


def test_r13_bookings_kept_counts_the_orders_carrier_bookings_only(store: Store) -> None:
    with store.write() as conn:
        record_event(
            conn, ParcelBooked("CK000000014SE", "broker", "nShift", 1), station="b1", order_id=7
        )
        record_event(conn, ParcelIdAdded("PKG-0001", "typed"), station="b1", order_id=7)
        record_event(
            conn, ParcelBooked("CK000000028SE", "bench", "nShift", 2), station="b1", order_id=7
        )
        record_event(
            conn, ParcelBooked("CK000000031SE", "bench", "nShift", 1), station="b1", order_id=8
        )
    with store.read() as conn:
        assert bookings_kept(conn, 7) == 2
        assert bookings_kept(conn, 9) == 0


def _waiting_for_booking_lock(store: Store) -> bool:
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND classid::bigint = :key"
    )
    with store.engine.connect() as conn:
        return bool(conn.execute(query, {"key": BOOKING_LOCK_KEY}).scalar_one())


@pytest.mark.postgres
def test_r13_one_booking_reference_is_booked_from_one_station_at_a_time(pg_url: str) -> None:
    one, two = Store(pg_url), Store(pg_url)  # two stations, one database
    entered = threading.Event()
    try:
        with booking_lock(one, "1042-1-1"):

            def second_station() -> None:
                with booking_lock(two, "1042-1-1"):
                    entered.set()

            thread = threading.Thread(target=second_station)
            thread.start()
            for _ in range(200):  # until PostgreSQL shows the second one waiting
                if _waiting_for_booking_lock(one):
                    break
                threading.Event().wait(0.05)
            assert _waiting_for_booking_lock(one) and not entered.is_set()
            with booking_lock(one, "1042-1-2"):  # another reference does not wait
                pass
        thread.join(10)
        assert entered.is_set()
    finally:
        one.dispose()
        two.dispose()


def test_r13_a_carriers_feed_record_is_one_for_every_station_on_the_database(
    store: Store,
) -> None:
    from stationd.store.carrier_feed import CarrierFeed, SeenShipment

    bench1, bench2 = CarrierFeed(store, "nshift"), CarrierFeed(store, "nshift")
    assert bench2.position() is None and bench2.seen("1042-1-1") is None
    bench1.note({"1042-1-1": SeenShipment("77", "SHP-1", ("P1", "P2"))})  # its own booking
    assert bench2.seen("1042-1-1") == SeenShipment("77", "SHP-1", ("P1", "P2"))
    # A page of the feed: the same shipment again (read by both) and where the page ended.
    bench2.note(
        {
            "1042-1-1": SeenShipment("77", "SHP-1", ("P1", "P2")),
            "9-1-1": SeenShipment("", "S9", ("Q",)),
        },
        read_to="12",
    )
    assert bench1.position() == "12" and bench1.seen("9-1-1") == SeenShipment("", "S9", ("Q",))
    bench1.note({}, read_to="15")
    assert bench2.position() == "15"
    assert CarrierFeed(store, "other").seen("1042-1-1") is None  # a feed of its own
