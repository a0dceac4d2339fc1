"""Own statuses (R5) in the database: the admin's list, and how many orders carry each."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from stationd.core.orders import OwnStatus
from stationd.store.tables import orders, own_statuses


@dataclass(frozen=True)
class OwnStatusInUse:
    """An own status with the number of orders that carry it."""

    status: OwnStatus
    orders: int


def list_own_statuses(conn: Connection) -> list[OwnStatus]:
    """Every own status, by code."""
    rows = conn.execute(select(own_statuses).order_by(own_statuses.c.code))
    return [OwnStatus(r.id, r.code, r.name) for r in rows]


def own_statuses_in_use(conn: Connection) -> list[OwnStatusInUse]:
    """Every own status, by code, with how many orders carry it."""
    used = dict(
        conn.execute(
            select(orders.c.own_status_id, func.count())
            .where(orders.c.own_status_id.is_not(None))
            .group_by(orders.c.own_status_id)
        ).all()
    )
    return [OwnStatusInUse(s, used.get(s.id, 0)) for s in list_own_statuses(conn)]


def get_own_status(conn: Connection, status_id: int) -> OwnStatus | None:
    row = conn.execute(select(own_statuses).where(own_statuses.c.id == status_id)).first()
    return None if row is None else OwnStatus(row.id, row.code, row.name)


def orders_using(conn: Connection, status_id: int) -> int:
    """How many orders carry the own status."""
    return conn.execute(
        select(func.count()).select_from(orders).where(orders.c.own_status_id == status_id)
    ).scalar_one()


class OwnStatusConflict(Exception):
    """The database refused a change to the own statuses that another station's change made
    wrong since they were read (PostgreSQL): a code taken, or a status put on an order."""


def insert_own_status(conn: Connection, status: OwnStatus) -> int:
    """Add a status; raises OwnStatusConflict if its code was taken meanwhile."""
    try:
        return conn.execute(
            insert(own_statuses)
            .values(code=status.code, name=status.name)
            .returning(own_statuses.c.id)
        ).scalar_one()
    except IntegrityError as err:
        raise OwnStatusConflict(str(err.orig)) from err


def update_own_status(conn: Connection, status: OwnStatus) -> None:
    """Write a new code and name; orders refer by id, so every one shows them (R5).

    Raises OwnStatusConflict if the code was taken meanwhile.
    """
    try:
        conn.execute(
            update(own_statuses)
            .where(own_statuses.c.id == status.id)
            .values(code=status.code, name=status.name)
        )
    except IntegrityError as err:
        raise OwnStatusConflict(str(err.orig)) from err


def delete_own_status(conn: Connection, status_id: int) -> None:
    """Delete a status; raises OwnStatusConflict if an order carries it meanwhile, with the
    transaction still usable (the delete is tried under a savepoint)."""
    try:
        with conn.begin_nested():
            conn.execute(delete(own_statuses).where(own_statuses.c.id == status_id))
    except IntegrityError as err:
        raise OwnStatusConflict(str(err.orig)) from err
