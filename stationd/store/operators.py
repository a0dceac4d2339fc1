"""Operators in the database: the people, the one signed in at each station, and the scan journal
that says who scanned what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, desc, func, insert, select, update

from stationd.core.operators import Operator
from stationd.core.text import text_from_data
from stationd.store.tables import operators, scan_journal, stations

_OPERATOR_COLUMNS = (
    operators.c.id,
    operators.c.name,
    operators.c.active,
    operators.c.pin_hash.is_not(None).label("has_pin"),
    operators.c.badge_code.is_not(None).label("has_badge"),
)


def _operator(row: Row) -> Operator:
    return Operator(row.id, row.name, bool(row.active), bool(row.has_pin), bool(row.has_badge))


def list_operators(conn: Connection) -> list[Operator]:
    """Every operator, active ones first, by name."""
    query = select(*_OPERATOR_COLUMNS).order_by(desc(operators.c.active), operators.c.name)
    return [_operator(row) for row in conn.execute(query)]


def get_operator(conn: Connection, operator_id: int) -> Operator | None:
    row = conn.execute(select(*_OPERATOR_COLUMNS).where(operators.c.id == operator_id)).first()
    return _operator(row) if row is not None else None


def any_active_operator(conn: Connection) -> bool:
    return (
        conn.execute(select(operators.c.id).where(operators.c.active).limit(1)).first() is not None
    )


def badge_in_use(conn: Connection, badge_code: str) -> bool:
    query = select(operators.c.id).where(operators.c.badge_code == badge_code)
    return conn.execute(query).first() is not None


def operator_by_badge(conn: Connection, badge_code: str) -> Operator | None:
    """The operator the badge belongs to (active or not), or None."""
    row = conn.execute(
        select(*_OPERATOR_COLUMNS).where(operators.c.badge_code == badge_code)
    ).first()
    return _operator(row) if row is not None else None


def insert_operator(
    conn: Connection, name: str, *, badge_code: str | None, pin_hash: str | None
) -> int:
    return conn.execute(
        insert(operators)
        .values(name=name, badge_code=badge_code, pin_hash=pin_hash, active=True)
        .returning(operators.c.id)
    ).scalar_one()


def set_operator_active(conn: Connection, operator_id: int, active: bool) -> None:
    conn.execute(update(operators).where(operators.c.id == operator_id).values(active=active))
    if not active:
        # Nobody stays signed in as someone who may no longer pack.
        conn.execute(
            update(stations)
            .where(stations.c.current_operator_id == operator_id)
            .values(current_operator_id=None)
        )


@dataclass(frozen=True, slots=True)
class PinRecord:
    """What a PIN sign-in needs of an operator."""

    operator: Operator
    pin_hash: str | None
    failed_pins: int
    locked_until: datetime | None


def pin_record(conn: Connection, operator_id: int) -> PinRecord | None:
    row = conn.execute(
        select(
            *_OPERATOR_COLUMNS,
            operators.c.pin_hash,
            operators.c.failed_pins,
            operators.c.pin_locked_until,
        ).where(operators.c.id == operator_id)
    ).first()
    if row is None:
        return None
    return PinRecord(_operator(row), row.pin_hash, row.failed_pins, row.pin_locked_until)


def count_wrong_pin(conn: Connection, operator_id: int) -> int:
    """One more wrong PIN in a row for the operator; returns how many now."""
    return conn.execute(
        update(operators)
        .where(operators.c.id == operator_id)
        .values(failed_pins=operators.c.failed_pins + 1)
        .returning(operators.c.failed_pins)
    ).scalar_one()


def set_pin_lock(
    conn: Connection, operator_id: int, until: datetime | None, *, reset: bool = False
) -> None:
    values: dict[str, object] = {"pin_locked_until": until}
    if reset:
        values["failed_pins"] = 0
    conn.execute(update(operators).where(operators.c.id == operator_id).values(**values))


def station_operator(conn: Connection, station: str) -> Operator | None:
    """The operator signed in at `station`, if any."""
    row = conn.execute(
        select(*_OPERATOR_COLUMNS)
        .join(stations, stations.c.current_operator_id == operators.c.id)
        .where(stations.c.name == station)
    ).first()
    return _operator(row) if row is not None else None


def set_station_operator(conn: Connection, station: str, operator_id: int | None) -> None:
    """Sign `operator_id` in at `station` (None: sign out); makes the station's row if new."""
    done = conn.execute(
        update(stations).where(stations.c.name == station).values(current_operator_id=operator_id)
    )
    if done.rowcount == 0:
        conn.execute(insert(stations).values(name=station, current_operator_id=operator_id))


def last_scan_at(conn: Connection, station: str) -> datetime | None:
    """When `station` journaled its last scan (good or bad), or None."""
    return conn.execute(
        select(func.max(scan_journal.c.at)).where(scan_journal.c.station == station)
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One journaled scan, with the name of the operator who made it."""

    id: int
    at: datetime
    station: str
    source: str
    code: str
    kind: str
    ok: bool
    message: str  # a core.text.Text when the journal kept its sentence
    order_id: int | None
    delta: int
    operator_id: int | None
    operator: str | None


def scan_history(
    conn: Connection,
    *,
    station: str | None = None,
    operator_id: int | None = None,
    order_id: int | None = None,
    limit: int = 50,
) -> list[ScanRow]:
    """The latest scans, newest first, with who made them; narrowed by the filters given."""
    query = (
        select(
            scan_journal.c.id,
            scan_journal.c.at,
            scan_journal.c.station,
            scan_journal.c.source,
            scan_journal.c.code,
            scan_journal.c.kind,
            scan_journal.c.ok,
            scan_journal.c.message,
            scan_journal.c.message_data,
            scan_journal.c.order_id,
            scan_journal.c.delta,
            scan_journal.c.operator_id,
            operators.c.name.label("operator"),
        )
        .select_from(scan_journal.outerjoin(operators))
        .order_by(desc(scan_journal.c.id))
        .limit(limit)
    )
    if station is not None:
        query = query.where(scan_journal.c.station == station)
    if operator_id is not None:
        query = query.where(scan_journal.c.operator_id == operator_id)
    if order_id is not None:
        query = query.where(scan_journal.c.order_id == order_id)
    rows = []
    for row in conn.execute(query):
        found = dict(row._mapping)
        found["message"] = text_from_data(found.pop("message_data"), found["message"])
        rows.append(ScanRow(**found))
    return rows


__all__ = [
    "PinRecord",
    "ScanRow",
    "any_active_operator",
    "badge_in_use",
    "count_wrong_pin",
    "get_operator",
    "insert_operator",
    "last_scan_at",
    "list_operators",
    "operator_by_badge",
    "pin_record",
    "scan_history",
    "set_operator_active",
    "set_pin_lock",
    "set_station_operator",
    "station_operator",
]
