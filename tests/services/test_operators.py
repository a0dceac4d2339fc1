"""Issue 8 through the use cases, on SQLite and PostgreSQL: PINs stored hashed, wrong PINs
refused and slowed, a badge scanned at the bench signs its operator in, and every scan and
audit event names who was signed in."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from stationd.clock import utcnow
from stationd.core.operators import FREE_PIN_TRIES, OperatorRuleError
from stationd.events import OperatorChanged, ScanRead
from stationd.services.bench import BenchService
from stationd.services.operators import BadgeTaken, OperatorService, PinLocked, WrongPin
from stationd.services.report_in import ship
from stationd.store.tables import events, operators, scan_journal, stations


@pytest.fixture
def people(store, bus):
    return OperatorService(store, bus, "bench-1", idle_lock_s=300)


def scan(bench, code):
    return bench.handle_scan(ScanRead(code, None, "serial:/dev/ttyACM0"))


def test_pin_is_stored_only_as_a_salted_hash(store, people):
    people.create("Anna", pin="4711")
    people.create("Bo", pin="4711")
    with store.read() as conn:
        rows = conn.execute(select(operators)).mappings().all()
    assert all("4711" not in str(value) for row in rows for value in row.values())
    assert rows[0]["pin_hash"] != rows[1]["pin_hash"]  # one PIN, two salts


def test_an_operator_needs_a_badge_or_a_pin_and_a_badge_is_one_persons(people):
    with pytest.raises(OperatorRuleError, match="badge code, a PIN or both"):
        people.create("Anna")
    people.create("Anna", badge_code="OP-ANNA7")
    with pytest.raises(BadgeTaken):
        people.create("Bo", badge_code="anna7")


def test_wrong_pin_is_refused_counted_and_slowed_right_pin_signs_in(store, people, bus):
    anna = people.create("Anna", pin="4711")
    heard = bus.queue(OperatorChanged)
    with pytest.raises(WrongPin):
        people.sign_in_pin(anna.id, "0000")
    assert people.current() is None
    signed = people.sign_in_pin(anna.id, "4711")
    assert signed.name == "Anna" and people.current().id == anna.id
    assert heard.get(0) == OperatorChanged("bench-1", anna.id, "signed_in")
    with store.read() as conn:
        assert conn.execute(select(operators.c.failed_pins)).scalar_one() == 0


def test_after_too_many_wrong_pins_even_the_right_one_waits(store, people):
    anna = people.create("Anna", pin="4711")
    for _ in range(FREE_PIN_TRIES - 1):
        with pytest.raises(WrongPin):
            people.sign_in_pin(anna.id, "0000")
    with pytest.raises(PinLocked) as locked:
        people.sign_in_pin(anna.id, "0000")
    assert locked.value.wait_s == 30
    with pytest.raises(PinLocked):
        people.sign_in_pin(anna.id, "4711")
    assert people.current() is None
    # The wait is over: the right PIN works again and the count starts afresh.
    with store.write() as conn:
        conn.execute(update(operators).values(pin_locked_until=utcnow() - timedelta(seconds=1)))
    people.sign_in_pin(anna.id, "4711")
    assert people.current().name == "Anna"


def test_a_badge_scanned_at_the_bench_signs_its_operator_in(store, people, bench):
    anna = people.create("Anna", badge_code="ANNA7")
    outcome = scan(bench, "op-anna7")
    assert outcome.ok and outcome.message == "Signed in: Anna."
    assert people.current().id == anna.id
    with store.read() as conn:
        journal = conn.execute(select(scan_journal)).mappings().one()
    assert journal["kind"] == "badge" and journal["operator_id"] == anna.id
    assert "ANNA7" not in journal["code"]  # the journal doesn't hand out badges


def test_an_unknown_or_inactive_badge_signs_nobody_in(people, bench):
    bo = people.create("Bo", badge_code="BO1")
    assert scan(bench, "OP-NOBODY").message == "This badge belongs to no active operator."
    people.set_active(bo.id, False)
    assert not scan(bench, "OP-BO1").ok
    assert people.current() is None


def test_who_packed_and_who_shipped_is_recorded(store, shop, people, bench):
    ean = shop.product("A", on_hand=5, number=1)
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    anna = people.create("Anna", badge_code="ANNA7")
    scan(bench, "OP-ANNA7")
    scan(bench, f"ORD-{order_id}")
    scan(bench, ean)
    ship(store, order_id, ["PARCEL-0001"], station="bench-1")
    with store.read() as conn:
        journal = conn.execute(select(scan_journal.c.kind, scan_journal.c.operator_id)).all()
        audit = dict(conn.execute(select(events.c.kind, events.c.operator_id)).all())
    assert journal == [("badge", anna.id), ("order", anna.id), ("item", anna.id)]
    assert audit["order.item_packed"] == anna.id
    assert audit["order.shipped"] == anna.id


def test_scans_of_nobody_signed_in_name_nobody(store, shop, bench):
    shop.product("A", on_hand=5, number=1)
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    scan(bench, f"ORD-{order_id}")
    with store.read() as conn:
        assert conn.execute(select(scan_journal.c.operator_id)).scalar_one() is None


def test_sign_in_required_refuses_scans_until_someone_signs_in(store, shop, bus, people):
    shop.product("A", on_hand=5, number=1)
    order_id = shop.order([("A", 1)], status="packing", reserve=True)
    strict = BenchService(store, bus, "bench-1", sign_in_required=True)
    # Nobody could sign in yet: the bench works.
    assert scan(strict, f"ORD-{order_id}").ok
    people.create("Anna", badge_code="ANNA7")
    refused = scan(strict, "CMD-DONE")
    assert not refused.ok and refused.message.startswith("Sign in first")
    assert scan(strict, "OP-ANNA7").ok
    assert scan(strict, "CMD-DONE").ok


def test_deactivating_the_operator_signs_them_out(store, people, bench):
    anna = people.create("Anna", badge_code="ANNA7")
    scan(bench, "OP-ANNA7")
    people.set_active(anna.id, False)
    assert people.current() is None
    with store.read() as conn:
        assert conn.execute(select(stations.c.current_operator_id)).scalar_one() is None


def test_sign_out_is_recorded(store, people, bench):
    people.create("Anna", badge_code="ANNA7")
    scan(bench, "OP-ANNA7")
    assert people.sign_out().name == "Anna"
    assert people.current() is None and people.sign_out() is None
    with store.read() as conn:
        kinds = [k for (k,) in conn.execute(select(events.c.kind).order_by(events.c.id))]
    assert kinds[-2:] == ["operator.signed_in", "operator.signed_out"]


def test_idle_lock_counts_a_recent_scan_as_activity(store, people, bench):
    people.create("Anna", badge_code="ANNA7")
    scan(bench, "OP-ANNA7")  # a scan just now
    assert people.idle_check(touch_idle_s=10_000) > 290
    assert people.current() is not None
    with store.write() as conn:
        conn.execute(update(scan_journal).values(at=utcnow() - timedelta(seconds=301)))
    assert people.idle_check(touch_idle_s=10_000) == 0
    assert people.current() is None
    with store.read() as conn:
        last = conn.execute(select(events.c.payload).order_by(events.c.id.desc())).first()[0]
    assert json.loads(last)["how"] == "idle"


def test_idle_check_when_the_lock_is_off_is_refused(store, bus):
    with pytest.raises(OperatorRuleError, match="off"):
        OperatorService(store, bus, "bench-1").idle_check(1000)
