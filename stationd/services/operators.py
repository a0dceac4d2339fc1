"""Operators (issue 8): sign in by badge or PIN, sign out, the idle lock, and the admin's list.

The badge path runs inside the bench's scan transaction (`operator_scan`), because a badge is
scanned like any other code, from any scanner (R19). The PIN path, sign-out and the idle lock
are the kiosk's. Each change is one transaction with its audit event; `OperatorChanged` goes on
the bus after the commit.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from stationd.clock import utcnow
from stationd.core.audit import (
    OperatorActivated,
    OperatorCreated,
    OperatorDeactivated,
    SignedIn,
    SignedOut,
    WrongPinEntered,
)
from stationd.core.barcodes import Classified, CodeKind
from stationd.core.bench import BenchOutcome, Sound
from stationd.core.bench import error as error_outcome
from stationd.core.operators import (
    Operator,
    OperatorRuleError,
    hash_pin,
    idle_lock_in_s,
    normalize_badge_code,
    pin_lockout,
    scan_needs_operator,
    validate_name,
    validate_pin,
    verify_pin,
)
from stationd.core.text import sentence
from stationd.events import Bus, OperatorChanged
from stationd.store.audit import record_event
from stationd.store.database import Store
from stationd.store.operators import (
    ScanRow,
    any_active_operator,
    badge_in_use,
    count_wrong_pin,
    get_operator,
    insert_operator,
    last_scan_at,
    list_operators,
    operator_by_badge,
    pin_record,
    scan_history,
    set_operator_active,
    set_pin_lock,
    set_station_operator,
    station_operator,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)

__all__ = [
    "BadgeTaken",
    "NoSuchOperator",
    "OperatorService",
    "PinLocked",
    "WrongPin",
    "operator_scan",
]


class NoSuchOperator(OperatorRuleError):
    """The operator asked for does not exist (or can't sign in any more)."""


class BadgeTaken(OperatorRuleError):
    """Another operator already has this badge code."""


class WrongPin(OperatorRuleError):
    """The PIN does not match."""


class PinLocked(OperatorRuleError):
    """Too many wrong PINs in a row: PIN sign-in waits `wait_s` seconds more."""

    def __init__(self, message: str, wait_s: int) -> None:
        super().__init__(message)
        self.wait_s = wait_s


def operator_scan(
    conn: Connection,
    station: str,
    scan: Classified,
    open_order_id: int | None,
    *,
    required: bool,
) -> BenchOutcome | None:
    """The bench's question for every scan, in its transaction: is this about operators?

    A badge signs its operator in at `station` (the outcome says so). Any other code is
    refused when sign-in is `required` and nobody is signed in. None: the bench goes on.
    """
    if scan.kind is CodeKind.BADGE and scan.badge is not None:
        operator = operator_by_badge(conn, scan.badge)
        if operator is None or not operator.active:
            return error_outcome(
                sentence("This badge belongs to no active operator."), open_order_id
            )
        before = station_operator(conn, station)
        if before is not None and before.id == operator.id:
            return BenchOutcome(
                True,
                sentence("{name} is signed in.", name=operator.name),
                Sound.OK,
                order_id=open_order_id,
            )
        _sign_in(conn, station, operator, how="badge", before=before)
        return BenchOutcome(
            True,
            sentence("Signed in: {name}.", name=operator.name),
            Sound.OK,
            order_id=open_order_id,
        )
    if not required:
        return None
    refusal = scan_needs_operator(
        required, station_operator(conn, station) is not None, any_active_operator(conn)
    )
    return error_outcome(refusal, open_order_id) if refusal else None


def _sign_in(
    conn: Connection, station: str, operator: Operator, *, how: str, before: Operator | None
) -> None:
    if before is not None:
        record_event(conn, SignedOut(how, before.id), station=station)
    set_station_operator(conn, station, operator.id)
    record_event(conn, SignedIn(operator.id, how), station=station)


@dataclass(frozen=True, slots=True)
class OperatorState:
    """What every kiosk page shows of operators: who is signed in, and whether anyone could."""

    current: Operator | None
    operators_exist: bool


class OperatorService:
    """The operators of the shop, and who is signed in at this station."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        station: str,
        *,
        sign_in_required: bool = False,
        idle_lock_s: float = 0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.station = station
        self.sign_in_required = sign_in_required
        self.idle_lock_s = idle_lock_s

    # -- reading ------------------------------------------------------------
    def state(self) -> OperatorState:
        with self.store.read() as conn:
            return OperatorState(station_operator(conn, self.station), any_active_operator(conn))

    def current(self) -> Operator | None:
        with self.store.read() as conn:
            return station_operator(conn, self.station)

    def operators(self) -> list[Operator]:
        with self.store.read() as conn:
            return list_operators(conn)

    def history(
        self, *, operator_id: int | None = None, order_id: int | None = None, limit: int = 50
    ) -> list[ScanRow]:
        """This station's latest scans with who made them (who packed what)."""
        with self.store.read() as conn:
            return scan_history(
                conn, station=self.station, operator_id=operator_id, order_id=order_id, limit=limit
            )

    def sign_in_needed(self, state: OperatorState | None = None) -> bool:
        """Whether this station must have someone signed in before it does anything else."""
        state = state or self.state()
        return (
            scan_needs_operator(
                self.sign_in_required, state.current is not None, state.operators_exist
            )
            is not None
        )

    # -- the admin's changes ----------------------------------------------------
    def create(self, name: str, *, badge_code: str = "", pin: str = "") -> Operator:
        """A new, active operator with a badge, a PIN or both (the PIN is stored hashed)."""
        name = validate_name(name)
        badge = normalize_badge_code(badge_code) if badge_code.strip() else None
        if not pin and badge is None:
            raise OperatorRuleError(sentence("Give the operator a badge code, a PIN or both."))
        pin_hash = hash_pin(validate_pin(pin), secrets.token_bytes(16)) if pin else None
        with self.store.write() as conn:
            if badge is not None and badge_in_use(conn, badge):
                raise BadgeTaken(sentence("Another operator already has that badge code."))
            operator_id = insert_operator(conn, name, badge_code=badge, pin_hash=pin_hash)
            record_event(conn, OperatorCreated(operator_id, name), station=self.station)
        return Operator(operator_id, name, True, pin_hash is not None, badge is not None)

    def set_active(self, operator_id: int, active: bool) -> Operator:
        with self.store.write() as conn:
            operator = get_operator(conn, operator_id)
            if operator is None:
                raise NoSuchOperator(sentence("There is no operator {id}.", id=operator_id))
            was_here = station_operator(conn, self.station)
            set_operator_active(conn, operator_id, active)
            change = OperatorActivated if active else OperatorDeactivated
            record_event(conn, change(operator_id), station=self.station)
        if not active and was_here is not None and was_here.id == operator_id:
            self.bus.publish(OperatorChanged(self.station, None, "signed_out"))
        return operator

    # -- signing in and out ----------------------------------------------------
    def sign_in_pin(self, operator_id: int, pin: str) -> Operator:
        """Sign the operator in with their PIN; wrong PINs are counted and slow down.

        Raises NoSuchOperator, PinLocked or WrongPin (each with its sentence).
        """
        with self.store.read() as conn:
            record = pin_record(conn, operator_id)
        if record is None or not record.operator.active or not record.pin_hash:
            raise NoSuchOperator(sentence("That operator can't sign in with a PIN."))
        now = utcnow()
        if record.locked_until is not None and record.locked_until > now:
            raise _locked(record.locked_until, now)
        # scrypt takes a while: outside the write transaction, so scans don't wait for it.
        right = verify_pin(pin, record.pin_hash)
        until = None
        with self.store.write() as conn:
            if not right:
                failed = count_wrong_pin(conn, operator_id)
                until = pin_lockout(failed, now)
                set_pin_lock(conn, operator_id, until)
                record_event(conn, WrongPinEntered(operator_id, failed), station=self.station)
            else:
                set_pin_lock(conn, operator_id, None, reset=True)
                before = station_operator(conn, self.station)
                _sign_in(conn, self.station, record.operator, how="pin", before=before)
        if not right:
            if until is not None:
                raise _locked(until, now)
            raise WrongPin(sentence("Wrong PIN."))
        self.bus.publish(OperatorChanged(self.station, operator_id, "signed_in"))
        return record.operator

    def sign_out(self, *, why: str = "by_hand") -> Operator | None:
        """Nobody is signed in at this station any more; returns who was."""
        with self.store.write() as conn:
            before = station_operator(conn, self.station)
            if before is not None:
                set_station_operator(conn, self.station, None)
                record_event(conn, SignedOut(why, before.id), station=self.station)
        if before is not None:
            what = "locked" if why == "idle" else "signed_out"
            self.bus.publish(OperatorChanged(self.station, None, what))
        return before

    def idle_check(self, touch_idle_s: float) -> float:
        """The idle lock: seconds until it is due, or 0 — then it has signed the operator out.

        `touch_idle_s` is how long the screen saw no touch; the station's last scan counts
        as activity too. Raises OperatorRuleError when the idle lock is off.
        """
        if self.idle_lock_s <= 0:
            raise OperatorRuleError(sentence("The idle lock is off at this station."))
        with self.store.read() as conn:
            last = last_scan_at(conn, self.station)
        scan_idle_s = (utcnow() - last).total_seconds() if last is not None else None
        due_in = idle_lock_in_s(self.idle_lock_s, touch_idle_s, scan_idle_s)
        if due_in == 0:
            self.sign_out(why="idle")
        return due_in


def _locked(until: datetime, now: datetime) -> PinLocked:
    wait_s = max(1, int((until - now).total_seconds() + 0.999))
    return PinLocked(sentence("Too many wrong PINs: try again in {num} s.", num=wait_s), wait_s)
