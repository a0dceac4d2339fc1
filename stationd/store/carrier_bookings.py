"""What the store knows of carrier bookings (R13): how many an order has kept, and the lock that
lets one booking reference be at the carrier from one place at a time.

Two kiosk tabs, or two stations on one PostgreSQL database, may ask the carrier for the same
parcel at the same moment. Each looks the reference up first, and both would find nothing and
book; so the look-up and the booking of one reference take turns — on PostgreSQL under a
session advisory lock that every station sees, on SQLite (one station) under a thread lock —
and the second one in finds the first one's shipment.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

from stationd.core.audit import ParcelBooked, event_from_payload
from stationd.store.audit import payload_of
from stationd.store.tables import events

if TYPE_CHECKING:
    from stationd.store.database import Store

#: The PostgreSQL advisory-lock class key of carrier bookings ("CARR" in ASCII).
BOOKING_LOCK_KEY = 0x43415252
#: The audit kind of a parcel id booked with a carrier and kept (core/audit.ParcelBooked).
PARCEL_BOOKED = "order.parcel_booked"

_guard = threading.Lock()
_held: dict[str, tuple[threading.Lock, int]] = {}


def bookings_kept(conn: Connection, order_id: int) -> int:
    """How many carrier bookings the order has kept on its deliveries, ever (a parcel id taken
    off again still counts): the next booking's number is that plus one."""
    query = select(func.count()).where(
        events.c.order_id == order_id, events.c.kind == PARCEL_BOOKED
    )
    return int(conn.execute(query).scalar_one())


@contextmanager
def booking_lock(store: Store, reference: str) -> Iterator[None]:
    """Hold the lock of booking `reference` (wait for whoever holds it) while the block runs.

    PostgreSQL: a session advisory lock on a connection of its own (two connections of one
    process wait for each other too); SQLite, one station's own file: a lock in the process."""
    if store.dialect != "postgresql":
        with _local_lock(reference):
            yield
        return
    key = zlib.crc32(reference.encode()) - 2**31  # an int4, as the two-key form takes
    with store.engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({BOOKING_LOCK_KEY}, {key})")
        conn.commit()
        try:
            yield
        finally:
            # A session lock outlives the transaction: let go before the pool keeps it.
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({BOOKING_LOCK_KEY}, {key})")
            conn.commit()


@contextmanager
def _local_lock(reference: str) -> Iterator[None]:
    with _guard:
        lock, users = _held.get(reference, (threading.Lock(), 0))
        _held[reference] = (lock, users + 1)
    try:
        with lock:
            yield
    finally:
        with _guard:
            lock, users = _held[reference]
            if users == 1:
                del _held[reference]
            else:
                _held[reference] = (lock, users - 1)


def booking_of(conn: Connection, order_id: int, parcel_id: str) -> tuple[ParcelBooked, int] | None:
    """The last carrier booking that kept `parcel_id` on the order, and its number among the
    order's bookings (1 for the first, as `bookings_kept` counted them); None when the id was
    typed or scanned, never booked."""
    query = (
        select(events.c.payload)
        .where(events.c.order_id == order_id, events.c.kind == PARCEL_BOOKED)
        .order_by(events.c.id)
    )
    found = None
    for number, payload in enumerate(conn.execute(query).scalars(), start=1):
        booked = event_from_payload(PARCEL_BOOKED, payload_of(payload))
        if isinstance(booked, ParcelBooked) and booked.parcel_id == parcel_id:
            found = (booked, number)
    return found
