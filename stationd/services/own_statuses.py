"""The admin's own statuses (R5): create, rename, delete while unused — each one transaction
with its audit event. Orders refer to a status by id, so a rename shows on every order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stationd.core.audit import OwnStatusCreated, OwnStatusDeleted, OwnStatusRenamed
from stationd.core.orders import (
    FieldRefused,
    OrderRuleError,
    OwnStatus,
    check_own_status_unused,
    validate_own_status,
)
from stationd.core.text import sentence
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.own_statuses import (
    OwnStatusConflict,
    delete_own_status,
    get_own_status,
    insert_own_status,
    list_own_statuses,
    orders_using,
    update_own_status,
)


class NoSuchOwnStatus(OrderRuleError):
    def __init__(self, status_id: int) -> None:
        super().__init__(sentence("There is no own status {id}; reload the page.", id=status_id))


@contextmanager
def _code_taken_elsewhere(code: str) -> Iterator[None]:
    # Another station took the code since the list was read (PostgreSQL): the same sentence.
    try:
        yield
    except OwnStatusConflict:
        raise FieldRefused(
            sentence("The status code {code} is already in use.", code=code), "code"
        ) from None


def create_own_status(store: Store, code: str, name: str, *, station: str) -> OwnStatus:
    with store.write() as conn:
        taken = [s.code for s in list_own_statuses(conn)]
        status = validate_own_status(code, name, taken)
        with _code_taken_elsewhere(status.code):
            status = OwnStatus(insert_own_status(conn, status), status.code, status.name)
        record_event(conn, OwnStatusCreated(status.id, status.code, status.name), station=station)
    return status


def rename_own_status(
    store: Store, status_id: int, code: str, name: str, *, station: str
) -> OwnStatus:
    """New code and name for a status; every order carrying it, old ones too, shows them."""
    with store.write() as conn:
        old = get_own_status(conn, status_id)
        if old is None:
            raise NoSuchOwnStatus(status_id)
        taken = [s.code for s in list_own_statuses(conn) if s.id != status_id]
        new = validate_own_status(code, name, taken)
        new = OwnStatus(status_id, new.code, new.name)
        with _code_taken_elsewhere(new.code):
            update_own_status(conn, new)
        record_event(
            conn,
            OwnStatusRenamed(
                status_id,
                old_code=old.code,
                old_name=old.name,
                new_code=new.code,
                new_name=new.name,
                orders=orders_using(conn, status_id),
            ),
            station=station,
        )
    return new


def delete_unused_own_status(store: Store, status_id: int, *, station: str) -> OwnStatus:
    """Delete a status no order carries; refused with the count while any does."""
    with store.write() as conn:
        status = get_own_status(conn, status_id)
        if status is None:
            raise NoSuchOwnStatus(status_id)
        check_own_status_unused(status, orders_using(conn, status_id))
        try:
            delete_own_status(conn, status_id)
        except OwnStatusConflict:
            # Another station put it on an order since it was counted (PostgreSQL).
            check_own_status_unused(status, max(1, orders_using(conn, status_id)))
            raise
        record_event(conn, OwnStatusDeleted(status_id, status.code, status.name), station=station)
    return status
